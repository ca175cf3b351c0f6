//! `scgenept bench …`: benchmark numbers to record under benches/ (with the device name).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use scgenept_model::attention::DeviceAttention;
use scgenept_train::bench::memory_plan::{MemoryPlan, PlanSpec};
use scgenept_train::bench::predict::PredictBench;
use scgenept_train::bench::step::StepBench;
use scgenept_train::{Device, DeviceKind};

#[derive(Clone, Copy, ValueEnum)]
pub enum Size {
    /// The parity-fixture network (d 64, 2 layers).
    Small,
    /// The paper's network (d 512, 12 layers, 1536-wide knowledge table).
    Full,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PredictSize {
    /// The README demo bundle's network (d 64, 2 layers, 4 heads).
    Demo,
    /// The paper's network (d 512, 12 layers, 8 heads).
    Full,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PlanBackend {
    Cuda,
    Wgpu,
}

impl PlanBackend {
    fn bool_bytes(self) -> usize {
        scgenept_train::bench::memory_plan::bool_bytes(match self {
            PlanBackend::Cuda => DeviceKind::Cuda,
            PlanBackend::Wgpu => DeviceKind::Wgpu,
        })
    }
}

/// The GPU attention a plan is for (`SCGENEPT_GPU_ATTENTION`, docs/attention.md).
#[derive(Clone, Copy, ValueEnum)]
pub enum PlanAttention {
    Fused,
    Tiled,
}

impl PlanAttention {
    fn choice(self) -> DeviceAttention {
        match self {
            PlanAttention::Fused => DeviceAttention::Fused,
            PlanAttention::Tiled => DeviceAttention::Tiled,
        }
    }
}

#[derive(Args)]
pub struct StepArgs {
    #[arg(long, value_enum, default_value = "small")]
    size: Size,
    /// Cells per step (default: 3 small, 2 full).
    #[arg(long)]
    batch: Option<usize>,
    /// Genes per cell (default: 48 small, 1536 full); a comma-separated list runs each
    /// length in turn in this one process (kernels compiled once), e.g. 256,512,1024.
    #[arg(long, value_delimiter = ',')]
    seq_len: Vec<usize>,
    /// Timed steps (after warm-up).
    #[arg(long)]
    steps: Option<usize>,
    /// Untimed steps first (default: 3 small, 1 full).
    #[arg(long)]
    warmup: Option<usize>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// f32, or bf16 matmuls (GPU only).
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    precision: scgenept_model::Precision,
    /// Also write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time forward + backward of one training step.
    Step(StepArgs),
    /// Inference throughput (cells/s): perturbations predicted from control cells, no autodiff,
    /// batches sized to the device (as `predict` runs them).
    Predict {
        /// demo: the README bundle's network (d 64, 2 layers); full: the paper's (d 512, 12 layers).
        #[arg(long, value_enum, default_value = "demo")]
        size: PredictSize,
        /// Genes per cell, all predicted (default: 384 demo, 5045 full = Norman).
        #[arg(long)]
        genes: Option<usize>,
        /// Perturbations to predict.
        #[arg(long, default_value_t = 4)]
        perturbations: usize,
        /// Control cells per perturbation.
        #[arg(long, default_value_t = 300)]
        pool_size: usize,
        /// Control cells the pool is drawn from (a bundle ships 300).
        #[arg(long, default_value_t = 300)]
        controls: usize,
        /// Cells per forward pass (default: sized to the device).
        #[arg(long, value_parser = crate::predict_cmd::cells_per_forward)]
        batch_size: Option<usize>,
        /// f32, or bf16 matmuls (GPU only).
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        precision: scgenept_model::Precision,
        /// cpu, wgpu[:N] or cuda[:N].
        #[arg(long, default_value = "cpu")]
        device: Device,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The device memory of one training step, predicted from the code's save lists (no device
    /// needed): weights, Adam state, saved activations per layer by op, the largest transient.
    Plan {
        #[arg(long, value_enum, default_value = "full")]
        size: Size,
        /// Cells per step (default: 3 small, 64 full).
        #[arg(long)]
        batch: Option<usize>,
        /// Genes per cell (default: 48 small, 1536 full).
        #[arg(long)]
        seq_len: Option<usize>,
        /// f32, or bf16 matmuls.
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        precision: scgenept_model::Precision,
        /// The GPU backend: cuda (booleans take 1 byte) or wgpu (4 bytes).
        #[arg(long, value_enum, default_value = "cuda")]
        backend: PlanBackend,
        /// The GPU attention to plan for (default: SCGENEPT_GPU_ATTENTION, else fused).
        #[arg(long, value_enum)]
        attention: Option<PlanAttention>,
        /// Scores per attention tile, for the tiled attention (default: SCGENEPT_ATTENTION_TILE,
        /// else 2^28).
        #[arg(long)]
        tile: Option<usize>,
        /// Leave Adam's state out, as `bench step` (forward and backward only) runs.
        #[arg(long)]
        no_optimizer: bool,
        /// Also write the plan as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run the fused GPU kernels (attention forward and backward, hashed dropout, lean
    /// LayerNorm) against their references on a device; fails if any is over its bound.
    Kernels {
        /// wgpu[:N] or cuda[:N].
        #[arg(long)]
        device: Device,
        /// Also write the checks as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time h5ad → GEARS split → paired training examples → first batch (64 × 1536 genes), and
    /// with `--epoch` a whole epoch of batches.
    Data {
        /// A GEARS-format h5ad (e.g. `scgenept data synth --preset norman`).
        #[arg(long)]
        data: PathBuf,
        /// Where the cells live: auto, memory or disk (a cache converted once next to the file).
        #[arg(long, default_value = "auto")]
        cells: scgenept_data::cells::CellStorage,
        /// Also batch one whole training epoch and report its examples per second.
        #[arg(long)]
        epoch: bool,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Predict {
            size,
            genes,
            perturbations,
            pool_size,
            controls,
            batch_size,
            precision,
            device,
            json,
        } => {
            let mut b = match size {
                PredictSize::Demo => PredictBench::demo(genes.unwrap_or(384)),
                PredictSize::Full => PredictBench::full(genes.unwrap_or(5045)),
            };
            b.perts = perturbations.max(1);
            b.pool = pool_size.max(1);
            b.controls = controls.max(1);
            b.batch = batch_size;
            b.precision = precision;
            let r = device.dispatch(b)?;
            println!("{r}");
            write_json(json.as_deref(), &r)
        }
        BenchCommand::Plan {
            size,
            batch,
            seq_len,
            precision,
            backend,
            attention,
            tile,
            no_optimizer,
            json,
        } => {
            let b = match size {
                Size::Small => StepBench::small(),
                Size::Full => StepBench::full(64, 1536),
            };
            let plan = MemoryPlan::new(&PlanSpec {
                model: b.model,
                batch: batch.unwrap_or(b.batch).max(1),
                seq_len: seq_len.unwrap_or(b.seq_len).max(1),
                precision,
                attention: attention.map_or_else(DeviceAttention::chosen, PlanAttention::choice),
                tile_elements: tile
                    .unwrap_or_else(scgenept_model::attention::tiled::tile_elements)
                    .max(1),
                bool_bytes: backend.bool_bytes(),
                optimizer: !no_optimizer,
            });
            println!("{plan}");
            write_json(json.as_deref(), &plan)
        }
        BenchCommand::Data {
            data,
            cells,
            epoch,
            json,
        } => {
            let r = data_bench(&data, cells, epoch)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            write_json(json.as_deref(), &r)
        }
        BenchCommand::Step(a) => step(a),
        BenchCommand::Kernels { device, json } => {
            let report = scgenept_train::bench::kernels::check_kernels(&device)?;
            println!("{report}");
            write_json(json.as_deref(), &report)?;
            let failed = report.failures().len();
            if failed > 0 {
                bail!(
                    "{failed} kernel check(s) over their bound on {}",
                    report.device
                );
            }
            Ok(())
        }
    }
}

/// `bench step`: each gene count in turn, in this one process.
fn step(a: StepArgs) -> Result<()> {
    let StepArgs {
        size,
        batch,
        seq_len,
        steps,
        warmup,
        device,
        precision,
        json,
    } = a;
    let mut b = match size {
        Size::Small => StepBench::small(),
        Size::Full => StepBench::full(2, 1536),
    };
    b.batch = batch.unwrap_or(b.batch);
    b.steps = steps.unwrap_or(b.steps).max(1);
    b.warmup = warmup.unwrap_or(b.warmup);
    b.precision = precision;
    let lengths = if seq_len.is_empty() {
        vec![b.seq_len]
    } else {
        seq_len
    };
    let mut results = Vec::new();
    for l in lengths {
        let r = device.dispatch(StepBench {
            seq_len: l.max(1),
            ..b.clone()
        })?;
        println!("{r}");
        results.push(r);
    }
    match results.as_slice() {
        [one] => write_json(json.as_deref(), one),
        all => write_json(json.as_deref(), &all),
    }
}

/// `--json`: the result, pretty-printed, written whole or not at all.
fn write_json(path: Option<&std::path::Path>, r: &impl serde::Serialize) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let text = serde_json::to_string_pretty(r)? + "\n";
    scgenept_data::files::write_atomic(path, text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

fn parse_precision(s: &str) -> Result<scgenept_model::Precision, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("'{s}' is not a precision; use f32 or bf16"))
}

fn data_bench(
    path: &std::path::Path,
    cells: scgenept_data::cells::CellStorage,
    epoch: bool,
) -> Result<serde_json::Value> {
    use scgenept_data::batches::{BatchConfig, BatchLoader, GeneSampling};
    use scgenept_data::pairing::pair_controls;
    use scgenept_data::{GearsSplit, ObsColumns, PerturbData, SimulationSplitConfig, SplitName};
    use std::sync::Arc;
    use std::time::Instant;

    let t0 = Instant::now();
    let data = PerturbData::load_with(path, &ObsColumns::default(), cells)?;
    let t_load = t0.elapsed().as_secs_f64();
    let split = GearsSplit::simulation(&data.conditions, SimulationSplitConfig::default());
    let t_split = t0.elapsed().as_secs_f64();
    let data = Arc::new(data);
    let train = Arc::new(pair_controls(&data, &split, SplitName::Train, 42));
    let t_pair = t0.elapsed().as_secs_f64();
    let cfg = BatchConfig {
        batch_size: 64,
        max_seq_len: 1536,
        sampling: GeneSampling::IncludePerturbed,
        shuffle: true,
        drop_last: true,
        seed: 42,
    };
    let mut loader = BatchLoader::spawn(data.clone(), train.clone(), cfg, 0, 0, 4);
    let first = loader.next().context("no training batch")?;
    let t_batch = t0.elapsed().as_secs_f64();
    let epoch_rate = epoch.then(|| {
        let (t, mut examples) = (Instant::now(), 0);
        for b in loader.by_ref() {
            examples += b.len();
        }
        serde_json::json!({"examples": examples, "seconds": t.elapsed().as_secs_f64(),
            "examples_per_second": examples as f64 / t.elapsed().as_secs_f64()})
    });
    let csr_mib = data.x.heap_bytes() as f64 / (1024.0 * 1024.0);
    let peak = scgenept_train::bench::step::peak_rss_mib();
    Ok(serde_json::json!({
        "file": path.display().to_string(),
        "cells": data.n_cells(), "genes": data.n_genes(), "nnz": data.x.nnz(),
        "conditions": data.conditions.len(),
        "train_examples": train.examples.len(), "batches_per_epoch": loader.n_batches,
        "first_batch_shape": [first.len(), first.seq_len()],
        "seconds": {"load": t_load, "split": t_split - t_load, "pairing": t_pair - t_split,
                    "first_batch": t_batch - t_pair, "total": t_batch},
        "epoch": epoch_rate,
        "cells_on_disk": data.x.in_memory().is_none(),
        "csr_mib": csr_mib, "peak_rss_mib": peak,
        "peak_over_csr": peak.map(|p| p / csr_mib),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}
