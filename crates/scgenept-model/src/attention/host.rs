//! The training attention on host memory (burn-flex), as one op with its own backward that keeps
//! no `L × L` tensor between forward and backward (flash-attention style, docs/attention.md).
//!
//! Forward, per (sequence, head) and query tile: scores `S = scale · Q Kᵀ`, row softmax `P` (its
//! log-sum-exp saved), dropout `P̃ = P ⊙ M / keep`, context `O = P̃ V`. Backward recomputes `S`,
//! `P = exp(S − lse)` and `M` tile by tile: `dV += P̃ᵀ dO`, `dP̃ = dO Vᵀ`,
//! `dS = P ⊙ (dP̃ ⊙ M / keep − rowsum(dO ⊙ O))`, `dQ = scale · dS K`, `dK += scale · dSᵀ Q`.
//! Saved between the passes: the packed projections, the context and the log-sum-exp — what
//! PyTorch's fused attention saves — instead of burn's scores, probabilities and mask. The mask
//! `M` comes from `mask.rs`, drawn again in backward. The kernels are host `gemm` calls,
//! sequences split over the cores (each sequence alone, so results do not depend on the split).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;

use super::kernels::{exp, for_sequences, matmul, matmul_t, softmax_in_place, vectorised, Dims};
use super::mask::{head_seed, mask_row};
use crate::dropout::DropMask;

/// A tensor's values on the host, as f32.
pub(super) fn host_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 data")
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

pub(super) fn tracked<I: Backend>(
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
    use burn_autodiff::Autodiff;

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
}
