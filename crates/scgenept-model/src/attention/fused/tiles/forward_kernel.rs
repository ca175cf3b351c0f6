//! The tile kernels' forward (`tiles/mod.rs`).

use cubecl::prelude::*;

use super::tile::{mma, stage, zero};
use crate::attention::fused::kernels::mask;

/// Forward: the context `[B, L, D]` and the log-sum-exp `[B·H·L]` (as `kernels::forward`).
/// Cube: `planes · 16` query rows of one (sequence, head) (`CUBE_POS_Y = b·H + h`); keys and
/// values walk through shared memory `bk` rows at a time. Per block: `S = Q·Kᵀ` (tiles), the
/// online softmax and the dropout on units 0–15 of each plane (the output rows rescaled in
/// shared memory), `O += P̃·V` (tiles).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn forward<E: Float, T: Float>(
    qkv: &Tensor<E>,
    seeds: &Tensor<u32>,
    ctx: &mut Tensor<E>,
    lse: &mut Tensor<f32>,
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
    let mut ks = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut vs = SharedMemory::<T>::new_aligned(bk * dp, 32usize);
    let mut pt = SharedMemory::<T>::new_aligned(planes * 16 * bk, 32usize);
    let mut s = SharedMemory::<f32>::new_aligned(planes * 16 * bk, 32usize);
    let mut o = SharedMemory::<f32>::new_aligned(planes * 16 * dp, 32usize);
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
    zero(&mut o, planes * 16 * dp, units);

    let mut m = f32::new(-1.0e30);
    let mut sum = 0.0f32;
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
        }
        sync_cube();
        if lane < 16 {
            let mut mb = m;
            for jj in 0..bk {
                let v = s[r * bk + jj] * scale;
                if j0 + jj < len && v > mb {
                    mb = v;
                }
            }
            let corr = (m - mb).exp();
            let mut add = 0.0f32;
            for jj in 0..bk {
                let mut w = 0.0f32;
                if j0 + jj < len {
                    let e = (s[r * bk + jj] * scale - mb).exp();
                    add += e;
                    w = e;
                    if dropout != 0u32 {
                        w = e * mask(seed, i, j0 + jj, len, threshold, keep_scale);
                    }
                }
                pt[r * bk + jj] = T::cast_from(w);
            }
            sum = sum * corr + add;
            m = mb;
            for c in 0..dp {
                o[r * dp + c] *= corr;
            }
        }
        sync_cube();
        for n in 0..dp / 16 {
            let a_at = p * 16 * bk;
            let b_at = n * 16;
            let c_at = p * 16 * dp + n * 16;
            mma(
                &pt,
                a_at,
                bk,
                &vs,
                b_at,
                dp,
                &mut o,
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
        let at = (b * len + i) * d + h * dh;
        for c in 0..dh {
            ctx[at + c] = E::cast_from(o[r * dp + c] / sum);
        }
        lse[bh * len + i] = m + sum.ln();
    }
}
