//! The portable fused attention kernels in CubeCL (docs/attention.md, "Fused kernels"): f32
//! arithmetic, shared memory only — no plane (subgroup) operations, no cooperative matrices, no
//! float atomics — so the same code runs on CUDA and on wgpu, Mesa's lavapipe included.
//!
//! Every kernel reads the packed projections `[B, L, 3·D]` in place (row `[q | k | v]`, heads
//! side by side) and works on one (sequence, head) per cube row `CUBE_POS_Y`; a cube's units own
//! one query row (forward, dQ) or one key row (dK, dV) each and walk the other side in blocks of
//! `block` rows staged in shared memory. Rows past `L` load zeros, take part in every barrier
//! and write nothing, so any `L` works.
//!
//! - [`forward`]: online softmax, the context `[B, L, D]` and the log-sum-exp `[B·H·L]`;
//! - [`delta`]: `δ = rowsum(dO ⊙ O)` per query row;
//! - [`backward_dq`]: `dQ = scale · Σ_j dS_ij K_j`, one unit per query row;
//! - [`backward_dkv`]: `dV = Σ_i P̃_ij dO_i`, `dK = scale · Σ_i dS_ij Q_i`, one unit per key row;
//! - [`dropout`]: the other dropouts of the network, their mask a counter hash of (seed, index).
//!
//! The projections, the context and their gradients are stored as `E` (f32, or bf16 under
//! `precision = "bf16"`) and read into f32: every sum, the softmax and the log-sum-exp are f32.
//!
//! Backward recomputes `P = exp(S − lse)` and the dropout mask; each output element is written
//! by exactly one unit after a fixed-order loop, so results are deterministic.

use cubecl::prelude::*;

/// Wellons' `lowbias32`, as `attention::mask::mix32`.
#[cube]
fn mix32(x: u32) -> u32 {
    let mut x = x;
    x ^= x >> 16u32;
    x *= 0x7feb_352du32;
    x ^= x >> 15u32;
    x *= 0x846c_a68bu32;
    x ^ (x >> 16u32)
}

/// The scaled dropout factor of element `(i, j)` of one head's `L × L` probabilities: `scale`
/// when kept, else 0 (`attention::mask::mask_row`, bit for bit).
#[cube]
pub(super) fn mask(seed: u32, i: usize, j: usize, len: usize, threshold: u32, scale: f32) -> f32 {
    let x = u32::cast_from(i * len + j) * 0x9e37_79b9u32;
    let mut out = 0.0f32;
    if mix32(x ^ seed) < threshold {
        out = scale;
    }
    out
}

/// `Σ_c a[c] · shared[at + c]` over one head's width.
#[cube]
fn dot_shared(a: &Array<f32>, shared: &SharedMemory<f32>, at: usize, #[comptime] dh: usize) -> f32 {
    let mut sum = 0.0f32;
    #[unroll]
    for c in 0..dh {
        sum += a[c] * shared[at + c];
    }
    sum
}

/// Copies row `row` of one head's part `part` (0 q, 1 k, 2 v) of `qkv` into `out` (zeros past
/// the sequence), times `factor`.
#[cube]
fn load_row<E: Float>(
    qkv: &Tensor<E>,
    out: &mut Array<f32>,
    base: usize,
    row: usize,
    len: usize,
    part: usize,
    factor: f32,
    #[comptime] dh: usize,
) {
    let width = qkv.shape(2);
    let at = base + row * width + part * (width / 3);
    #[unroll]
    for c in 0..dh {
        out[c] = 0.0f32;
        if row < len {
            out[c] = f32::cast_from(qkv[at + c]) * factor;
        }
    }
}

/// Unit `u` stages row `row` of one head's part `part` into `shared[u·dh ..]` (zeros past the
/// sequence).
#[cube]
fn stage_row<E: Float>(
    qkv: &Tensor<E>,
    shared: &mut SharedMemory<f32>,
    base: usize,
    row: usize,
    len: usize,
    part: usize,
    #[comptime] dh: usize,
) {
    let width = qkv.shape(2);
    let at = base + row * width + part * (width / 3);
    let u = UNIT_POS_X as usize;
    #[unroll]
    for c in 0..dh {
        shared[u * dh + c] = 0.0f32;
        if row < len {
            shared[u * dh + c] = f32::cast_from(qkv[at + c]);
        }
    }
}

/// Forward. Units: `block` query rows of one (sequence, head) (`CUBE_POS_Y = b·H + h`); the
/// keys and values walk through shared memory a block at a time.
#[cube(launch)]
pub fn forward<E: Float>(
    qkv: &Tensor<E>,
    seeds: &Tensor<u32>,
    ctx: &mut Tensor<E>,
    lse: &mut Tensor<f32>,
    heads: u32,
    scale: f32,
    threshold: u32,
    keep_scale: f32,
    #[comptime] dh: usize,
    #[comptime] block: usize,
    dropout: u32,
    #[define(E)] _e: StorageType,
) {
    let len = qkv.shape(1);
    let bh = CUBE_POS_Y as usize;
    let h = bh % heads as usize;
    let b = bh / heads as usize;
    let base = b * len * qkv.shape(2) + h * dh;
    let i = CUBE_POS_X as usize * block + UNIT_POS_X as usize;
    let seed = seeds[bh % seeds.len()];
    let mut q = Array::<f32>::new(dh);
    let mut acc = Array::<f32>::new(dh);
    load_row(qkv, &mut q, base, i, len, 0, scale, dh);
    #[unroll]
    for c in 0..dh {
        acc[c] = 0.0f32;
    }
    let mut ks = SharedMemory::<f32>::new(block * dh);
    let mut vs = SharedMemory::<f32>::new(block * dh);
    let mut m = f32::new(-1.0e30);
    let mut sum = 0.0f32;
    let mut j0 = 0usize;
    while j0 < len {
        stage_row(qkv, &mut ks, base, j0 + UNIT_POS_X as usize, len, 1, dh);
        stage_row(qkv, &mut vs, base, j0 + UNIT_POS_X as usize, len, 2, dh);
        sync_cube();
        let mut n = len - j0;
        if n > block {
            n = block;
        }
        if i < len {
            for jj in 0..n {
                let v = dot_shared(&q, &ks, jj * dh, dh);
                // A new maximum rescales what was summed so far (rare after the first keys).
                if v > m {
                    let corr = (m - v).exp();
                    sum *= corr;
                    #[unroll]
                    for c in 0..dh {
                        acc[c] *= corr;
                    }
                    m = v;
                }
                let p = (v - m).exp();
                sum += p;
                let mut w = p;
                if dropout != 0u32 {
                    w = p * mask(seed, i, j0 + jj, len, threshold, keep_scale);
                }
                #[unroll]
                for c in 0..dh {
                    acc[c] += w * vs[jj * dh + c];
                }
            }
        }
        sync_cube();
        j0 += block;
    }
    if i < len {
        let d = qkv.shape(2) / 3;
        let at = (b * len + i) * d + h * dh;
        #[unroll]
        for c in 0..dh {
            ctx[at + c] = E::cast_from(acc[c] / sum);
        }
        lse[bh * len + i] = m + sum.ln();
    }
}

/// `δ[b·H·L + h·L + i] = Σ_c dO ⊙ O` over one head's width; one unit per query row.
#[cube(launch)]
pub fn delta<E: Float>(
    dctx: &Tensor<E>,
    ctx: &Tensor<E>,
    out: &mut Tensor<f32>,
    heads: u32,
    #[comptime] dh: usize,
    #[define(E)] _e: StorageType,
) {
    let len = ctx.shape(1);
    let bh = CUBE_POS_Y as usize;
    let i = ABSOLUTE_POS_X as usize;
    if i < len {
        let h = bh % heads as usize;
        let b = bh / heads as usize;
        let at = (b * len + i) * ctx.shape(2) + h * dh;
        let mut sum = 0.0f32;
        #[unroll]
        for c in 0..dh {
            sum += f32::cast_from(dctx[at + c]) * f32::cast_from(ctx[at + c]);
        }
        out[bh * len + i] = sum;
    }
}

/// The gradient of the queries, written into the q part of `dqkv`. Units: `block` query rows.
#[cube(launch)]
pub fn backward_dq<E: Float>(
    qkv: &Tensor<E>,
    dctx: &Tensor<E>,
    lse: &Tensor<f32>,
    delta: &Tensor<f32>,
    seeds: &Tensor<u32>,
    dqkv: &mut Tensor<E>,
    heads: u32,
    scale: f32,
    threshold: u32,
    keep_scale: f32,
    #[comptime] dh: usize,
    #[comptime] block: usize,
    dropout: u32,
    #[define(E)] _e: StorageType,
) {
    let len = qkv.shape(1);
    let width = qkv.shape(2);
    let d = width / 3;
    let bh = CUBE_POS_Y as usize;
    let h = bh % heads as usize;
    let b = bh / heads as usize;
    let base = b * len * width + h * dh;
    let i = CUBE_POS_X as usize * block + UNIT_POS_X as usize;
    let seed = seeds[bh % seeds.len()];
    let mut q = Array::<f32>::new(dh);
    let mut go = Array::<f32>::new(dh);
    let mut dq = Array::<f32>::new(dh);
    load_row(qkv, &mut q, base, i, len, 0, scale, dh);
    let at_o = (b * len + i) * d + h * dh;
    #[unroll]
    for c in 0..dh {
        go[c] = 0.0f32;
        if i < len {
            go[c] = f32::cast_from(dctx[at_o + c]);
        }
        dq[c] = 0.0f32;
    }
    let row = bh * len + i;
    let mut lse_i = 0.0f32;
    let mut delta_i = 0.0f32;
    if i < len {
        lse_i = lse[row];
        delta_i = delta[row];
    }
    let mut ks = SharedMemory::<f32>::new(block * dh);
    let mut vs = SharedMemory::<f32>::new(block * dh);
    let mut j0 = 0usize;
    while j0 < len {
        stage_row(qkv, &mut ks, base, j0 + UNIT_POS_X as usize, len, 1, dh);
        stage_row(qkv, &mut vs, base, j0 + UNIT_POS_X as usize, len, 2, dh);
        sync_cube();
        let mut n = len - j0;
        if n > block {
            n = block;
        }
        if i < len {
            for jj in 0..n {
                let p = (dot_shared(&q, &ks, jj * dh, dh) - lse_i).exp();
                let mut dp = dot_shared(&go, &vs, jj * dh, dh);
                if dropout != 0u32 {
                    dp *= mask(seed, i, j0 + jj, len, threshold, keep_scale);
                }
                let ds = p * (dp - delta_i);
                #[unroll]
                for c in 0..dh {
                    dq[c] += ds * ks[jj * dh + c];
                }
            }
        }
        sync_cube();
        j0 += block;
    }
    if i < len {
        let at = (b * len + i) * width + h * dh;
        #[unroll]
        for c in 0..dh {
            dqkv[at + c] = E::cast_from(dq[c] * scale);
        }
    }
}

/// The gradients of the keys and values, written into the k and v parts of `dqkv`. Units:
/// `block` key rows; query rows, their output gradients, log-sum-exps and δ staged per block.
#[cube(launch)]
pub fn backward_dkv<E: Float>(
    qkv: &Tensor<E>,
    dctx: &Tensor<E>,
    lse: &Tensor<f32>,
    delta: &Tensor<f32>,
    seeds: &Tensor<u32>,
    dqkv: &mut Tensor<E>,
    heads: u32,
    scale: f32,
    threshold: u32,
    keep_scale: f32,
    #[comptime] dh: usize,
    #[comptime] block: usize,
    dropout: u32,
    #[define(E)] _e: StorageType,
) {
    let len = qkv.shape(1);
    let width = qkv.shape(2);
    let d = width / 3;
    let bh = CUBE_POS_Y as usize;
    let h = bh % heads as usize;
    let b = bh / heads as usize;
    let base = b * len * width + h * dh;
    let u = UNIT_POS_X as usize;
    let j = CUBE_POS_X as usize * block + u;
    let seed = seeds[bh % seeds.len()];
    let mut k = Array::<f32>::new(dh);
    let mut v = Array::<f32>::new(dh);
    let mut dk = Array::<f32>::new(dh);
    let mut dv = Array::<f32>::new(dh);
    load_row(qkv, &mut k, base, j, len, 1, scale, dh);
    load_row(qkv, &mut v, base, j, len, 2, 1.0f32, dh);
    #[unroll]
    for c in 0..dh {
        dk[c] = 0.0f32;
        dv[c] = 0.0f32;
    }
    let mut qs = SharedMemory::<f32>::new(block * dh);
    let mut gos = SharedMemory::<f32>::new(block * dh);
    let mut lses = SharedMemory::<f32>::new(block);
    let mut deltas = SharedMemory::<f32>::new(block);
    let mut i0 = 0usize;
    while i0 < len {
        let i = i0 + u;
        stage_row(qkv, &mut qs, base, i, len, 0, dh);
        let at_o = (b * len + i) * d + h * dh;
        #[unroll]
        for c in 0..dh {
            gos[u * dh + c] = 0.0f32;
            if i < len {
                gos[u * dh + c] = f32::cast_from(dctx[at_o + c]);
            }
        }
        lses[u] = 0.0f32;
        deltas[u] = 0.0f32;
        if i < len {
            lses[u] = lse[bh * len + i];
            deltas[u] = delta[bh * len + i];
        }
        sync_cube();
        let mut n = len - i0;
        if n > block {
            n = block;
        }
        if j < len {
            for ii in 0..n {
                let p = (dot_shared(&k, &qs, ii * dh, dh) - lses[ii]).exp();
                let mut w = 1.0f32;
                if dropout != 0u32 {
                    w = mask(seed, i0 + ii, j, len, threshold, keep_scale);
                }
                let dp = dot_shared(&v, &gos, ii * dh, dh) * w;
                let ds = p * (dp - deltas[ii]);
                let pw = p * w;
                #[unroll]
                for c in 0..dh {
                    dv[c] += pw * gos[ii * dh + c];
                    dk[c] += ds * qs[ii * dh + c];
                }
            }
        }
        sync_cube();
        i0 += block;
    }
    if j < len {
        let at = (b * len + j) * width + h * dh;
        #[unroll]
        for c in 0..dh {
            dqkv[at + d + c] = E::cast_from(dk[c] * scale);
            dqkv[at + 2 * d + c] = E::cast_from(dv[c]);
        }
    }
}

/// Dropout as a counter hash (`attention::mask::device_kept`): `out[i] = x[i] · scale` when
/// element `i` is kept, else 0, computed in f32 and written as `Y`; with `relu`, `max(x[i], 0)`
/// in place of `x[i]` (`crate::dropout::relu_dropout`). Applied again to the gradient in backward, so no mask
/// is stored. The 32-bit seed is the bits of `seed[0]`, an integer drawn on the device (never
/// read back).
#[cube(launch)]
pub fn dropout<I: Int, X: Float, Y: Float>(
    x: &Tensor<X>,
    seed: &Tensor<I>,
    out: &mut Tensor<Y>,
    threshold: u32,
    scale: f32,
    #[comptime] relu: bool,
    #[define(I, X, Y)] _types: [StorageType; 3],
) {
    let i = ((CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) * CUBE_DIM_X + UNIT_POS_X) as usize;
    if i < out.len() {
        let mut v = 0.0f32;
        if mix32((u32::cast_from(i) * 0x9e37_79b9u32) ^ u32::cast_from(seed[0])) < threshold {
            v = f32::cast_from(x[i]);
            if relu && v < 0.0f32 {
                v = 0.0f32;
            }
            v *= scale;
        }
        out[i] = Y::cast_from(v);
    }
}
