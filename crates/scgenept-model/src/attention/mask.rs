//! The attention's dropout mask as a counter hash: `M[b, h, i, j]` is a pure function of (the
//! call's seed, b, h, i, j), so the op draws it again in backward instead of storing it, and any
//! backend can draw the same bits (docs/attention.md). The call's seed is one draw from the
//! backend's seeded generator, so `B::seed` per step fixes every mask.

use crate::counter_hash::hash;

/// `round(keep · 2³²)`: an element is kept when its 32-bit hash is below it.
pub fn keep_threshold(keep: f32) -> u64 {
    ((keep as f64) * 4_294_967_296.0).round() as u64
}

/// A 32-bit avalanche mix (Wellons' `lowbias32`): cheap in 32-bit lanes on a CPU or a GPU.
#[inline(always)]
pub fn mix32(mut x: u32) -> u32 {
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

/// Whether element `index` is kept by the device dropout (`fused/kernels.rs`, `dropout`) with
/// this 32-bit seed and [`keep_threshold`]: the kernel's hash, for tests on the host.
pub fn device_kept(seed: u32, index: usize, threshold: u32) -> bool {
    mix32((index as u32).wrapping_mul(0x9e37_79b9) ^ seed) < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
