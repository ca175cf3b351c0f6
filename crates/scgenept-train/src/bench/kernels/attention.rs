//! The fused attention (`attention/fused/`) against the host op (`attention/host.rs`): the
//! context, the log-sum-exp and the gradient of `sum(ctx ⊙ w)` at awkward shapes, with and
//! without dropout (the same counter-hash mask on both); two runs byte for byte; and the kernels
//! reading and writing a 16-bit storage type (f16, which every device here has; bf16 under
//! `precision = "bf16"` is the same generic kernel) with f32 sums. Each set runs for the portable
//! kernels and for the tile kernels with their products on the units (`Kernels::Tiles`); on a
//! device with tensor cores, for the tile kernels on tensor cores too, in f16 and bf16.

use anyhow::{anyhow, Result};
use burn::backend::Autodiff;
use burn::tensor::{DType, FloatDType, Tensor, TensorData, TensorPrimitive};
use scgenept_model::attention::fused::{self, Call, FusedBackend, Kernels};
use scgenept_model::attention::host::{backward_host, forward_host};
use scgenept_model::attention::Dims;
use scgenept_model::dropout::DropMask;

use super::{floats, values, worst, Check};

/// f32 kernels against the host op (relative to values above 1).
const F32_BOUND: f32 = 1e-5;

/// What one fused run gives: context and log-sum-exp (forward alone) and the input gradient.
struct Run {
    ctx: Vec<f32>,
    lse: Vec<f32>,
    grad: Vec<f32>,
}

/// One input of the op: `qkv` `[b, l, 3d]`, the weights `w` `[b, l, d]` of the summed context,
/// the dropout, and the storage type (`half`, else f32).
struct Case {
    qkv: Vec<f32>,
    w: Vec<f32>,
    dims: Dims,
    drop: Option<DropMask>,
    half: Option<FloatDType>,
    kernels: Kernels,
}

impl Case {
    /// The fused op through autodiff.
    fn run<I: FusedBackend>(&self, device: &I::Device) -> Result<Run> {
        let Dims { b, l, d, heads } = self.dims;
        let call = Call {
            heads,
            drop: self.drop,
            kernels: self.kernels,
        };
        let shape = [b, l, 3 * d];
        let x =
            Tensor::<Autodiff<I>, 3>::from_data(TensorData::new(self.qkv.clone(), shape), device)
                .require_grad();
        let stored = match self.half {
            Some(h) => x.clone().cast(h),
            None => x.clone(),
        };
        let out = fused::tracked::<I>(stored.into_primitive().tensor(), call);
        let out = Tensor::<Autodiff<I>, 3>::from_primitive(TensorPrimitive::Float(out));
        let want = self.half.map(DType::from).unwrap_or(DType::F32);
        if out.dtype() != want {
            return Err(anyhow!(
                "the context came back as {:?}, not {want:?}",
                out.dtype()
            ));
        }
        let out = out.cast(FloatDType::F32);
        let wt =
            Tensor::<Autodiff<I>, 3>::from_data(TensorData::new(self.w.clone(), [b, l, d]), device);
        let grads = (out.clone() * wt).sum().backward();
        let plain = Tensor::<I, 3>::from_data(TensorData::new(self.qkv.clone(), shape), device);
        let plain = match self.half {
            Some(h) => plain.cast(h),
            None => plain,
        };
        let (_, lse) = I::fused_attention(plain.into_primitive().tensor(), call);
        let lse = Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(lse));
        if lse.dtype() != DType::F32 {
            return Err(anyhow!(
                "the log-sum-exp came back as {:?}, not F32",
                lse.dtype()
            ));
        }
        let grad = x
            .grad(&grads)
            .ok_or_else(|| anyhow!("no gradient reached the input"))?;
        Ok(Run {
            ctx: floats(out.into_data())?,
            lse: floats(lse.into_data())?,
            grad: floats(grad.into_data())?,
        })
    }

    /// The three worst differences (context, log-sum-exp, gradient) from the host op.
    fn against_host<I: FusedBackend>(&self, device: &I::Device) -> Result<[f32; 3]> {
        let got = self.run::<I>(device)?;
        let (ctx, lse) = forward_host(&self.qkv, self.dims, self.drop);
        let grad = backward_host(&self.qkv, &ctx, &lse, &self.w, self.dims, self.drop);
        Ok([
            worst(&got.ctx, &ctx),
            worst(&got.lse, &lse),
            worst(&got.grad, &grad),
        ])
    }
}

fn dims(b: usize, l: usize, heads: usize, dh: usize) -> Dims {
    Dims {
        b,
        l,
        d: heads * dh,
        heads,
    }
}

/// The prefix of a variant's check names ("" for the portable kernels).
fn label(kernels: Kernels) -> &'static str {
    match kernels {
        Kernels::Tiles => "tiles: ",
        Kernels::TensorCores => "tensor cores: ",
        Kernels::Portable | Kernels::Auto => "",
    }
}

/// A 16-bit storage type's name in check names.
fn type_name(half: FloatDType) -> &'static str {
    match half {
        FloatDType::F16 => "f16",
        FloatDType::BF16 => "bf16",
        _ => "other",
    }
}

/// L = 1, 7, 130, 1,000; head widths 8, 16, 64; batch 1 and 3; dropout 0 and 0.2; stored as
/// `half` (rounded inputs, against the host op within `bound`) or f32 (within 1e-5). With
/// `long` false, L = 1,000 runs at head width 8 with dropout only (see [`checks`]).
fn awkward_shapes<I: FusedBackend>(
    device: &I::Device,
    kernels: Kernels,
    half: Option<(FloatDType, f32)>,
    long: bool,
) -> Result<Vec<Check>> {
    let stored = half.map(|h| h.0);
    let mut checks = Vec::new();
    for (i, l) in [1, 7, 130, 1000].into_iter().enumerate() {
        for (j, dh) in [8, 16, 64].into_iter().enumerate() {
            // Batch 3 at the short lengths, batch 1 at 1,000 (its compute dominates on lavapipe).
            let b = if (i + j) % 2 == 1 && l < 1000 { 3 } else { 1 };
            for dropout in [0.0f32, 0.2] {
                if l == 1000 && !long && (dh != 8 || dropout == 0.0) {
                    continue;
                }
                let d = dims(b, l, 2, dh);
                let drop = (dropout > 0.0).then_some(DropMask {
                    keep: 1.0 - dropout,
                    seed: 7 + l as u64,
                });
                let case = Case {
                    qkv: rounded::<I>(values(b * l * 3 * d.d, l as u64), stored, device)?,
                    w: rounded::<I>(values(b * l * d.d, 1000 + l as u64), stored, device)?,
                    dims: d,
                    drop,
                    half: stored,
                    kernels,
                };
                let e = case.against_host::<I>(device)?;
                let store = half
                    .map(|(h, _)| format!(" {}", type_name(h)))
                    .unwrap_or_default();
                let name = format!(
                    "{}attention{store} b {b} l {l} heads 2 dh {dh} dropout {dropout}",
                    label(kernels)
                );
                let bound = half.map_or(F32_BOUND, |h| h.1);
                checks.push(Check::new(name, e.into_iter().fold(0.0, f32::max), bound));
            }
        }
    }
    Ok(checks)
}

/// Two sequences of 130 tokens, four heads of width 16, dropout 0.2 with `seed`.
fn mid_shape(seed: u64) -> (Dims, Option<DropMask>) {
    (dims(2, 130, 4, 16), Some(DropMask { keep: 0.8, seed }))
}

/// Values as stored in `half` (when given) and read back as f32.
fn rounded<I: FusedBackend>(
    v: Vec<f32>,
    half: Option<FloatDType>,
    device: &I::Device,
) -> Result<Vec<f32>> {
    let Some(h) = half else { return Ok(v) };
    let t = Tensor::<I, 1>::from_data(TensorData::new(v.clone(), [v.len()]), device);
    floats(t.cast(h).cast(FloatDType::F32).into_data())
}

/// Two runs of the same input: the number of bits that differ (0 means byte-identical).
fn repeatable<I: FusedBackend>(
    device: &I::Device,
    kernels: Kernels,
    half: Option<FloatDType>,
) -> Result<Check> {
    let (dims, drop) = mid_shape(11);
    let case = Case {
        qkv: values(2 * 130 * 3 * 64, 3),
        w: values(2 * 130 * 64, 4),
        dims,
        drop,
        half,
        kernels,
    };
    let a = case.run::<I>(device)?;
    let b = case.run::<I>(device)?;
    let differ = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .filter(|(p, q)| p.to_bits() != q.to_bits())
            .count()
    };
    let n = differ(&a.ctx, &b.ctx) + differ(&a.lse, &b.lse) + differ(&a.grad, &b.grad);
    let store = half
        .map(|h| format!(" in {}", type_name(h)))
        .unwrap_or_default();
    let name = format!(
        "{}attention{store}, two runs: values that differ in any bit",
        label(kernels)
    );
    Ok(Check::new(name, n as f32, 0.0))
}

/// 16-bit storage, f32 sums: against the host op on the same rounded inputs, the log-sum-exp
/// (f32) within `bounds[1]`, the context and the gradient within `bounds[0]` and `bounds[2]`,
/// the storage type's rounding of what they are made of.
fn half_precision<I: FusedBackend>(
    device: &I::Device,
    kernels: Kernels,
    half: FloatDType,
    bounds: [f32; 3],
) -> Result<Vec<Check>> {
    let (dims, drop) = mid_shape(13);
    let case = Case {
        qkv: rounded::<I>(values(2 * 130 * 3 * 64, 41), Some(half), device)?,
        w: rounded::<I>(values(2 * 130 * 64, 42), Some(half), device)?,
        dims,
        drop,
        half: Some(half),
        kernels,
    };
    let worst = case.against_host::<I>(device)?;
    let parts = ["context", "log-sum-exp (f32)", "gradient"];
    Ok((parts.iter().zip(worst).zip(bounds))
        .map(|((part, w), bound)| {
            let name = format!("{}attention in {}: {part}", label(kernels), type_name(half));
            Check::new(name, w, bound)
        })
        .collect())
}

/// The bounds of [`half_precision`] in f16 (context, log-sum-exp, gradient); bf16 keeps 3 bits
/// fewer, so its context and gradient bounds are 8 times these.
const F16_BOUNDS: [f32; 3] = [1e-3, F32_BOUND, 4e-3];
const BF16_BOUNDS: [f32; 3] = [8e-3, F32_BOUND, 3.2e-2];

/// The portable kernels at every shape; the tile kernels with their products on the units at
/// every shape on a GPU, and on devices without tensor cores (lavapipe in CI) at L = 1,000 only
/// at head width 8 with dropout (lavapipe took 90 s more for the other five 1,000-token cases;
/// head width 64 is covered up to L = 130, several blocks and a partial one); on a device with
/// tensor cores, the tile kernels on tensor cores at every shape in f16, and both tile variants
/// in bf16.
pub(super) fn checks<I: FusedBackend>(device: &I::Device) -> Result<Vec<Check>> {
    let gpu = I::has_tensor_cores(device, DType::F16);
    let mut checks = Vec::new();
    for (kernels, long) in [(Kernels::Portable, true), (Kernels::Tiles, gpu)] {
        checks.extend(awkward_shapes::<I>(device, kernels, None, long)?);
        checks.push(repeatable::<I>(device, kernels, None)?);
        checks.extend(half_precision::<I>(
            device,
            kernels,
            FloatDType::F16,
            F16_BOUNDS,
        )?);
    }
    if gpu {
        let tc = Kernels::TensorCores;
        let f16 = Some((FloatDType::F16, F16_BOUNDS[2]));
        checks.extend(awkward_shapes::<I>(device, tc, f16, true)?);
        checks.push(repeatable::<I>(device, tc, Some(FloatDType::F16))?);
        checks.extend(half_precision::<I>(
            device,
            tc,
            FloatDType::F16,
            F16_BOUNDS,
        )?);
    }
    if I::has_tensor_cores(device, DType::BF16) {
        for kernels in [Kernels::Tiles, Kernels::TensorCores] {
            checks.extend(half_precision::<I>(
                device,
                kernels,
                FloatDType::BF16,
                BF16_BOUNDS,
            )?);
        }
    }
    Ok(checks)
}
