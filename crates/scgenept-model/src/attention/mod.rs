//! Multi-head self-attention from the packed `[B, L, 3·D]` projections (docs/attention.md): the
//! op's interface ([`self_attention`]), which implementation runs where, and the reference the
//! others are tested against ([`materialised`]: burn ops with every score kept).
//!
//! - `host.rs` — the training op on host memory (burn-flex): its own backward, no `L × L` tensor
//!   kept between the passes (flash-attention style), sequences split over the cores;
//! - `infer.rs` — the host forward without gradients for narrow heads (d_head 8, 16, 32);
//! - `tiled.rs` — the same op and save list on device backends (CUDA, wgpu), from burn tensor ops
//!   over query tiles;
//! - `mask.rs` — the dropout mask as a counter hash of (seed, sequence, head, row, column), drawn
//!   again in backward and never stored;
//! - `kernels.rs` — the host helpers: strided `gemm`, softmax, `exp`, [`Dims`], the split over
//!   threads;
//! - `bert.rs` — BERT's attention on the host, for the knowledge crate's text embedder.
//!
//! To add an implementation: a file here with a `tracked` function (forward under autodiff with
//! its own `Backward`), a branch in [`self_attention`], and a test against [`materialised`] at
//! awkward shapes, with and without dropout (ARCHITECTURE.md, "Recipes").

pub mod bert;
#[cfg(feature = "cube")]
pub mod fused;
pub mod fused_plan;
pub mod host;
pub mod infer;
pub mod kernels;
pub mod mask;
pub mod tiled;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{FloatDType, Tensor, TensorData, TensorPrimitive};
use burn_autodiff::Autodiff;

use crate::autodiff_inner::{on_autodiff, AutodiffOp};
use crate::dropout::{draw_seed, DropMask};
use crate::host::on_host;
use crate::precision::{self, Precision};
use crate::softmax::softmax_last;

pub use kernels::Dims;

/// Self-attention context `[B, L, D]` from packed `[B, L, 3·D]` projections (PyTorch's
/// `in_proj` layout), with dropout `dropout` on the probabilities while training.
pub fn self_attention<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    dropout: f64,
    precision: Precision,
) -> Tensor<B, 3> {
    let device = qkv.device();
    let training = B::ad_enabled(&device);
    if !on_host::<B>() {
        return on_device(qkv, heads, training.then_some(dropout), precision);
    }
    // bf16 is refused on the CPU before a model is built (`ScGenePT::set_precision`).
    debug_assert_eq!(precision, Precision::F32, "bf16 on the host attention");
    let drop = (training && dropout > 0.0).then(|| DropMask {
        keep: (1.0 - dropout) as f32,
        seed: draw_seed::<B>(&device),
    });
    let t = match on_autodiff::<B, _>(qkv.into_primitive().tensor(), HostOp { heads, drop }) {
        Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
        Err((t, _)) => Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(t)),
    };
    let [b, l, d3] = t.dims();
    let dims = Dims {
        b,
        l,
        d: d3 / 3,
        heads,
    };
    let host = host::host_vec(t);
    // Without autodiff nothing is saved for a backward: the inference kernel, where it covers
    // the head width (`infer.rs`).
    let ctx = match drop {
        // The inference kernel where it covers the head width, else the training kernel's forward.
        None => {
            infer::forward(&host, dims).unwrap_or_else(|| host::forward_host(&host, dims, None).0)
        }
        Some(_) => host::forward_host(&host, dims, drop).0,
    };
    Tensor::from_data(TensorData::new(ctx, [b, l, dims.d]), &device)
}

/// Which attention a device backend (CUDA, wgpu) runs, from `SCGENEPT_GPU_ATTENTION`:
/// `fused` (the default: the CubeCL kernels of `fused/`, training and inference), `tiled` (burn
/// ops over query tiles, training; burn's fused `attention` for inference) or `materialised`
/// (burn ops with every score kept). The last two are kept for comparison in `benches/gpu.sh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAttention {
    Fused,
    Tiled,
    Materialised,
}

impl DeviceAttention {
    /// This process's choice (read once); an unknown value is the default.
    pub fn chosen() -> DeviceAttention {
        static CHOSEN: std::sync::OnceLock<DeviceAttention> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(
            || match std::env::var("SCGENEPT_GPU_ATTENTION").as_deref() {
                Ok("tiled") => DeviceAttention::Tiled,
                Ok("materialised") => DeviceAttention::Materialised,
                _ => DeviceAttention::Fused,
            },
        )
    }
}

/// Attention on a device backend: the chosen implementation ([`DeviceAttention`]), falling back
/// to [`materialised`] where it does not apply (a backend without CubeCL kernels, inference on
/// the tiled path).
fn on_device<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    dropout: Option<f64>,
    precision: Precision,
) -> Tensor<B, 3> {
    let device = qkv.device();
    let choice = DeviceAttention::chosen();
    let drop = |p: f64| {
        (p > 0.0).then(|| DropMask {
            keep: (1.0 - p) as f32,
            seed: draw_seed::<B>(&device),
        })
    };
    #[cfg(feature = "cube")]
    let qkv = match choice {
        DeviceAttention::Fused => {
            // Under bf16 the kernels read bf16 projections (the matmul operands of the other
            // implementations) and write a bf16 context, `out_proj`'s operand: both kept in bf16.
            let t = match precision {
                Precision::F32 => qkv,
                Precision::Bf16 => precision::bf16(qkv),
            };
            let t = t.into_primitive().tensor();
            let out = match dropout {
                Some(p) => fused::training::<B>(
                    t,
                    fused::Call {
                        heads,
                        drop: drop(p),
                        kernels: fused::Kernels::chosen(),
                    },
                ),
                None => fused::inference::<B>(t, heads),
            };
            match out {
                Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
                Err(t) => {
                    Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(t)).cast(FloatDType::F32)
                }
            }
        }
        _ => qkv,
    };
    if let (Some(p), true) = (dropout, choice != DeviceAttention::Materialised) {
        let op = TiledOp {
            heads,
            drop: drop(p),
            precision,
        };
        match on_autodiff::<B, _>(qkv.into_primitive().tensor(), op) {
            Ok(out) => return Tensor::from_primitive(TensorPrimitive::Float(out)),
            Err((t, _)) => {
                return materialised(
                    Tensor::from_primitive(TensorPrimitive::Float(t)),
                    heads,
                    dropout,
                    precision,
                )
            }
        }
    }
    materialised(qkv, heads, dropout, precision)
}

/// The host op under autodiff: burn-flex only (`on_host`); other backends never reach it.
struct HostOp {
    heads: usize,
    drop: Option<DropMask>,
}

impl AutodiffOp for HostOp {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        host::tracked::<I>(t, self.heads, self.drop)
    }
}

/// The tiled op (`tiled.rs`) under autodiff, for backends whose tensors live on a device.
struct TiledOp {
    heads: usize,
    drop: Option<DropMask>,
    precision: Precision,
}

impl AutodiffOp for TiledOp {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        tiled::tracked::<I>(
            t,
            self.heads,
            self.drop,
            self.precision,
            tiled::tile_elements(),
        )
    }
}

/// The same attention through burn ops with the `B×H×L×L` scores in memory: burn's fused kernel
/// without autodiff, the closed-form softmax and burn's dropout with it. Under bf16 the two
/// matmuls take bf16 operands; the scores, softmax and dropout stay f32 (`precision.rs`).
pub fn materialised<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    dropout: Option<f64>,
    precision: Precision,
) -> Tensor<B, 3> {
    let [b, l, d3] = qkv.dims();
    let d = d3 / 3;
    let dh = d / heads;
    let qkv = qkv.reshape([b, l, 3, heads, dh]);
    let mut parts = qkv
        .chunk(3, 2)
        .into_iter()
        .map(|t| t.reshape([b, l, heads, dh]).swap_dims(1, 2));
    let (q, k, v) = (
        parts.next().expect("q"),
        parts.next().expect("k"),
        parts.next().expect("v"),
    );
    let ctx = match dropout {
        Some(p) => {
            let scale = (dh as f64).powf(-0.5);
            let scores = precision::matmul(q, k.swap_dims(2, 3), precision).mul_scalar(scale);
            let probs = burn::nn::DropoutConfig::new(p)
                .init()
                .forward(softmax_last(scores));
            precision::matmul(probs, v, precision)
        }
        None if precision == Precision::Bf16 => {
            let bf = |t: Tensor<B, 4>| t.cast(FloatDType::BF16);
            burn::tensor::module::attention(bf(q), bf(k), bf(v), None, None, Default::default())
                .cast(FloatDType::F32)
        }
        None => burn::tensor::module::attention(q, k, v, None, None, Default::default()),
    };
    ctx.swap_dims(1, 2).reshape([b, l, d])
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn inference_equals_burns_fused_attention() {
        let device = Default::default();
        Flex::seed(&device, 5);
        let x = Tensor::<Flex, 3>::random([3, 50, 24], Distribution::Normal(0.0, 1.0), &device);
        let ours = self_attention(x.clone(), 4, 0.2, Precision::F32);
        let theirs = materialised(x, 4, None, Precision::F32);
        ours.into_data()
            .assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::absolute(1e-5));
    }
}
