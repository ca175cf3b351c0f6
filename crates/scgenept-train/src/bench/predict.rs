//! `scgenept bench predict`: inference throughput (cells/s) of the network at a given size on
//! any backend, through the same path `predict` takes (`Prediction::cells`: device-sized batches,
//! no autodiff). `scripts/bench_reference_predict.py` times PyTorch on the same shape.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use scgenept_data::csr::CsrMatrix;
use scgenept_model::{model_type, ModelConfig, ScGenePT};

use crate::device::WithBackend;
use crate::infer::batch::cells_per_batch;
use crate::infer::bundle::BundleMeta;
use crate::infer::predict::{Pool, Prediction};

/// What to time: `perts` perturbations of `pool` cells each over `genes` genes, drawn (with
/// replacement, as `predict` draws them) from `controls` control cells.
#[derive(Clone, Debug, Serialize)]
pub struct PredictBench {
    pub label: String,
    pub model: ModelConfig,
    pub genes: usize,
    pub perts: usize,
    pub pool: usize,
    /// Control cells to draw from (an exported bundle ships 300).
    pub controls: usize,
    /// Cells per forward; `None`: sized to the device.
    pub batch: Option<usize>,
    pub seed: u64,
    /// `f32`, or bf16 matmuls (GPU only).
    pub precision: scgenept_model::Precision,
}

impl PredictBench {
    /// The README demo bundle's network (d 64, 2 layers, 4 heads, d_hid 64) with the two
    /// knowledge tables of the PyTorch reference composition (384- and 16-wide), over `genes`.
    pub fn demo(genes: usize) -> Self {
        let mut model = two_tables(384);
        model.vocab_size = genes + 1;
        model.pad_token_id = genes;
        model.d_model = 64;
        model.nhead = 4;
        model.d_hid = 64;
        model.nlayers = 2;
        Self::new("demo", model, genes)
    }

    /// The paper's network (d 512, 12 layers, 8 heads, a 1536-wide table over the 60,697-gene
    /// vocabulary, plus the 16-wide GO table of the reference composition), over `genes`
    /// (Norman: 5,045).
    pub fn full(genes: usize) -> Self {
        Self::new("full", two_tables(1536), genes)
    }

    fn new(label: &str, model: ModelConfig, genes: usize) -> Self {
        Self {
            label: label.into(),
            model,
            genes,
            perts: 4,
            pool: 300,
            controls: 300,
            batch: None,
            seed: 42,
            precision: Default::default(),
        }
    }
}

fn two_tables(d_llm: usize) -> ModelConfig {
    let mut model = model_type::preset("scgenept_ncbi+uniprot_gpt_go_c_gpt_concat", d_llm)
        .expect("built-in model type")
        .config;
    model.knowledge_sources[1].d_llm = 16;
    model
}

/// Throughput of one benchmark run.
#[derive(Clone, Debug, Serialize)]
pub struct PredictBenchResult {
    pub label: String,
    pub device: String,
    pub genes: usize,
    /// Cells predicted (perturbations × pool size).
    pub cells: usize,
    /// Cells the network ran: a control drawn twice for one perturbation runs once.
    pub forwards: usize,
    pub batch: usize,
    pub parameters: usize,
    pub seconds: f64,
    /// Predicted cells per second: what a user of `predict` sees.
    pub cells_per_s: f64,
    /// Cells through the network per second: the rate to set beside PyTorch's (which runs every
    /// draw).
    pub forwards_per_s: f64,
    /// Forward matmul FLOPs of the encoder layers (a third of `bench::step_flops`) over the time.
    pub tflops_achieved: f64,
    pub peak_rss_mib: Option<f64>,
    pub precision: String,
    /// GPU: what the allocator's pools hold after the run.
    pub device_reserved_mib: Option<f64>,
    pub threads: usize,
}

impl std::fmt::Display for PredictBenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "predict[{}] device={} {} {} cells × {} genes ({} through the network) in batches of {}, \
             {} params: {:.3} s, {:.1} cells/s ({:.1} network cells/s), {:.3} TFLOP/s, peak RSS {}",
            self.label,
            self.device,
            self.precision,
            self.cells,
            self.genes,
            self.forwards,
            self.batch,
            self.parameters,
            self.seconds,
            self.cells_per_s,
            self.forwards_per_s,
            self.tflops_achieved,
            self.peak_rss_mib
                .map(|m| format!("{m:.0} MiB"))
                .unwrap_or_else(|| "n/a".into())
        )?;
        if let Some(reserved) = self.device_reserved_mib {
            write!(f, ", device memory {reserved:.0} MiB reserved")?;
        }
        Ok(())
    }
}

/// A bundle's metadata for random genes (rows spread over the vocabulary) and random control
/// cells (`cells × genes`, 60% zeros, the rest uniform in 0–4 like log-normalised counts).
fn random_inputs(b: &PredictBench) -> (BundleMeta, CsrMatrix) {
    let mut rng = StdRng::seed_from_u64(b.seed);
    let genes: Vec<String> = (0..b.genes).map(|i| format!("G{i}")).collect();
    let rows = b.model.vocab_size - 1;
    let meta = BundleMeta {
        gene_ids: genes.clone(),
        vocab_ids: (0..b.genes).map(|i| i * rows / b.genes.max(1)).collect(),
        genes,
        knowledge_genes: Default::default(),
        source_run: String::new(),
        provenance: None,
    };
    let n = b.controls.max(1);
    let values: Vec<f32> = (0..n * b.genes)
        .map(|_| match rng.random::<f32>() {
            u if u < 0.6 => 0.0,
            _ => rng.random_range(0.0..4.0),
        })
        .collect();
    (meta, CsrMatrix::from_dense(n, b.genes, &values))
}

impl WithBackend for PredictBench {
    type Output = PredictBenchResult;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<PredictBenchResult> {
        crate::device::check_precision::<B>(&device, label, self.precision)?;
        B::InnerBackend::seed(&device, self.seed);
        let mut model = ScGenePT::<B::InnerBackend>::new(&self.model, &device)?;
        model.set_precision(self.precision)?;
        let (meta, controls) = random_inputs(&self);
        let perts: Vec<String> = (0..self.perts)
            .map(|i| format!("G{}+G{}", (2 * i) % self.genes, (2 * i + 1) % self.genes))
            .collect();
        let kind: crate::Device = label.parse()?;
        let batch = (self.batch).unwrap_or_else(|| cells_per_batch(&kind, &self.model, self.genes));
        let p = Prediction {
            model: &model,
            meta: &meta,
            controls: &controls,
            perts: &perts,
            pool: Pool {
                size: self.pool,
                seed: self.seed,
                per_perturbation: false,
            },
            batch,
            device: &device,
        };
        // Warm-up: one batch (kernels compiled, buffers allocated).
        Prediction {
            perts: &perts[..1],
            pool: Pool {
                size: batch.min(self.pool),
                seed: self.seed,
                per_perturbation: false,
            },
            ..p
        }
        .cells(|_, _| ())?;
        let t0 = Instant::now();
        let forwards = p.cells(|_, _| ())?;
        B::InnerBackend::sync(&device)?;
        let seconds = t0.elapsed().as_secs_f64();
        let cells = self.perts * self.pool;
        let flops = crate::bench::step::step_flops(&self.model, forwards, self.genes) / 3.0;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        Ok(PredictBenchResult {
            label: self.label,
            device: label.to_string(),
            genes: self.genes,
            cells,
            forwards,
            batch,
            parameters: burn::module::Module::num_params(&model),
            seconds,
            cells_per_s: cells as f64 / seconds,
            forwards_per_s: forwards as f64 / seconds,
            tflops_achieved: flops / seconds / 1e12,
            peak_rss_mib: crate::bench::step::peak_rss_mib(),
            precision: self.precision.to_string(),
            device_reserved_mib: crate::device::allocator_bytes(&kind).map(|(_, r)| mib(r)),
            threads: scgenept_model::host::host_threads(),
        })
    }
}
