//! BERT self-attention computed on the host with `gemm`, for the CPU text embedder (MiniLM in the
//! knowledge crate), on the host helpers of `kernels.rs`.
//!
//! Through burn ops the block costs three projections (each re-packing the input), a copy of Q,
//! K and V into head-major layout, a `[B, H, L, L]` score tensor that is scaled, zero-filled
//! and swept three more times by softmax with a scalar `exp`, and a copy back to token-major
//! layout: on 2 cores these were about as costly as the layer's matmuls. Here one fused QKV
//! projection writes `[T, 3·D]`, each head reads its Q, K and V straight out of that buffer
//! through strides, its `L × L` scores stay in one reused, cache-resident buffer, and the
//! softmax `exp` vectorises. The `1/√d_head` scale is folded into the query weights at load.

use super::kernels::{matmul, softmax_in_place, vectorised};

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

#[cfg(test)]
mod tests {
    use super::*;

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
