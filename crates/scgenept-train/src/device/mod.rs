//! `--device cpu|wgpu[:N]|cuda[:N]`: parsing, a usability probe, and dispatch of generic code onto
//! the matching burn backend (always wrapped in `Autodiff`).

pub mod kernel_cache;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// burn-flex on the CPU: deterministic, no system packages.
    Cpu,
    Wgpu,
    Cuda,
}

/// A parsed `--device` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub kind: DeviceKind,
    pub index: usize,
}

impl FromStr for Device {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => (
                n,
                i.parse::<usize>()
                    .with_context(|| format!("device index in '{s}' is not a number"))?,
            ),
            None => (s, 0),
        };
        let kind = match name {
            "cpu" => DeviceKind::Cpu,
            "wgpu" => DeviceKind::Wgpu,
            "cuda" => DeviceKind::Cuda,
            _ => bail!("unknown device '{s}': use cpu, wgpu[:N] or cuda[:N]"),
        };
        Ok(Self { kind, index })
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DeviceKind::Cpu => write!(f, "cpu"),
            DeviceKind::Wgpu => write!(f, "wgpu:{}", self.index),
            DeviceKind::Cuda => write!(f, "cuda:{}", self.index),
        }
    }
}

/// Generic work to run on whichever backend `--device` selects.
pub trait WithBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<Self::Output>;
}

static PROBING: AtomicBool = AtomicBool::new(false);

/// Whether a device probe is running. Its panics are expected — in the caller's thread or in the
/// backend's own device thread (CUDA reports a missing driver there) — and the probe turns them
/// into an error, so a process-wide panic hook should let them pass instead of ending the process.
pub fn probing() -> bool {
    PROBING.load(Ordering::SeqCst)
}

/// Whether `device` can run `precision`: the backend's own rule (`Precision::check`: bf16 is
/// refused on the CPU), then, for bf16, one small bf16 matmul (a GPU without bf16 matmuls, such
/// as Mesa's lavapipe through wgpu, fails there in one line instead of in the middle of a run).
pub fn check_precision<B: Backend>(
    device: &B::Device,
    label: &str,
    precision: scgenept_model::Precision,
) -> Result<()> {
    precision.check::<B>().map_err(|e| anyhow::anyhow!("{e}"))?;
    if precision == scgenept_model::Precision::F32 {
        return Ok(());
    }
    let ok = survives(|| {
        use burn::tensor::{FloatDType, Tensor};
        let a = Tensor::<B, 2>::ones([8, 8], device).cast(FloatDType::BF16);
        a.clone()
            .matmul(a)
            .cast(FloatDType::F32)
            .sum()
            .into_scalar();
    });
    if !ok {
        bail!(
            "device {label} cannot multiply bf16 matrices (-v shows the backend's message); use \
             precision f32 there"
        );
    }
    Ok(())
}

/// Runs a tiny computation on `device` and turns a backend panic (no driver, no GPU) into an
/// error, before any real work starts.
fn probe<B: AutodiffBackend>(device: &B::Device, label: &str) -> Result<()> {
    let ok = survives(|| {
        // Fault injection for the tests of the one-line failure (tests/cli_edges.rs).
        if std::env::var_os("SCGENEPT_FAIL_PROBE").is_some() {
            panic!("probe failure injected by SCGENEPT_FAIL_PROBE");
        }
        burn::tensor::Tensor::<B, 1>::ones([4], device)
            .sum()
            .into_scalar();
    });
    if ok {
        return Ok(());
    }
    let instead = if label == "cpu" {
        ""
    } else {
        "; try --device cpu"
    };
    bail!(
        "device {label} is not usable (no driver or no device found; -v shows the backend's \
         message){instead}"
    )
}

/// Runs `f` as a device probe: whether it finished without a panic. Its panics are expected,
/// and the process-wide hook lets them pass while [`probing`] is set.
fn survives(f: impl FnOnce()) -> bool {
    PROBING.store(true, Ordering::SeqCst);
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
    PROBING.store(false, Ordering::SeqCst);
    ok
}

impl Device {
    pub fn cpu() -> Self {
        Self {
            kind: DeviceKind::Cpu,
            index: 0,
        }
    }

    /// Fails with a one-line error when the device is not usable; nothing else runs.
    pub fn check(&self) -> Result<()> {
        struct Probe;
        impl WithBackend for Probe {
            type Output = ();
            fn run<B: AutodiffBackend>(self, _device: B::Device, _label: &str) -> Result<()> {
                Ok(())
            }
        }
        self.dispatch(Probe)
    }

    /// Runs `work` on this device's backend.
    pub fn dispatch<W: WithBackend>(&self, work: W) -> Result<W::Output> {
        let label = self.to_string();
        match self.kind {
            DeviceKind::Cpu => run_cpu(work, &label),
            DeviceKind::Cuda => run_cuda(work, self.index, &label),
            DeviceKind::Wgpu => run_wgpu(work, self.index, &label),
        }
    }
}

#[cfg(feature = "flex")]
fn run_cpu<W: WithBackend>(work: W, label: &str) -> Result<W::Output> {
    type B = burn::backend::Autodiff<burn::backend::Flex>;
    let device = Default::default();
    probe::<B>(&device, label)?;
    work.run::<B>(device, label)
}

#[cfg(not(feature = "flex"))]
fn run_cpu<W: WithBackend>(_work: W, _label: &str) -> Result<W::Output> {
    bail!("this binary was built without the CPU backend; rebuild with --features flex")
}

#[cfg(feature = "cuda")]
fn run_cuda<W: WithBackend>(work: W, index: usize, label: &str) -> Result<W::Output> {
    type B = burn::backend::Autodiff<burn::backend::Cuda>;
    crate::device::kernel_cache::configure();
    let device = burn::backend::cuda::CudaDevice { index };
    probe::<B>(&device, label)?;
    work.run::<B>(device, label)
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<W: WithBackend>(_work: W, _index: usize, _label: &str) -> Result<W::Output> {
    bail!("this binary was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}

#[cfg(feature = "wgpu")]
fn run_wgpu<W: WithBackend>(work: W, index: usize, label: &str) -> Result<W::Output> {
    type B = burn::backend::Autodiff<burn::backend::Wgpu>;
    crate::device::kernel_cache::configure();
    let device = if index == 0 {
        burn::backend::wgpu::WgpuDevice::DefaultDevice
    } else {
        burn::backend::wgpu::WgpuDevice::DiscreteGpu(index)
    };
    probe::<B>(&device, label)?;
    work.run::<B>(device, label)
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<W: WithBackend>(_work: W, _index: usize, _label: &str) -> Result<W::Output> {
    bail!("this binary was built without wgpu support; rebuild with `cargo build --release --features wgpu`")
}

/// What the device's allocator holds right now, in bytes: (in use, reserved in its pools).
/// `None` on the CPU, or when the binary has no backend for the device.
pub fn allocator_bytes(device: &Device) -> Option<(u64, u64)> {
    match device.kind {
        DeviceKind::Cpu => None,
        DeviceKind::Cuda => cuda_allocator(device.index),
        DeviceKind::Wgpu => wgpu_allocator(device.index),
    }
}

#[cfg(feature = "cuda")]
fn cuda_allocator(index: usize) -> Option<(u64, u64)> {
    use burn::cubecl::Runtime;
    let device = burn::backend::cuda::CudaDevice { index };
    let usage = burn::cubecl::cuda::CudaRuntime::client(&device)
        .memory_usage()
        .ok()?;
    Some((usage.bytes_in_use, usage.bytes_reserved))
}

#[cfg(not(feature = "cuda"))]
fn cuda_allocator(_index: usize) -> Option<(u64, u64)> {
    None
}

#[cfg(feature = "wgpu")]
fn wgpu_allocator(index: usize) -> Option<(u64, u64)> {
    use burn::cubecl::Runtime;
    let device = if index == 0 {
        burn::backend::wgpu::WgpuDevice::DefaultDevice
    } else {
        burn::backend::wgpu::WgpuDevice::DiscreteGpu(index)
    };
    let usage = burn::cubecl::wgpu::WgpuRuntime::client(&device)
        .memory_usage()
        .ok()?;
    Some((usage.bytes_in_use, usage.bytes_reserved))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_allocator(_index: usize) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<Device>().unwrap().kind, DeviceKind::Cpu);
        let d: Device = "cuda:1".parse().unwrap();
        assert_eq!((d.kind, d.index), (DeviceKind::Cuda, 1));
        assert!("tpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
    }
}
