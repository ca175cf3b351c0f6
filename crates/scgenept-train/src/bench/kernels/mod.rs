//! `scgenept bench kernels --device wgpu|cuda`: the fused GPU kernels (`scgenept_model`'s
//! `attention/fused/`, the hashed dropout, the lean LayerNorm) run on a device against their
//! references: the host attention op (itself tested against burn's autodiff), the hashed mask
//! computed on the host, burn's LayerNorm on the same device. Each check prints its worst
//! relative difference and its bound; any check over its bound fails the command. CI runs it on
//! lavapipe (`tests/cli_wgpu.rs`); `benches/gpu.sh` runs it on a lent GPU. The checks live here,
//! in the crate that already builds the GPU training types, rather than in a test binary: built
//! there they cost the wgpu test build two minutes more (docs/gpu.md, "Kernel checks").

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod attention;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod dropout;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod layer_norm;

use std::fmt;

use anyhow::{bail, Result};

use crate::device::{Device, DeviceKind};

/// One comparison: its worst relative difference (relative to max(1, |reference|)) and bound.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub worst: f32,
    pub bound: f32,
}

impl Check {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn new(name: impl Into<String>, worst: f32, bound: f32) -> Self {
        Self {
            name: name.into(),
            worst,
            bound,
        }
    }

    pub fn passed(&self) -> bool {
        self.worst <= self.bound
    }
}

/// Every check on one device.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelReport {
    pub device: String,
    pub checks: Vec<Check>,
}

impl KernelReport {
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed()).collect()
    }
}

impl fmt::Display for KernelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fused kernels on {} against their references",
            self.device
        )?;
        for c in &self.checks {
            let verdict = if c.passed() { "ok" } else { "FAILED" };
            writeln!(
                f,
                "  {:<58} {:>9.2e} ≤ {:.0e}  {verdict}",
                c.name, c.worst, c.bound
            )?;
        }
        let failed = self.failures().len();
        write!(f, "{} checks, {failed} over their bound", self.checks.len())
    }
}

/// Runs every check on `device` (wgpu or cuda).
pub fn check_kernels(device: &Device) -> Result<KernelReport> {
    let checks = match device.kind {
        DeviceKind::Cpu => bail!(
            "bench kernels checks the GPU kernels: give --device wgpu[:N] or cuda[:N] \
             (the CPU runs the host attention op these kernels are checked against)"
        ),
        DeviceKind::Wgpu => on_wgpu(device.index)?,
        DeviceKind::Cuda => on_cuda(device.index)?,
    };
    Ok(KernelReport {
        device: device.to_string(),
        checks,
    })
}

/// Every check with the inner (non-autodiff) backend `I`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn all_checks<I: scgenept_model::attention::fused::FusedBackend>(
    device: &I::Device,
) -> Result<Vec<Check>> {
    let mut checks = attention::checks::<I>(device)?;
    checks.extend(dropout::checks::<I>(device)?);
    checks.extend(layer_norm::checks::<I>(device)?);
    Ok(checks)
}

#[cfg(feature = "wgpu")]
fn on_wgpu(index: usize) -> Result<Vec<Check>> {
    crate::device::kernel_cache::configure();
    let device = match index {
        0 => burn::backend::wgpu::WgpuDevice::DefaultDevice,
        i => burn::backend::wgpu::WgpuDevice::DiscreteGpu(i),
    };
    all_checks::<burn::backend::Wgpu>(&device)
}

#[cfg(not(feature = "wgpu"))]
fn on_wgpu(_index: usize) -> Result<Vec<Check>> {
    bail!("this binary was built without wgpu support; rebuild with `cargo build --release --features wgpu`")
}

#[cfg(feature = "cuda")]
fn on_cuda(index: usize) -> Result<Vec<Check>> {
    crate::device::kernel_cache::configure();
    all_checks::<burn::backend::Cuda>(&burn::backend::cuda::CudaDevice { index })
}

#[cfg(not(feature = "cuda"))]
fn on_cuda(_index: usize) -> Result<Vec<Check>> {
    bail!("this binary was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}

/// Deterministic values, roughly N(0, 1) (sum of uniforms).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            let mut sum = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                sum += (s >> 40) as f32 / (1u64 << 24) as f32;
            }
            (sum - 2.0) * 1.7
        })
        .collect()
}

/// The largest difference relative to max(1, |want|); infinite when the lengths differ.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn worst(got: &[f32], want: &[f32]) -> f32 {
    if got.len() != want.len() {
        return f32::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(
            0.0,
            |a, e| if e.is_nan() { f32::INFINITY } else { a.max(e) },
        )
}

/// A tensor's values as f32.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn floats(d: burn::tensor::TensorData) -> Result<Vec<f32>> {
    d.convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a tensor back: {e:?}"))
}
