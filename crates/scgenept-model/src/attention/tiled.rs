//! The attention op of `host.rs` for backends whose tensors live on a device (CUDA, wgpu):
//! the same function and the same saved state — the packed projections, the context and the
//! log-sum-exp — but computed with burn tensor ops over query tiles, so no `B×H×L×L` tensor
//! outlives one tile of rows (docs/attention.md).
//!
//! Forward, per tile of query rows: `S = scale · Q Kᵀ`, the row maximum and sum give `P` and the
//! log-sum-exp, `O = (P ⊙ M) V`. Backward, per tile: `P = exp(S − lse)` again, `dV += (P ⊙ M)ᵀ dO`,
//! `dS = P ⊙ ((dO Vᵀ) ⊙ M − rowsum(dO ⊙ O))`, `dQ = scale · dS K`, `dK += scale · dSᵀ Q`.
//!
//! The dropout mask `M` (values 0 and 1/keep) of a tile is drawn from the backend's own generator
//! reseeded with a hash of (the call's seed, the tile), in forward and again in backward, so it
//! is never stored. Reseeding synchronises the device (burn-fusion runs pending work first), once
//! per tile; tiles are sized to hold about [`TILE_ELEMENTS`] scores.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;

use crate::dropout::{hash, DropMask};
use crate::precision::{self, Precision};

/// Scores per tile (all sequences and heads together): 2²⁸ f32 values, 1 GiB.
pub const TILE_ELEMENTS: usize = 1 << 28;

/// Scores per tile for this process: `SCGENEPT_ATTENTION_TILE` (a number of scores, at least
/// 1), else [`TILE_ELEMENTS`]. A smaller tile lowers the attention's transient memory (the
/// memory plan, `scgenept bench plan`, counts it) at the cost of more, smaller matmuls.
pub fn tile_elements() -> usize {
    static CHOSEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        std::env::var("SCGENEPT_ATTENTION_TILE")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(TILE_ELEMENTS)
    })
}

/// The query rows of each tile for `b` sequences × `heads` heads × `l` tokens.
pub fn tiles(b: usize, heads: usize, l: usize, budget: usize) -> Vec<std::ops::Range<usize>> {
    let rows = (budget / (b * heads * l).max(1)).clamp(1, l.max(1));
    (0..l).step_by(rows).map(|i| i..(i + rows).min(l)).collect()
}

/// Tile `t`'s scaled dropout mask `[b, h, rows, l]`: 1/keep where kept, else 0.
pub fn tile_mask<I: Backend>(
    drop: DropMask,
    t: usize,
    shape: [usize; 4],
    device: &I::Device,
) -> Tensor<I, 4> {
    I::seed(device, hash(drop.seed, t as u64));
    Tensor::<I, 4>::random(shape, Distribution::Bernoulli(drop.keep as f64), device)
        .mul_scalar(1.0 / drop.keep as f64)
}

/// One call's shape and settings.
#[derive(Clone, Copy, Debug)]
struct Call {
    heads: usize,
    drop: Option<DropMask>,
    precision: Precision,
    budget: usize,
}

/// `[B, L, 3·D]` → Q, K, V as `[B, H, L, Dh]`.
fn split<I: Backend>(qkv: Tensor<I, 3>, heads: usize) -> [Tensor<I, 4>; 3] {
    let [b, l, d3] = qkv.dims();
    let dh = d3 / 3 / heads;
    let x = qkv.reshape([b, l, 3, heads, dh]);
    let part = |i: usize| {
        x.clone()
            .narrow(2, i, 1)
            .reshape([b, l, heads, dh])
            .swap_dims(1, 2)
    };
    [part(0), part(1), part(2)]
}

/// `[B, H, L, Dh]` → `[B, L, H·Dh]`.
fn merge<I: Backend>(t: Tensor<I, 4>) -> Tensor<I, 3> {
    let [b, h, l, dh] = t.dims();
    t.swap_dims(1, 2).reshape([b, l, h * dh])
}

/// Forward: the context `[B, H, L, Dh]` and the log-sum-exp `[B, H, L, 1]`.
fn forward<I: Backend>(qkv: Tensor<I, 3>, c: Call) -> (Tensor<I, 4>, Tensor<I, 4>) {
    let [q, k, v] = split(qkv, c.heads);
    let [b, h, l, dh] = q.dims();
    let device = q.device();
    let scale = (dh as f64).powf(-0.5);
    let kt = k.swap_dims(2, 3);
    let (mut ctx, mut lse) = (Vec::new(), Vec::new());
    for (t, rows) in tiles(b, h, l, c.budget).into_iter().enumerate() {
        let qt = q.clone().narrow(2, rows.start, rows.len());
        let s = precision::matmul(qt, kt.clone(), c.precision).mul_scalar(scale);
        let m = s.clone().max_dim(3);
        let e = (s - m.clone()).exp();
        let sum = e.clone().sum_dim(3);
        lse.push(m + sum.clone().log());
        let mut p = e / sum;
        if let Some(drop) = c.drop {
            p = p * tile_mask::<I>(drop, t, [b, h, rows.len(), l], &device);
        }
        crate::memory_probe::sample(); // a tile's probabilities at their largest
        ctx.push(precision::matmul(p, v.clone(), c.precision));
    }
    (Tensor::cat(ctx, 2), Tensor::cat(lse, 2))
}

/// Backward: the gradient `[B, L, 3·D]` of the packed projections.
fn backward<I: Backend>(s: &Saved<I>, dctx: Tensor<I, 3>) -> Tensor<I, 3> {
    let c = s.call;
    let [q, k, v] = split(s.qkv.clone(), c.heads);
    let [b, h, l, dh] = q.dims();
    let device = q.device();
    let scale = (dh as f64).powf(-0.5);
    let d_o = dctx.reshape([b, l, h, dh]).swap_dims(1, 2);
    // rowsum(dO ⊙ O): the softmax backward's correction, one value per query row.
    let delta = (d_o.clone() * s.ctx.clone()).sum_dim(3);
    let (kt, vt) = (k.clone().swap_dims(2, 3), v.swap_dims(2, 3));
    let mut dk = Tensor::<I, 4>::zeros([b, h, l, dh], &device);
    let mut dv = Tensor::<I, 4>::zeros([b, h, l, dh], &device);
    let mut dq = Vec::new();
    for (t, rows) in tiles(b, h, l, c.budget).into_iter().enumerate() {
        let (r0, n) = (rows.start, rows.len());
        let qt = q.clone().narrow(2, r0, n);
        let dot = d_o.clone().narrow(2, r0, n);
        let sc = precision::matmul(qt.clone(), kt.clone(), c.precision).mul_scalar(scale);
        let p = (sc - s.lse.clone().narrow(2, r0, n)).exp();
        let mask = c
            .drop
            .map(|drop| tile_mask::<I>(drop, t, [b, h, n, l], &device));
        let dropped = match &mask {
            Some(m) => p.clone() * m.clone(),
            None => p.clone(),
        };
        crate::memory_probe::sample(); // P, the mask and P ⊙ M at once
        dv = dv + precision::matmul(dropped.swap_dims(2, 3), dot.clone(), c.precision);
        let mut dp = precision::matmul(dot, vt.clone(), c.precision);
        if let Some(m) = mask {
            dp = dp * m;
        }
        crate::memory_probe::sample();
        let ds = p * (dp - delta.clone().narrow(2, r0, n));
        dq.push(precision::matmul(ds.clone(), k.clone(), c.precision).mul_scalar(scale));
        crate::memory_probe::sample();
        dk = dk + precision::matmul(ds.swap_dims(2, 3), qt, c.precision).mul_scalar(scale);
    }
    let parts = [Tensor::cat(dq, 2), dk, dv].map(|g| g.swap_dims(1, 2).reshape([b, l, 1, h * dh]));
    Tensor::cat(parts.to_vec(), 2).reshape([b, l, 3 * h * dh])
}

/// What backward needs, on the device.
#[derive(Clone, Debug)]
struct Saved<I: Backend> {
    qkv: Tensor<I, 3>,
    ctx: Tensor<I, 4>,
    lse: Tensor<I, 4>,
    call: Call,
}

#[derive(Debug)]
struct TiledAttentionOp;

impl<I: Backend> Backward<I, 1> for TiledAttentionOp {
    type State = Saved<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            let g = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(g));
            backward(&saved, g).into_primitive().tensor()
        });
    }
}

/// The op under autodiff: context `[B, L, D]` from packed `[B, L, 3·D]` projections.
pub fn tracked<I: Backend>(
    qkv: FloatTensor<Autodiff<I>>,
    heads: usize,
    drop: Option<DropMask>,
    precision: Precision,
    budget: usize,
) -> FloatTensor<Autodiff<I>> {
    let call = Call {
        heads,
        drop,
        precision,
        budget,
    };
    let inner = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(qkv.primitive.clone()));
    let (ctx, lse) = forward(inner.clone(), call);
    let out = merge(ctx.clone()).into_primitive().tensor();
    match TiledAttentionOp
        .prepare::<NoCheckpointing>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                qkv: inner,
                ctx,
                lse,
                call,
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
    use burn::tensor::{activation, Tolerance};

    type A = Autodiff<Flex>;

    /// Attention through plain burn ops with every score in memory, and the tiles' own masks.
    fn reference(
        qkv: Tensor<A, 3>,
        heads: usize,
        drop: Option<DropMask>,
        budget: usize,
    ) -> Tensor<A, 3> {
        let [q, k, v] = split(qkv, heads);
        let [b, h, l, dh] = q.dims();
        let device = q.device();
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((dh as f64).powf(-0.5));
        let mut probs = activation::softmax(scores, 3);
        if let Some(drop) = drop {
            let masks: Vec<Tensor<Flex, 4>> = tiles(b, h, l, budget)
                .into_iter()
                .enumerate()
                .map(|(t, r)| tile_mask::<Flex>(drop, t, [b, h, r.len(), l], &device))
                .collect();
            let mask = Tensor::<A, 4>::from_inner(Tensor::cat(masks, 2));
            probs = probs * mask;
        }
        merge(probs.matmul(v))
    }

    fn compare(b: usize, l: usize, d: usize, heads: usize, drop: Option<DropMask>, budget: usize) {
        let device = Default::default();
        A::seed(&device, 5);
        let x = Tensor::<A, 3>::random([b, l, 3 * d], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<A, 3>::random([b, l, d], Distribution::Normal(0.0, 1.0), &device);
        let (xa, xb) = (x.clone().require_grad(), x.require_grad());
        let ours = Tensor::<A, 3>::from_primitive(TensorPrimitive::Float(tracked::<Flex>(
            xa.clone().into_primitive().tensor(),
            heads,
            drop,
            Precision::F32,
            budget,
        )));
        let theirs = reference(xb.clone(), heads, drop, budget);
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
    fn tiles_cover_every_row_once() {
        let t = tiles(2, 8, 1536, 2 * 8 * 1536 * 100);
        assert_eq!(t.first(), Some(&(0..100)));
        assert_eq!(t.last(), Some(&(1500..1536)));
        assert_eq!(t.iter().map(|r| r.len()).sum::<usize>(), 1536);
        assert_eq!(
            tiles(1, 1, 10, 1),
            (0..10).map(|i| i..i + 1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn forward_and_gradients_equal_materialised_attention_over_several_tiles() {
        // 24 rows in tiles of 7: four tiles, the last one short.
        compare(2, 24, 16, 4, None, 2 * 4 * 24 * 7);
    }

    #[test]
    fn with_dropout_they_equal_materialised_attention_under_the_tiles_masks() {
        let drop = DropMask {
            keep: 0.8,
            seed: 99,
        };
        compare(2, 24, 16, 4, Some(drop), 2 * 4 * 24 * 7);
    }

    #[test]
    fn a_tile_mask_keeps_its_share_and_is_drawn_again_identically() {
        let device = Default::default();
        let drop = DropMask { keep: 0.8, seed: 3 };
        let a = tile_mask::<Flex>(drop, 2, [2, 4, 64, 128], &device);
        let b = tile_mask::<Flex>(drop, 2, [2, 4, 64, 128], &device);
        let c = tile_mask::<Flex>(drop, 3, [2, 4, 64, 128], &device);
        a.clone().into_data().assert_eq(&b.into_data(), true);
        let kept = a.clone().greater_elem(0.0).float().mean().into_scalar();
        assert!((kept - 0.8).abs() < 0.01, "kept {kept}");
        assert!(
            a.equal(c).float().mean().into_scalar() < 0.9,
            "another tile, another mask"
        );
    }
}
