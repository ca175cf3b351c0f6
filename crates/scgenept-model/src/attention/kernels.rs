//! Host kernels the host attentions share (the training op's `host.rs`, `infer.rs`, the BERT
//! attention's `bert.rs`): strided `gemm`, a vectorised softmax and `exp`, the shape of a call,
//! and the split of sequences over the host threads.

use gemm::{gemm, Parallelism};

use crate::host::host_threads;

/// `dst[m×n] = scale · lhs[m×k] · rhs[k×n]` (plus `dst`'s old values when `accumulate`), on one
/// thread. `dst` and `lhs` are row-major, given as (pointer, row stride); `rhs` as (pointer,
/// column stride, row stride), so a transposed view is `(ptr, row stride of the original, 1)`.
///
/// # Safety
/// Every element the shapes and strides address must lie in its buffer, and `dst` must not
/// overlap `lhs` or `rhs`.
pub(crate) unsafe fn matmul(
    shape: (usize, usize, usize),
    dst: (*mut f32, usize),
    acc_scale: (bool, f32),
    (lhs, lhs_rs): (*const f32, usize),
    rhs: (*const f32, usize, usize),
) {
    matmul_t(shape, dst, acc_scale, (lhs, 1, lhs_rs), rhs)
}

/// [`matmul`] with `lhs` strided too, as (pointer, column stride, row stride).
///
/// # Safety
/// As [`matmul`].
pub(crate) unsafe fn matmul_t(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (*mut f32, usize),
    (accumulate, scale): (bool, f32),
    (lhs, lhs_cs, lhs_rs): (*const f32, usize, usize),
    (rhs, rhs_cs, rhs_rs): (*const f32, usize, usize),
) {
    gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        if accumulate { 1.0 } else { 0.0 },
        scale,
        false,
        false,
        false,
        Parallelism::None,
    )
}

/// Lanes of the partial maxima and sums, so the row loops vectorise (a single f32 accumulator
/// would pin the additions to one order and keep them scalar).
const LANES: usize = 16;

/// Runs `f` inside a function compiled for AVX2 + FMA when this CPU has them, so the loops
/// inlined into `f` vectorise 8 lanes wide (the crate itself targets baseline x86-64: SSE2, 4
/// lanes). `gemm` dispatches on its own.
#[inline(always)]
pub(crate) fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Softmax of one row in place; returns the row's max and the sum of `exp(x − max)`.
#[inline(always)]
pub(crate) fn softmax_in_place(row: &mut [f32]) -> (f32, f32) {
    let (max, total) = exp_shifted_in_place(row, exp);
    let inv = 1.0 / total;
    for v in row.iter_mut() {
        *v *= inv;
    }
    (max, total)
}

/// `expf(x − max)` in place over one row, `expf` an `exp` for x ≤ 0; returns the max and the sum
/// (softmax without its normalisation).
#[inline(always)]
pub(crate) fn exp_shifted_in_place(row: &mut [f32], expf: impl Fn(f32) -> f32) -> (f32, f32) {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in maxes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&maxes)
        .fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a });
    let mut sums = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (s, v) in sums.iter_mut().zip(c) {
            *v = expf(*v - max);
            *s += *v;
        }
    }
    let mut sum: f32 = 0.0;
    for v in chunks.into_remainder() {
        *v = expf(*v - max);
        sum += *v;
    }
    (max, sum + sums.iter().sum::<f32>())
}

/// `eˣ` for x ≤ 0 (softmax after subtracting the row max) in straight-line f32 arithmetic the
/// compiler vectorises: `x = n·ln2 + r`, `eʳ` by Cephes' degree-6 polynomial, `2ⁿ` through
/// the exponent bits. Relative error below 3e-7 (test); underflows to 0 below −87.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    // Round to nearest by adding and subtracting 1.5·2²³ (`round` is a libm call here). In
    // [2²³, 2²⁴) floats are the integers, so `t`'s bits are SHIFT's plus n: n as an integer
    // without a float→int `as` cast, which Rust saturates and so cannot vectorise.
    const SHIFT: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let n_int = t.to_bits().wrapping_sub(SHIFT.to_bits()) as i32;
    // ln 2 split in two so that n·ln2 is exact enough.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let bits = (n_int.wrapping_add(127) as u32) << 23;
    let two_n = f32::from_bits(bits);
    if x <= -87.0 {
        0.0
    } else {
        e * two_n
    }
}

/// Shape of one attention call: `b` sequences of `l` tokens, width `d`, `heads` heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub b: usize,
    pub l: usize,
    pub d: usize,
    pub heads: usize,
}

impl Dims {
    pub fn dh(&self) -> usize {
        self.d / self.heads
    }
}

/// `out` cut into consecutive pieces of `per` sequences of `rows_per_seq` values each (empty
/// pieces when `rows_per_seq` is 0).
fn pieces(out: &mut [f32], rows_per_seq: usize, per: usize, n: usize) -> Vec<&mut [f32]> {
    if rows_per_seq == 0 {
        return (0..n).map(|_| &mut [][..]).collect();
    }
    out.chunks_mut(per * rows_per_seq).collect()
}

/// Runs `f(sequences, [out_a, out_b])` over contiguous ranges of the `b` sequences, one range per
/// host thread ([`host_threads`]); each call writes only its own sequences' rows of the outputs.
pub(crate) fn for_sequences(
    b: usize,
    rows_per_seq: [usize; 2],
    [a, c]: [&mut [f32]; 2],
    f: impl Fn(std::ops::Range<usize>, [&mut [f32]; 2]) + Sync,
) {
    let threads = host_threads().min(b);
    if threads < 2 {
        f(0..b, [a, c]);
        return;
    }
    let per = b.div_ceil(threads);
    let n = b.div_ceil(per);
    let (pa, pc) = (
        pieces(a, rows_per_seq[0], per, n),
        pieces(c, rows_per_seq[1], per, n),
    );
    std::thread::scope(|s| {
        for (i, (ca, cc)) in pa.into_iter().zip(pc).enumerate() {
            let f = &f;
            let seqs = i * per..(i * per + per).min(b);
            s.spawn(move || f(seqs, [ca, cc]));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_f64_exp() {
        let mut worst = 0.0f64;
        let mut x = -86.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64) - want).abs() / want;
            worst = worst.max(rel);
            x += 0.001_7;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e30), 0.0);
    }
}
