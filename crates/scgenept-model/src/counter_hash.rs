//! The counter hashes every dropout mask is drawn from (docs/attention.md, "The dropout mask is a
//! function, not a tensor"): SplitMix64 of (seed, index) and the attention dropout's settings.
//! Its own module so that the dropouts (`dropout.rs`) and the attentions that use it
//! (`attention/`) import it without importing each other.

/// Attention dropout of one call: keep probability and the call's seed (the mask of element `i`
/// is `hash(seed, i) < keep`, regenerated wherever it is needed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropMask {
    pub keep: f32,
    pub seed: u64,
}

/// A 64-bit mix of (seed, index): SplitMix64's finaliser over `seed + index · γ`.
#[inline(always)]
pub fn hash(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
