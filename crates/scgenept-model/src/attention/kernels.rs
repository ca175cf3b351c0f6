//! BERT self-attention computed on the host with `gemm`, for the CPU text embedder, and the
//! host helpers it shares with the scGenePT attention op (`attention.rs`): strided `gemm`, a
//! vectorised softmax and `exp`, and the test for host-memory backends.
//!
//! Through burn ops the block costs three projections (each re-packing the input), a copy of Q,
//! K and V into head-major layout, a `[B, H, L, L]` score tensor that is scaled, zero-filled
//! and swept three more times by softmax with a scalar `exp`, and a copy back to token-major
//! layout: on 2 cores these were about as costly as the layer's matmuls. Here one fused QKV
//! projection writes `[T, 3·D]`, each head reads its Q, K and V straight out of that buffer
//! through strides, its `L × L` scores stay in one reused, cache-resident buffer, and the
//! softmax `exp` vectorises. The `1/√d_head` scale is folded into the query weights at load.

use std::any::TypeId;

use burn::tensor::backend::Backend;
use gemm::{gemm, Parallelism};

/// Threads the host kernels may use: what [`with_host_threads`] set for this thread, else
/// `SCGENEPT_THREADS` when set (a sweep running several runs side by side gives each its share
/// of the cores), else every core.
pub fn host_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    LOCAL_THREADS.with(|t| t.get()).unwrap_or_else(|| {
        *THREADS.get_or_init(|| {
            std::env::var("SCGENEPT_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
    })
}

thread_local! {
    static LOCAL_THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with the host kernels of this thread limited to `n` threads: a caller that already
/// runs one forward per core (batched prediction) keeps them from spawning more.
pub fn with_host_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    /// Puts the previous setting back, also when `f` panics.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOCAL_THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(LOCAL_THREADS.with(|t| t.replace(Some(n.max(1)))));
    f()
}

/// Whether `B` keeps its tensors in host memory (burn-flex, with or without autodiff), so host
/// kernels can work on its data directly.
pub fn on_host<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    {
        TypeId::of::<B::Device>() == TypeId::of::<burn_flex::FlexDevice>()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = TypeId::of::<B::Device>;
        false
    }
}

/// Query, key and value projections as one `[D, 3·D]` matrix (row-major, input × output, the
/// query columns pre-scaled by `1/√d_head`) and its `[3·D]` bias.
#[derive(Debug, Clone)]
pub struct FusedQkv {
    weight: Vec<f32>,
    bias: Vec<f32>,
    d: usize,
    heads: usize,
}

impl FusedQkv {
    /// From PyTorch `nn.Linear` weights (`[out, in]`, row-major) and biases of the three
    /// projections, each `D × D`.
    pub fn from_torch(
        q: (&[f32], &[f32]),
        k: (&[f32], &[f32]),
        v: (&[f32], &[f32]),
        d: usize,
        heads: usize,
    ) -> Self {
        let scale = ((d / heads) as f32).powf(-0.5);
        let mut weight = vec![0f32; d * 3 * d];
        let mut bias = Vec::with_capacity(3 * d);
        for (part, ((w, b), s)) in [(q, scale), (k, 1.0), (v, 1.0)].into_iter().enumerate() {
            for o in 0..d {
                for i in 0..d {
                    weight[i * 3 * d + part * d + o] = w[o * d + i] * s;
                }
            }
            bias.extend(b.iter().map(|x| x * s));
        }
        Self {
            weight,
            bias,
            d,
            heads,
        }
    }

    /// Self-attention context `[B·L, D]` (token-major, heads side by side) for `x` `[B·L, D]`
    /// holding `B` sequences of `L` tokens, of which the first `lengths[b]` are real (`None`:
    /// all). Padded keys get no weight; padded queries get finite, meaningless rows.
    pub fn forward(&self, x: &[f32], b: usize, l: usize, lengths: Option<&[usize]>) -> Vec<f32> {
        let d = self.d;
        let t = b * l;
        assert_eq!(x.len(), t * d, "attention input is not [B·L, D]");
        let w3 = 3 * d;
        let mut qkv: Vec<f32> = self.bias.repeat(t);
        // qkv = qkv + x · W
        unsafe {
            matmul(
                (t, w3, d),
                (qkv.as_mut_ptr(), w3),
                (true, 1.0),
                (x.as_ptr(), d),
                (self.weight.as_ptr(), 1, w3),
            );
        }
        attention_packed(&qkv, (b, l, d, self.heads), 1.0, lengths)
    }
}

/// Multi-head self-attention from a packed `[B·L, 3·D]` buffer (each row `[q | k | v]`, heads
/// side by side in each part), scores scaled by `scale`: the context `[B·L, D]`. Sequence `b`'s
/// first `lengths[b]` tokens are real (`None`: all); padded keys get no weight.
pub fn attention_packed(
    qkv: &[f32],
    (b, l, d, heads): (usize, usize, usize, usize),
    scale: f32,
    lengths: Option<&[usize]>,
) -> Vec<f32> {
    assert_eq!(
        qkv.len(),
        b * l * 3 * d,
        "attention input is not [B·L, 3·D]"
    );
    let mut ctx = vec![0f32; b * l * d];
    vectorised(|| attend(qkv, &mut ctx, 0..b, l, d, heads, scale, lengths));
    ctx
}

/// [`attention_packed`] for the sequences `seqs`, writing their rows of the context into `out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend(
    qkv: &[f32],
    out: &mut [f32],
    seqs: std::ops::Range<usize>,
    l: usize,
    d: usize,
    heads: usize,
    scale: f32,
    lengths: Option<&[usize]>,
) {
    let (w3, dh) = (3 * d, d / heads);
    let first = seqs.start;
    let mut scores = vec![0f32; l * l];
    for bi in seqs {
        let n = lengths.map_or(l, |ls| ls[bi].clamp(1, l));
        let base = bi * l * w3;
        for h in 0..heads {
            let q = qkv[base + h * dh..].as_ptr();
            let k = qkv[base + d + h * dh..].as_ptr();
            let v = qkv[base + 2 * d + h * dh..].as_ptr();
            let dst = out[(bi - first) * l * d + h * dh..].as_mut_ptr();
            // scores[L, n] = scale · Q[L, dh] · K[n, dh]ᵀ, row softmax, then ctx = P · V[n, dh].
            unsafe {
                // Kᵀ: column j is K's row j.
                matmul(
                    (l, n, dh),
                    (scores.as_mut_ptr(), n),
                    (false, scale),
                    (q, w3),
                    (k, w3, 1),
                );
            }
            for row in scores[..l * n].chunks_exact_mut(n) {
                softmax_in_place(row);
            }
            unsafe {
                matmul(
                    (l, dh, n),
                    (dst, d),
                    (false, 1.0),
                    (scores.as_ptr(), n),
                    (v, 1, w3),
                );
            }
        }
    }
}

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

    /// Naive attention in f64 with the same weights; sequence 1 has two padded tokens.
    #[test]
    fn matches_naive_attention_with_padding() {
        let (d, heads, b, l) = (8, 2, 2, 5);
        let lengths = [5usize, 3];
        let val = |i: usize, s: f32| ((i as f32 * 0.37 + s).sin()) * 0.5;
        let mats: Vec<(Vec<f32>, Vec<f32>)> = (0..3)
            .map(|m| {
                let w = (0..d * d).map(|i| val(i, m as f32)).collect();
                let bias = (0..d).map(|i| val(i, 10.0 + m as f32)).collect();
                (w, bias)
            })
            .collect();
        let proj = |m: usize| (mats[m].0.as_slice(), mats[m].1.as_slice());
        let fused = FusedQkv::from_torch(proj(0), proj(1), proj(2), d, heads);
        let x: Vec<f32> = (0..b * l * d).map(|i| val(i, 3.0)).collect();
        let got = fused.forward(&x, b, l, Some(&lengths));
        let dh = d / heads;
        let linear = |m: usize, tok: usize| -> Vec<f64> {
            (0..d)
                .map(|o| {
                    let (w, bias) = &mats[m];
                    bias[o] as f64
                        + (0..d)
                            .map(|i| w[o * d + i] as f64 * x[tok * d + i] as f64)
                            .sum::<f64>()
                })
                .collect()
        };
        for bi in 0..b {
            let n = lengths[bi];
            for qi in 0..n {
                let q = linear(0, bi * l + qi);
                for h in 0..heads {
                    let s: Vec<f64> = (0..n)
                        .map(|kj| {
                            let k = linear(1, bi * l + kj);
                            (0..dh).map(|e| q[h * dh + e] * k[h * dh + e]).sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    for e in 0..dh {
                        let want: f64 = (0..n)
                            .map(|kj| (s[kj] - m).exp() / z * linear(2, bi * l + kj)[h * dh + e])
                            .sum();
                        let have = got[(bi * l + qi) * d + h * dh + e] as f64;
                        assert!(
                            (have - want).abs() < 1e-5,
                            "{bi} {qi} {h} {e}: {have} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
