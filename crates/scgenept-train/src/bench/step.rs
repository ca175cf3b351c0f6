//! Forward + backward step benchmark: the cost of one training step of the network at a given
//! size, on any backend. Used by `benches/step.rs` and `scgenept bench step` (the latter is how
//! GPU numbers are taken, since GPU machines have no Rust toolchain).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Int, Tensor};
use serde::Serialize;

use scgenept_model::{model_type, ModelConfig, ScGenePT};

use crate::device::WithBackend;

/// What to time.
#[derive(Clone, Debug, Serialize)]
pub struct StepBench {
    pub label: String,
    pub model: ModelConfig,
    pub batch: usize,
    pub seq_len: usize,
    pub warmup: usize,
    pub steps: usize,
    pub seed: u64,
    pub precision: scgenept_model::Precision,
}

impl StepBench {
    /// The paper's network (scGenePT NCBI+UniProt: d 512, 12 layers, 8 heads, one 1536-wide
    /// knowledge table over the 60,697-gene vocabulary) at `batch` × `seq_len`.
    pub fn full(batch: usize, seq_len: usize) -> Self {
        let model = model_type::preset("scgenept_ncbi+uniprot_gpt", 1536)
            .expect("built-in model type")
            .config;
        Self {
            label: "full".into(),
            model,
            batch,
            seq_len,
            warmup: 1,
            steps: 3,
            seed: 42,
            precision: Default::default(),
        }
    }

    /// A network the size of the parity fixture (d 64, 2 layers, 4 heads, two knowledge sources).
    pub fn small() -> Self {
        let mut model = model_type::preset("scgenept_ncbi+uniprot_gpt_go_c_gpt_concat", 24)
            .expect("built-in model type")
            .config;
        model.vocab_size = 200;
        model.pad_token_id = 197;
        model.d_model = 64;
        model.nhead = 4;
        model.d_hid = 64;
        model.nlayers = 2;
        model.knowledge_sources[1].d_llm = 16;
        Self {
            label: "small".into(),
            model,
            batch: 3,
            seq_len: 48,
            warmup: 3,
            steps: 20,
            seed: 42,
            precision: Default::default(),
        }
    }
}

/// Timings of one benchmark run.
#[derive(Clone, Debug, Serialize)]
pub struct StepBenchResult {
    pub label: String,
    pub device: String,
    pub batch: usize,
    pub seq_len: usize,
    pub parameters: usize,
    pub steps: usize,
    pub ms_per_step_mean: f64,
    pub ms_per_step_min: f64,
    /// Peak resident memory of the process (CPU backends; includes everything the process holds).
    pub peak_rss_mib: Option<f64>,
    /// Resident memory once the model and the batch exist, before the first step: the peak
    /// minus this is what the steps themselves needed.
    pub rss_before_steps_mib: Option<f64>,
    /// `f32` or `bf16` (matmuls).
    pub precision: String,
    /// Cells per second at the mean step time.
    pub cells_per_s: f64,
    /// Matmul FLOPs of the encoder layers per step (forward + backward, [`step_flops`]) over the
    /// mean step time.
    pub tflops_achieved: f64,
    /// GPU: the most the allocator had in use during one step, read at every probe point of
    /// forward and backward (`scgenept_model::memory_probe`: each sub-layer, each attention tile).
    pub device_peak_in_use_mib: Option<f64>,
    /// GPU: the most the allocator's pools held at those points (in use plus pooled free space).
    pub device_reserved_mib: Option<f64>,
    /// GPU: how many read-outs the peaks above were taken from.
    pub device_probe_samples: Option<usize>,
    /// GPU: the memory plan's prediction for this step (`memory_plan.rs`, no optimizer), to set
    /// beside `device_peak_in_use_mib`.
    pub planned_peak_mib: Option<f64>,
    /// `SCGENEPT_FUSED_KERNELS` (docs/attention.md, "Tensor-core kernels"): which fused
    /// attention kernels a device run asked for; the CPU runs the host op whatever it says.
    pub fused_kernels: String,
}

/// Matmul FLOPs of one training step's transformer: per layer and token, the packed input
/// projection (6d²), the output projection (2d²), the feed-forward (4·d·d_hid) and attention's
/// two products (4·L·d); backward costs twice the forward. Embeddings, LayerNorm, softmax and the
/// decoder are left out (a few per cent at full size).
pub fn step_flops(model: &ModelConfig, batch: usize, seq_len: usize) -> f64 {
    let (d, dh, l) = (model.d_model as f64, model.d_hid as f64, seq_len as f64);
    let per_token = 8.0 * d * d + 4.0 * d * dh + 4.0 * l * d;
    3.0 * per_token * (batch as f64) * l * model.nlayers as f64
}

impl std::fmt::Display for StepBenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step[{}] device={} batch={} × {} genes, {} params: {:.1} ms/step (min {:.1}, {} steps), peak RSS {}",
            self.label,
            self.device,
            self.batch,
            self.seq_len,
            self.parameters,
            self.ms_per_step_mean,
            self.ms_per_step_min,
            self.steps,
            self.peak_rss_mib
                .map(|m| format!("{m:.0} MiB"))
                .unwrap_or_else(|| "n/a".into())
        )?;
        if let (Some(peak), Some(before)) = (self.peak_rss_mib, self.rss_before_steps_mib) {
            write!(f, " ({:.0} MiB above the model and batch)", peak - before)?;
        }
        write!(
            f,
            ", {}, {:.1} cells/s, {:.2} TFLOP/s",
            self.precision, self.cells_per_s, self.tflops_achieved
        )?;
        if let (Some(used), Some(reserved), Some(n)) = (
            self.device_peak_in_use_mib,
            self.device_reserved_mib,
            self.device_probe_samples,
        ) {
            write!(
                f,
                ", device memory {used:.1} MiB in use at peak, {reserved:.1} MiB reserved \
                 ({n} read-outs through forward and backward)"
            )?;
            if let Some(plan) = self.planned_peak_mib {
                write!(f, ", memory plan {plan:.1} MiB")?;
            }
        }
        Ok(())
    }
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// Current resident set size of this process (Linux).
pub fn rss_mib() -> Option<f64> {
    proc_status_mib("VmRSS:")
}

fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The memory plan of this benchmark's step on device `label` (forward and backward, no Adam).
fn plan_for(b: &StepBench, label: &str) -> crate::bench::memory_plan::MemoryPlan {
    crate::bench::memory_plan::MemoryPlan::new(&crate::bench::memory_plan::PlanSpec {
        model: b.model.clone(),
        batch: b.batch,
        seq_len: b.seq_len,
        precision: b.precision,
        attention: scgenept_model::attention::DeviceAttention::chosen(),
        tile_elements: scgenept_model::attention::tiled::tile_elements(),
        bool_bytes: (label.parse::<crate::Device>())
            .map_or(1, |d| crate::bench::memory_plan::bool_bytes(d.kind)),
        optimizer: false,
    })
}

/// The allocator's high-water marks over the probe points of one step.
#[derive(Clone, Copy, Debug, Default)]
struct AllocatorPeak {
    in_use: u64,
    reserved: u64,
    samples: usize,
}

impl AllocatorPeak {
    fn add(&mut self, in_use: u64, reserved: u64) {
        self.in_use = self.in_use.max(in_use);
        self.reserved = self.reserved.max(reserved);
        self.samples += 1;
    }
}

/// One random batch: gene ids, expression values, perturbation flags and targets.
struct StepInputs<B: Backend> {
    ids: Tensor<B, 2, Int>,
    values: Tensor<B, 2>,
    flags: Tensor<B, 2, Int>,
    target: Tensor<B, 2>,
}

impl<B: Backend> StepInputs<B> {
    fn random(cfg: &StepBench, device: &B::Device) -> Self {
        let shape = [cfg.batch, cfg.seq_len];
        let vocab = cfg.model.vocab_size as f64;
        let uniform =
            |hi: f64| Tensor::<B, 2>::random(shape, Distribution::Uniform(0.0, hi), device);
        Self {
            ids: uniform(vocab - 1.0).int(),
            values: uniform(4.0),
            flags: Tensor::<B, 2>::random(shape, Distribution::Bernoulli(0.01), device).int(),
            target: uniform(4.0),
        }
    }
}

impl WithBackend for StepBench {
    type Output = StepBenchResult;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<StepBenchResult> {
        crate::device::check_precision::<B>(&device, label, self.precision)?;
        B::seed(&device, self.seed);
        let mut model = ScGenePT::<B>::new(&self.model, &device)?;
        model.set_precision(self.precision)?;
        let parameters = burn::module::Module::num_params(&model);
        let x = StepInputs::<B>::random(&self, &device);
        B::sync(&device)?;
        let rss_before_steps_mib = rss_mib();
        let step = || -> Result<f64> {
            let t0 = Instant::now();
            let out = model.forward(x.ids.clone(), x.values.clone(), x.flags.clone());
            let loss = (out - x.target.clone()).powf_scalar(2.0).mean();
            drop(loss.backward());
            B::sync(&device)?;
            Ok(t0.elapsed().as_secs_f64() * 1e3)
        };
        for _ in 0..self.warmup {
            step()?;
        }
        // One step with the allocator read at every probe point (`memory_probe.rs`), untimed:
        // each read-out synchronises the device.
        let gpu: Option<crate::Device> = label.parse().ok();
        let peak = gpu
            .filter(|d| crate::device::allocator_bytes(d).is_some())
            .map(|d| -> Result<AllocatorPeak> {
                let samples = Arc::new(Mutex::new(AllocatorPeak::default()));
                let (rec, dev) = (samples.clone(), device.clone());
                let guard = scgenept_model::memory_probe::install(move || {
                    let _ = B::sync(&dev);
                    if let Some((used, reserved)) = crate::device::allocator_bytes(&d) {
                        rec.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .add(used, reserved);
                    }
                });
                scgenept_model::memory_probe::sample();
                step()?;
                scgenept_model::memory_probe::sample();
                drop(guard);
                let peak = *samples.lock().unwrap_or_else(|e| e.into_inner());
                Ok(peak)
            })
            .transpose()?;
        let mut times = Vec::with_capacity(self.steps);
        for _ in 0..self.steps {
            times.push(step()?);
        }
        let planned = peak.map(|_| plan_for(&self, label).peak_bytes);
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        Ok(StepBenchResult {
            label: self.label,
            device: label.to_string(),
            batch: self.batch,
            seq_len: self.seq_len,
            parameters,
            steps: self.steps,
            ms_per_step_mean: mean,
            ms_per_step_min: min,
            peak_rss_mib: peak_rss_mib(),
            rss_before_steps_mib,
            precision: self.precision.to_string(),
            cells_per_s: self.batch as f64 / (mean / 1e3),
            tflops_achieved: step_flops(&self.model, self.batch, self.seq_len)
                / (mean / 1e3)
                / 1e12,
            device_peak_in_use_mib: peak.map(|p| mib(p.in_use)),
            device_reserved_mib: peak.map(|p| mib(p.reserved)),
            device_probe_samples: peak.map(|p| p.samples),
            planned_peak_mib: planned.map(mib),
            fused_kernels: scgenept_model::attention::fused_plan::Kernels::chosen()
                .name()
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_flops_count_the_encoder_matmuls() {
        // d 512, d_hid 512, 12 layers, 1536 genes: per token 8·512² + 4·512² + 4·1536·512.
        let full = StepBench::full(2, 1536);
        let per_token = 8.0 * 512f64.powi(2) + 4.0 * 512f64.powi(2) + 4.0 * 1536.0 * 512.0;
        let expected = 3.0 * per_token * 2.0 * 1536.0 * 12.0;
        assert_eq!(step_flops(&full.model, 2, 1536), expected);
        assert!(
            (expected / 1e12 - 0.6958).abs() < 1e-4,
            "{}",
            expected / 1e12
        );
    }
}
