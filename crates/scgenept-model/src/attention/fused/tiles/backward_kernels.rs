//! The tile kernels' backward (`tiles/mod.rs`): dQ over query rows, dK and dV over key rows,
//! each gradient element written by one unit (no atomics).

use cubecl::prelude::*;

use super::tile::{mma, stage, zero};
use crate::attention::fused::kernels::mask;

/// The gradient of the queries, written into the q part of `dqkv` (as `kernels::backward_dq`).
/// Cube: `planes · 16` query rows; per block of `bk` keys: `S = Q·Kᵀ` and `dP = dO·Vᵀ` (tiles),
/// `dS = P ⊙ (dP ⊙ M/keep − δ)` on units 0–15 of each plane, `dQ += dS·K` (tiles).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn backward_dq<E: Float, T: Float>(
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
    dropout: u32,
    head_width: u32,
    #[comptime] dp: usize,
    #[comptime] planes: usize,
    #[comptime] bk: usize,
    #[comptime] tc: bool,
    #[define(E, T)] _types: [StorageType; 2],
) {
    let units = comptime!(planes * 32);
    let dh = head_width as usize;
    let len = qkv.shape(1);
    let width = qkv.shape(2);
    let d = width / 3;
    let bh = CUBE_POS_Y as usize;
    let h = bh % heads as usize;
    let b = bh / heads as usize;
    let head = b * len * width + h * dh;
    let seed = seeds[bh % seeds.len()];
    let p = UNIT_POS_X as usize / 32;
    let lane = UNIT_POS_X as usize % 32;
    let r = p * 16 + lane;
    let row0 = CUBE_POS_X as usize * planes * 16;
    let i = row0 + r;

    let mut qs = SharedMemory::<T>::new_aligned(planes * 16 * dp, 32usize);
    let mut gs = SharedMemory::<T>::new_aligned(planes * 16 * dp, 32usize);
    let mut ks = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut vs = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut dst = SharedMemory::<T>::new_aligned(planes * 16 * bk, 32usize);
    let mut s = SharedMemory::<f32>::new_aligned(planes * 16 * bk, 32usize);
    let mut dps = SharedMemory::<f32>::new_aligned(planes * 16 * bk, 32usize);
    let mut dq = SharedMemory::<f32>::new_aligned(planes * 16 * dp, 32usize);
    stage(
        qkv,
        &mut qs,
        head,
        width,
        row0,
        len,
        dh,
        planes * 16,
        dp,
        units,
    );
    let ctx_head = b * len * d + h * dh;
    stage(
        dctx,
        &mut gs,
        ctx_head,
        d,
        row0,
        len,
        dh,
        planes * 16,
        dp,
        units,
    );
    zero(&mut dq, planes * 16 * dp, units);
    let mut lse_i = 0.0f32;
    let mut delta_i = 0.0f32;
    if lane < 16 && i < len {
        lse_i = lse[bh * len + i];
        delta_i = delta[bh * len + i];
    }

    let mut j0 = 0usize;
    while j0 < len {
        stage(qkv, &mut ks, head + d, width, j0, len, dh, bk, dp, units);
        stage(
            qkv,
            &mut vs,
            head + 2 * d,
            width,
            j0,
            len,
            dh,
            bk,
            dp,
            units,
        );
        sync_cube();
        for n in 0..bk / 16 {
            let a_at = p * 16 * dp;
            let b_at = n * 16 * dp;
            let c_at = p * 16 * bk + n * 16;
            mma(
                &qs,
                a_at,
                dp,
                &ks,
                b_at,
                dp,
                &mut s,
                c_at,
                bk,
                dp / 16,
                true,
                false,
                tc,
            );
            mma(
                &gs,
                a_at,
                dp,
                &vs,
                b_at,
                dp,
                &mut dps,
                c_at,
                bk,
                dp / 16,
                true,
                false,
                tc,
            );
        }
        sync_cube();
        if lane < 16 {
            for jj in 0..bk {
                let at = r * bk + jj;
                let mut ds = 0.0f32;
                if i < len && j0 + jj < len {
                    let pr = (s[at] * scale - lse_i).exp();
                    let mut dpv = dps[at];
                    if dropout != 0u32 {
                        dpv *= mask(seed, i, j0 + jj, len, threshold, keep_scale);
                    }
                    ds = pr * (dpv - delta_i);
                }
                dst[at] = T::cast_from(ds);
            }
        }
        sync_cube();
        for n in 0..dp / 16 {
            let a_at = p * 16 * bk;
            let b_at = n * 16;
            let c_at = p * 16 * dp + n * 16;
            mma(
                &dst,
                a_at,
                bk,
                &ks,
                b_at,
                dp,
                &mut dq,
                c_at,
                dp,
                bk / 16,
                false,
                true,
                tc,
            );
        }
        sync_cube();
        j0 += bk;
    }
    if lane < 16 && i < len {
        let at = (b * len + i) * width + h * dh;
        for c in 0..dh {
            dqkv[at + c] = E::cast_from(dq[r * dp + c] * scale);
        }
    }
}

/// The gradients of the keys and values, written into the k and v parts of `dqkv` (as
/// `kernels::backward_dkv`). Cube: `planes · 16` key rows; per block of `bk` queries:
/// `Sᵀ = K·Qᵀ` and `dPᵀ = V·dOᵀ` (tiles), `P̃ᵀ` and `dSᵀ` on units 0–15 of each plane,
/// `dV += P̃ᵀ·dO` and `dK += dSᵀ·Q` (tiles).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn backward_dkv<E: Float, T: Float>(
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
    dropout: u32,
    head_width: u32,
    #[comptime] dp: usize,
    #[comptime] planes: usize,
    #[comptime] bk: usize,
    #[comptime] tc: bool,
    #[define(E, T)] _types: [StorageType; 2],
) {
    let units = comptime!(planes * 32);
    let dh = head_width as usize;
    let len = qkv.shape(1);
    let width = qkv.shape(2);
    let d = width / 3;
    let bh = CUBE_POS_Y as usize;
    let h = bh % heads as usize;
    let b = bh / heads as usize;
    let head = b * len * width + h * dh;
    let ctx_head = b * len * d + h * dh;
    let seed = seeds[bh % seeds.len()];
    let p = UNIT_POS_X as usize / 32;
    let lane = UNIT_POS_X as usize % 32;
    let r = p * 16 + lane;
    let row0 = CUBE_POS_X as usize * planes * 16;
    let j = row0 + r;

    let mut ks = SharedMemory::<T>::new_aligned(planes * 16 * dp, 32usize);
    let mut vs = SharedMemory::<T>::new_aligned(planes * 16 * dp, 32usize);
    let mut qs = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut gs = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut pw = SharedMemory::<T>::new_aligned(planes * 16 * bk, 32usize);
    let mut dst = SharedMemory::<T>::new_aligned(planes * 16 * bk, 32usize);
    let mut s = SharedMemory::<f32>::new_aligned(planes * 16 * bk, 32usize);
    let mut dps = SharedMemory::<f32>::new_aligned(planes * 16 * bk, 32usize);
    let mut dk = SharedMemory::<f32>::new_aligned(planes * 16 * dp, 32usize);
    let mut dv = SharedMemory::<f32>::new_aligned(planes * 16 * dp, 32usize);
    let mut lses = SharedMemory::<f32>::new(bk);
    let mut deltas = SharedMemory::<f32>::new(bk);
    stage(
        qkv,
        &mut ks,
        head + d,
        width,
        row0,
        len,
        dh,
        planes * 16,
        dp,
        units,
    );
    stage(
        qkv,
        &mut vs,
        head + 2 * d,
        width,
        row0,
        len,
        dh,
        planes * 16,
        dp,
        units,
    );
    zero(&mut dk, planes * 16 * dp, units);
    zero(&mut dv, planes * 16 * dp, units);

    let mut i0 = 0usize;
    while i0 < len {
        stage(qkv, &mut qs, head, width, i0, len, dh, bk, dp, units);
        stage(dctx, &mut gs, ctx_head, d, i0, len, dh, bk, dp, units);
        let loads = comptime!(bk.div_ceil(units));
        for t in 0..loads {
            let ii = t * units + UNIT_POS_X as usize;
            if ii < bk {
                let mut l = 0.0f32;
                let mut g = 0.0f32;
                if i0 + ii < len {
                    l = lse[bh * len + i0 + ii];
                    g = delta[bh * len + i0 + ii];
                }
                lses[ii] = l;
                deltas[ii] = g;
            }
        }
        sync_cube();
        for n in 0..bk / 16 {
            let a_at = p * 16 * dp;
            let b_at = n * 16 * dp;
            let c_at = p * 16 * bk + n * 16;
            mma(
                &ks,
                a_at,
                dp,
                &qs,
                b_at,
                dp,
                &mut s,
                c_at,
                bk,
                dp / 16,
                true,
                false,
                tc,
            );
            mma(
                &vs,
                a_at,
                dp,
                &gs,
                b_at,
                dp,
                &mut dps,
                c_at,
                bk,
                dp / 16,
                true,
                false,
                tc,
            );
        }
        sync_cube();
        if lane < 16 {
            for ii in 0..bk {
                let at = r * bk + ii;
                let mut kept = 0.0f32;
                let mut ds = 0.0f32;
                if j < len && i0 + ii < len {
                    let pr = (s[at] * scale - lses[ii]).exp();
                    let mut w = 1.0f32;
                    if dropout != 0u32 {
                        w = mask(seed, i0 + ii, j, len, threshold, keep_scale);
                    }
                    kept = pr * w;
                    ds = pr * (dps[at] * w - deltas[ii]);
                }
                pw[at] = T::cast_from(kept);
                dst[at] = T::cast_from(ds);
            }
        }
        sync_cube();
        for n in 0..dp / 16 {
            let a_at = p * 16 * bk;
            let b_at = n * 16;
            let c_at = p * 16 * dp + n * 16;
            mma(
                &pw,
                a_at,
                bk,
                &gs,
                b_at,
                dp,
                &mut dv,
                c_at,
                dp,
                bk / 16,
                false,
                true,
                tc,
            );
            mma(
                &dst,
                a_at,
                bk,
                &qs,
                b_at,
                dp,
                &mut dk,
                c_at,
                dp,
                bk / 16,
                false,
                true,
                tc,
            );
        }
        sync_cube();
        i0 += bk;
    }
    if lane < 16 && j < len {
        let at = (b * len + j) * width + h * dh;
        for c in 0..dh {
            dqkv[at + d + c] = E::cast_from(dk[r * dp + c] * scale);
            dqkv[at + 2 * d + c] = E::cast_from(dv[r * dp + c]);
        }
    }
}
