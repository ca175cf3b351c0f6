//! Multi-head self-attention from the packed `[B, L, 3·D]` projections, as one op with its own
//! backward that keeps no `L × L` tensor between forward and backward (flash-attention style,
//! docs/attention.md).
//!
//! Forward, per (sequence, head) and query tile: scores `S = scale · Q Kᵀ`, row softmax `P` (its
//! log-sum-exp saved), dropout `P̃ = P ⊙ M / keep`, context `O = P̃ V`. Backward recomputes `S`,
//! `P = exp(S − lse)` and `M` tile by tile: `dV += P̃ᵀ dO`, `dP̃ = dO Vᵀ`,
//! `dS = P ⊙ (dP̃ ⊙ M / keep − rowsum(dO ⊙ O))`, `dQ = scale · dS K`, `dK += scale · dSᵀ Q`.
//! Saved between the passes: the packed projections, the context and the log-sum-exp — what
//! PyTorch's fused attention saves — instead of burn's scores, probabilities and mask.
//!
//! The dropout mask is never stored: `M[b, h, i, j]` is a hash of (the call's seed, b, h, i, j)
//! ([`keep_threshold`], [`mask_row`]), drawn again in backward. The call's seed is one draw from
//! the backend's seeded generator, so `B::seed` per step fixes every mask as before.
//!
//! On burn-flex the kernels are host `gemm` calls, sequences split over the cores (each sequence
//! alone, so results do not depend on the split). GPU backends train through the same op in burn
//! tensor ops (`attention_tiled.rs`); the materialised path (`materialised`) is their fallback and
//! the reference the tests compare against.

pub mod infer;
pub mod kernels;
pub mod tiled;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{FloatDType, Tensor, TensorData, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;

use crate::autodiff_inner::{on_autodiff, AutodiffOp};

pub use crate::attention::kernels::Dims;
use crate::attention::kernels::{
    exp, for_sequences, matmul, matmul_t, on_host, softmax_in_place, vectorised,
};
use crate::dropout::{draw_seed, hash, DropMask};
use crate::precision::{self, Precision};
use crate::softmax::softmax_last;

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
        if training && tiled_on_device() {
            let drop = (dropout > 0.0).then(|| DropMask {
                keep: (1.0 - dropout) as f32,
                seed: draw_seed::<B>(&device),
            });
            if let Some(out) = device_tracked(qkv.clone(), heads, drop, precision) {
                return out;
            }
        }
        return materialised(qkv, heads, training.then_some(dropout), precision);
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
    let host = host_vec(t);
    // Without autodiff nothing is saved for a backward: the inference kernel, where it covers
    // the head width (`attention_infer.rs`).
    let ctx = match drop {
        // The inference kernel where it covers the head width, else the training kernel's forward.
        None => crate::attention::infer::forward(&host, dims)
            .unwrap_or_else(|| forward_host(&host, dims, None).0),
        Some(_) => forward_host(&host, dims, drop).0,
    };
    Tensor::from_data(TensorData::new(ctx, [b, l, dims.d]), &device)
}

/// Training attention on a GPU backend goes through `attention_tiled.rs` unless
/// `SCGENEPT_GPU_ATTENTION=materialised` asks for burn's ops with every score kept (the earlier
/// path, kept for comparison in `benches/gpu.sh`).
fn tiled_on_device() -> bool {
    std::env::var("SCGENEPT_GPU_ATTENTION").map_or(true, |v| v != "materialised")
}

/// The tiled op on the GPU backends this build has (`None` for any other backend).
fn device_tracked<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    drop: Option<DropMask>,
    precision: Precision,
) -> Option<Tensor<B, 3>> {
    let op = TiledOp {
        heads,
        drop,
        precision,
    };
    on_autodiff::<B, _>(qkv.into_primitive().tensor(), op)
        .ok()
        .map(|out| Tensor::from_primitive(TensorPrimitive::Float(out)))
}

/// The host op under autodiff: burn-flex only (`on_host`); other backends never reach it.
struct HostOp {
    heads: usize,
    drop: Option<DropMask>,
}

impl AutodiffOp for HostOp {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        tracked::<I>(t, self.heads, self.drop)
    }
}

/// The tiled op (`attention_tiled.rs`) under autodiff, for backends whose tensors live on a device.
struct TiledOp {
    heads: usize,
    drop: Option<DropMask>,
    precision: Precision,
}

impl AutodiffOp for TiledOp {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        crate::attention::tiled::tracked::<I>(
            t,
            self.heads,
            self.drop,
            self.precision,
            crate::attention::tiled::tile_elements(),
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

fn host_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 data")
}

/// `round(keep · 2³²)`: an element is kept when its 32-bit hash is below it.
pub fn keep_threshold(keep: f32) -> u64 {
    ((keep as f64) * 4_294_967_296.0).round() as u64
}

/// A 32-bit avalanche mix (Wellons' `lowbias32`): cheap in 32-bit lanes on a CPU or a GPU.
#[inline(always)]
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The seed of one (sequence, head) of a call.
pub fn head_seed(seed: u64, b: usize, h: usize, heads: usize) -> u32 {
    hash(seed, (b * heads + h) as u64) as u32
}

#[inline(always)]
/// Row `i` of the scaled mask of one head: `out[j] = 1/keep` when `(i, j)` is kept, else 0.
pub fn mask_row(head_seed: u32, i: usize, l: usize, keep: f32, out: &mut [f32]) {
    let threshold = keep_threshold(keep);
    let scale = 1.0 / keep;
    let base = (i * l) as u32;
    for (j, o) in out.iter_mut().enumerate() {
        let x = base.wrapping_add(j as u32).wrapping_mul(0x9e37_79b9) ^ head_seed;
        *o = if (mix32(x) as u64) < threshold {
            scale
        } else {
            0.0
        };
    }
}

/// Rows of query tiles: about 256 KB of scores per tile, at least 32 rows.
fn tile_rows(l: usize) -> usize {
    (65_536 / l.max(1)).max(32).min(l.max(1))
}

/// Forward on the host: the context `[B·L, D]` and the log-sum-exp `[B, H, L]`.
pub fn forward_host(qkv: &[f32], dims: Dims, drop: Option<DropMask>) -> (Vec<f32>, Vec<f32>) {
    let Dims { b, l, d, heads } = dims;
    assert_eq!(
        qkv.len(),
        b * l * 3 * d,
        "attention input is not [B, L, 3·D]"
    );
    let mut ctx = vec![0f32; b * l * d];
    let mut lse = vec![0f32; b * heads * l];
    for_sequences(
        b,
        [l * d, heads * l],
        [&mut ctx, &mut lse],
        |seqs, [ctx, lse]| vectorised(|| forward_seqs(qkv, dims, drop, seqs, ctx, lse)),
    );
    (ctx, lse)
}

#[inline(always)]
fn forward_seqs(
    qkv: &[f32],
    dims: Dims,
    drop: Option<DropMask>,
    seqs: std::ops::Range<usize>,
    ctx: &mut [f32],
    lse: &mut [f32],
) {
    let Dims { l, d, heads, .. } = dims;
    let (w3, dh) = (3 * d, dims.dh());
    let scale = (dh as f32).powf(-0.5);
    let t = tile_rows(l);
    let mut s = vec![0f32; t * l];
    let mut m = vec![0f32; l];
    let first = seqs.start;
    for bi in seqs {
        let base = bi * l * w3;
        for h in 0..heads {
            let seed = drop.map(|dm| head_seed(dm.seed, bi, h, heads));
            let k = qkv[base + d + h * dh..].as_ptr();
            let v = qkv[base + 2 * d + h * dh..].as_ptr();
            for i0 in (0..l).step_by(t) {
                let rows = t.min(l - i0);
                let q = qkv[base + i0 * w3 + h * dh..].as_ptr();
                let s = &mut s[..rows * l];
                // S = scale · Q Kᵀ
                unsafe {
                    matmul(
                        (rows, l, dh),
                        (s.as_mut_ptr(), l),
                        (false, scale),
                        (q, w3),
                        (k, w3, 1),
                    )
                };
                for (r, row) in s.chunks_exact_mut(l).enumerate() {
                    let i = i0 + r;
                    let (max, sum) = softmax_in_place(row);
                    lse[((bi - first) * heads + h) * l + i] = max + sum.ln();
                    if let (Some(dm), Some(hs)) = (drop, seed) {
                        mask_row(hs, i, l, dm.keep, &mut m);
                        row.iter_mut().zip(&m).for_each(|(p, mk)| *p *= mk);
                    }
                }
                // O = P̃ V
                let out = ctx[((bi - first) * l + i0) * d + h * dh..].as_mut_ptr();
                unsafe {
                    matmul(
                        (rows, dh, l),
                        (out, d),
                        (false, 1.0),
                        (s.as_ptr(), l),
                        (v, 1, w3),
                    )
                };
            }
        }
    }
}

/// Backward on the host: the gradient `[B·L, 3·D]` of the packed projections.
pub fn backward_host(
    qkv: &[f32],
    ctx: &[f32],
    lse: &[f32],
    dctx: &[f32],
    dims: Dims,
    drop: Option<DropMask>,
) -> Vec<f32> {
    let Dims { b, l, d, .. } = dims;
    let mut dqkv = vec![0f32; b * l * 3 * d];
    for_sequences(
        b,
        [l * 3 * d, 0],
        [&mut dqkv, &mut []],
        |seqs, [dqkv, _]| vectorised(|| backward_seqs(qkv, ctx, lse, dctx, dims, drop, seqs, dqkv)),
    );
    dqkv
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_seqs(
    qkv: &[f32],
    ctx: &[f32],
    lse: &[f32],
    dctx: &[f32],
    dims: Dims,
    drop: Option<DropMask>,
    seqs: std::ops::Range<usize>,
    dqkv: &mut [f32],
) {
    let Dims { l, d, heads, .. } = dims;
    let (w3, dh) = (3 * d, dims.dh());
    let scale = (dh as f32).powf(-0.5);
    let t = tile_rows(l);
    let (mut p, mut dp, mut m) = (vec![0f32; t * l], vec![0f32; t * l], vec![1f32; l]);
    let mut di = vec![0f32; t];
    let first = seqs.start;
    for bi in seqs {
        let base = bi * l * w3;
        let local = (bi - first) * l * w3;
        for h in 0..heads {
            let seed = drop.map(|dm| head_seed(dm.seed, bi, h, heads));
            let k = qkv[base + d + h * dh..].as_ptr();
            let v = qkv[base + 2 * d + h * dh..].as_ptr();
            for i0 in (0..l).step_by(t) {
                let rows = t.min(l - i0);
                let q = qkv[base + i0 * w3 + h * dh..].as_ptr();
                let dout = dctx[(bi * l + i0) * d + h * dh..].as_ptr();
                let (p, dp) = (&mut p[..rows * l], &mut dp[..rows * l]);
                unsafe {
                    matmul(
                        (rows, l, dh),
                        (p.as_mut_ptr(), l),
                        (false, scale),
                        (q, w3),
                        (k, w3, 1),
                    )
                };
                // dP̃ = dO Vᵀ
                unsafe {
                    matmul(
                        (rows, l, dh),
                        (dp.as_mut_ptr(), l),
                        (false, 1.0),
                        (dout, d),
                        (v, w3, 1),
                    )
                };
                for r in 0..rows {
                    let i = i0 + r;
                    let o = &ctx[(bi * l + i) * d + h * dh..][..dh];
                    let g = &dctx[(bi * l + i) * d + h * dh..][..dh];
                    di[r] = o.iter().zip(g).map(|(a, b)| a * b).sum();
                    let lse_i = lse[(bi * heads + h) * l + i];
                    if let (Some(dm), Some(hs)) = (drop, seed) {
                        mask_row(hs, i, l, dm.keep, &mut m);
                    }
                    let prow = &mut p[r * l..(r + 1) * l];
                    let dprow = &mut dp[r * l..(r + 1) * l];
                    for ((pv, dpv), mk) in prow.iter_mut().zip(dprow.iter_mut()).zip(&m) {
                        let pij = exp(*pv - lse_i);
                        // dS (into dp), P̃ (into p)
                        *dpv = pij * (*dpv * mk - di[r]);
                        *pv = pij * mk;
                    }
                }
                let dq = dqkv[local + i0 * w3 + h * dh..].as_mut_ptr();
                let dk = dqkv[local + d + h * dh..].as_mut_ptr();
                let dv = dqkv[local + 2 * d + h * dh..].as_mut_ptr();
                // dV += P̃ᵀ dO ; dQ = scale · dS K ; dK += scale · dSᵀ Q
                unsafe {
                    matmul_t(
                        (l, dh, rows),
                        (dv, w3),
                        (true, 1.0),
                        (p.as_ptr(), l, 1),
                        (dout, 1, d),
                    );
                    matmul(
                        (rows, dh, l),
                        (dq, w3),
                        (false, scale),
                        (dp.as_ptr(), l),
                        (k, 1, w3),
                    );
                    matmul_t(
                        (l, dh, rows),
                        (dk, w3),
                        (true, scale),
                        (dp.as_ptr(), l, 1),
                        (q, 1, w3),
                    );
                }
            }
        }
    }
}

/// What backward needs: the inputs, the context and the log-sum-exp, on the host.
#[derive(Clone, Debug)]
struct Saved {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    lse: Vec<f32>,
    dims: Dims,
    drop: Option<DropMask>,
}

#[derive(Debug)]
struct AttentionOp;

impl<I: Backend> Backward<I, 1> for AttentionOp {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            let g = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(g));
            let device = g.device();
            let dctx = host_vec(g);
            let dqkv = backward_host(&s.qkv, &s.ctx, &s.lse, &dctx, s.dims, s.drop);
            let Dims { b, l, d, .. } = s.dims;
            Tensor::<I, 3>::from_data(TensorData::new(dqkv, [b, l, 3 * d]), &device)
                .into_primitive()
                .tensor()
        });
    }
}

fn tracked<I: Backend>(
    qkv: FloatTensor<Autodiff<I>>,
    heads: usize,
    drop: Option<DropMask>,
) -> FloatTensor<Autodiff<I>> {
    let inner = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(qkv.primitive.clone()));
    let [b, l, d3] = inner.dims();
    let device = inner.device();
    let dims = Dims {
        b,
        l,
        d: d3 / 3,
        heads,
    };
    let host = host_vec(inner);
    let (ctx, lse) = forward_host(&host, dims, drop);
    let out = Tensor::<I, 3>::from_data(TensorData::new(ctx.clone(), [b, l, dims.d]), &device)
        .into_primitive()
        .tensor();
    match AttentionOp
        .prepare::<NoCheckpointing>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                qkv: host,
                ctx,
                lse,
                dims,
                drop,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{activation, Distribution, Tolerance};

    type A = Autodiff<Flex>;

    /// The same attention through burn ops, scores materialised, with the op's own mask.
    fn reference(qkv: Tensor<A, 3>, heads: usize, drop: Option<DropMask>) -> Tensor<A, 3> {
        let [b, l, d3] = qkv.dims();
        let d = d3 / 3;
        let dh = d / heads;
        let device = qkv.device();
        let x = qkv.reshape([b, l, 3, heads, dh]);
        let part = |i: usize| {
            x.clone()
                .narrow(2, i, 1)
                .reshape([b, l, heads, dh])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((dh as f64).powf(-0.5));
        let mut probs = activation::softmax(scores, 3);
        if let Some(dm) = drop {
            let mut mask = vec![0f32; b * heads * l * l];
            for bi in 0..b {
                for h in 0..heads {
                    let hs = head_seed(dm.seed, bi, h, heads);
                    for i in 0..l {
                        let at = ((bi * heads + h) * l + i) * l;
                        mask_row(hs, i, l, dm.keep, &mut mask[at..at + l]);
                    }
                }
            }
            probs = probs * Tensor::from_data(TensorData::new(mask, [b, heads, l, l]), &device);
        }
        probs.matmul(v).swap_dims(1, 2).reshape([b, l, d])
    }

    fn compare(b: usize, l: usize, d: usize, heads: usize, drop: Option<DropMask>) {
        let device = Default::default();
        A::seed(&device, 11);
        let x = Tensor::<A, 3>::random([b, l, 3 * d], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<A, 3>::random([b, l, d], Distribution::Normal(0.0, 1.0), &device);
        let xa = x.clone().require_grad();
        let xb = x.require_grad();
        let ours = Tensor::<A, 3>::from_primitive(TensorPrimitive::Float(tracked::<Flex>(
            xa.clone().into_primitive().tensor(),
            heads,
            drop,
        )));
        let theirs = reference(xb.clone(), heads, drop);
        let tol = Tolerance::absolute(1e-5);
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&theirs.clone().into_data(), tol);
        let ga = (ours * w.clone()).sum().backward();
        let gb = (theirs * w).sum().backward();
        xa.grad(&ga)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&xb.grad(&gb).unwrap().into_data(), tol);
    }

    #[test]
    fn forward_and_gradients_equal_materialised_attention() {
        compare(2, 7, 8, 2, None);
        // Two query tiles (tile_rows(300) = 218 rows), one sequence per core and more.
        compare(3, 300, 8, 2, None);
    }

    #[test]
    fn with_dropout_they_equal_materialised_attention_under_the_same_mask() {
        let drop = Some(DropMask {
            keep: 0.8,
            seed: 0x1234_5678_9abc,
        });
        compare(2, 7, 8, 2, drop);
        compare(3, 300, 8, 2, drop);
    }

    #[test]
    fn masks_keep_their_share_and_differ_by_head() {
        let l = 1000;
        let mut a = vec![0f32; l];
        let mut kept = 0usize;
        for i in 0..l {
            mask_row(head_seed(5, 0, 0, 4), i, l, 0.8, &mut a);
            kept += a.iter().filter(|&&v| v != 0.0).count();
        }
        let share = kept as f64 / (l * l) as f64;
        assert!((share - 0.8).abs() < 0.002, "kept {share}");
        let mut b = vec![0f32; l];
        mask_row(head_seed(5, 0, 1, 4), 0, l, 0.8, &mut b);
        mask_row(head_seed(5, 0, 0, 4), 0, l, 0.8, &mut a);
        assert_ne!(a, b);
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.25).abs() < 1e-6));
    }

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
