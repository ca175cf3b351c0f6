//! Attention without gradients on the host, for narrow heads (d_head 8, 16 or 32): register-
//! blocked scores, softmax and `P·V` over a few query rows at a time, so the scores never leave
//! L1 and no `gemm` packs operands whose inner dimension is only d_head wide.
//!
//! The training op (`host.rs`) computes `S = Q Kᵀ` and `O = P V` with `gemm` over query
//! tiles and keeps the log-sum-exp for its backward. At d_head 16 (the demo network) both
//! products have inner or outer dimension 16, where `gemm`'s packing and edge handling cost about
//! as much as the arithmetic; prediction spent 37% of its time there (benches/README.md,
//! "predict"). Here, per sequence and head, Kᵀ is packed once (`[d_head, L]`), then for `R` query
//! rows at a time: scores in `R × 16`-lane accumulators, the row softmax left unnormalised, the
//! context accumulated from V's rows and divided by the row sums at the end. Same function as the
//! training op's forward (test: within 1e-5); other head widths go through that forward.

use super::kernels::{exp_shifted_in_place, for_sequences, vectorised, Dims};

/// Lanes of one score accumulator: two AVX2 registers. The products use `mul_add`, one FMA
/// instruction inside `vectorised` (a separate multiply and add otherwise: Rust does not fuse).
const LANES: usize = 16;

/// The context `[B·L, D]` of packed `[B, L, 3·D]` projections (`1/√d_head` applied here), no
/// dropout. Sequences are split over the host threads as in the training op (`for_sequences`;
/// prediction runs one batch per core and sets `host_threads` to 1). `None` at a head width
/// these kernels do not cover (8, 16 and 32 are): the caller falls back to the training kernel.
pub fn forward(qkv: &[f32], dims: Dims) -> Option<Vec<f32>> {
    let Dims { b, l, d, heads } = dims;
    assert_eq!(
        qkv.len(),
        b * l * 3 * d,
        "attention input is not [B, L, 3·D]"
    );
    let kernel: fn(&[f32], Dims, &mut [f32]) = match d / heads {
        8 => |x, dims, out| vectorised(|| run::<8, 4, 2>(x, dims, out)),
        16 => |x, dims, out| vectorised(|| run::<16, 4, 1>(x, dims, out)),
        32 => |x, dims, out| vectorised(|| run::<32, 2, 1>(x, dims, out)),
        _ => return None,
    };
    let mut ctx = vec![0f32; b * l * d];
    let w = l * 3 * d;
    for_sequences(b, [l * d, 0], [&mut ctx, &mut []], |seqs, [out, _]| {
        let x = &qkv[seqs.start * w..seqs.end * w];
        kernel(
            x,
            Dims {
                b: seqs.len(),
                ..dims
            },
            out,
        )
    });
    Some(ctx)
}

/// Every sequence and head of `qkv` into `ctx`, `R` query rows at a time (`U`: [`context`]).
#[inline(always)]
fn run<const DH: usize, const R: usize, const U: usize>(qkv: &[f32], dims: Dims, ctx: &mut [f32]) {
    let Dims { b, l, d, heads } = dims;
    let w3 = 3 * d;
    let scale = (DH as f32).powf(-0.5);
    let lp = l.next_multiple_of(LANES);
    let mut kt = vec![0f32; DH * lp];
    let mut v = vec![[0f32; DH]; l];
    let mut s = vec![0f32; R * lp];
    let mut q = [[0f32; DH]; R];
    for bi in 0..b {
        let seq = &qkv[bi * l * w3..(bi + 1) * l * w3];
        for h in 0..heads {
            for (j, row) in seq.chunks_exact(w3).enumerate() {
                let (k, vv) = (&row[d + h * DH..][..DH], &row[2 * d + h * DH..][..DH]);
                for c in 0..DH {
                    kt[c * lp + j] = k[c];
                }
                v[j].copy_from_slice(vv);
            }
            for i0 in (0..l).step_by(R) {
                let rows = R.min(l - i0);
                for (r, qr) in q.iter_mut().enumerate() {
                    let i = (i0 + r).min(l - 1); // past the end: a copy, not written out
                    let src = &seq[i * w3 + h * DH..][..DH];
                    qr.iter_mut().zip(src).for_each(|(a, x)| *a = x * scale);
                }
                scores::<DH, R>(&q, &kt, lp, &mut s);
                let mut inv = [0f32; R];
                for (r, row) in s.chunks_exact_mut(lp).enumerate() {
                    inv[r] = 1.0 / exp_shifted_in_place(&mut row[..l], exp_fma).1;
                }
                let out = context::<DH, R, U>(&s, lp, &v);
                for (r, o) in out.iter().enumerate().take(rows) {
                    let dst = &mut ctx[(bi * l + i0 + r) * d + h * DH..][..DH];
                    dst.iter_mut().zip(o).for_each(|(x, y)| *x = y * inv[r]);
                }
            }
        }
    }
}

/// `s[r][j] = q[r] · k_j` for `R` rows, 16 keys at a time in registers. Keys past `L` (the
/// padding of `kt` to a multiple of 16) score against zeros and are never read.
#[inline(always)]
fn scores<const DH: usize, const R: usize>(
    q: &[[f32; DH]; R],
    kt: &[f32],
    lp: usize,
    s: &mut [f32],
) {
    for j0 in (0..lp).step_by(LANES) {
        let mut acc = [[0f32; LANES]; R];
        for c in 0..DH {
            let k: &[f32; LANES] = kt[c * lp + j0..][..LANES].try_into().expect("16 lanes");
            for r in 0..R {
                let qc = q[r][c];
                for x in 0..LANES {
                    acc[r][x] = qc.mul_add(k[x], acc[r][x]);
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            s[r * lp + j0..][..LANES].copy_from_slice(a);
        }
    }
}

/// `kernels::exp` (same reduction, same polynomial) with its multiply-adds fused.
#[inline(always)]
fn exp_fma(x: f32) -> f32 {
    let x = x.max(-87.0);
    const SHIFT: f32 = 12_582_912.0;
    let t = x.mul_add(std::f32::consts::LOG2_E, SHIFT);
    let n = t - SHIFT;
    let n_int = t.to_bits().wrapping_sub(SHIFT.to_bits()) as i32;
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, x));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e = (p * r).mul_add(r, r + 1.0);
    let two_n = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    if x <= -87.0 {
        0.0
    } else {
        e * two_n
    }
}

/// `o[r] = Σ_j p[r][j] · v_j` for `R` rows (unnormalised `p`), `U` keys per step: `U` sets of
/// `R · DH / 8` register accumulators, enough independent chains to keep both FMA units busy
/// without spilling (16 AVX2 registers).
#[inline(always)]
fn context<const DH: usize, const R: usize, const U: usize>(
    s: &[f32],
    lp: usize,
    v: &[[f32; DH]],
) -> [[f32; DH]; R] {
    let l = v.len();
    let mut acc = [[[0f32; DH]; R]; U];
    let mut j = 0;
    while j + U <= l {
        for (u, a) in acc.iter_mut().enumerate() {
            let vj = &v[j + u];
            for r in 0..R {
                let p = s[r * lp + j + u];
                for c in 0..DH {
                    a[r][c] = p.mul_add(vj[c], a[r][c]);
                }
            }
        }
        j += U;
    }
    for (u, vj) in v[j..].iter().enumerate() {
        for r in 0..R {
            let p = s[r * lp + j + u];
            for c in 0..DH {
                acc[u][r][c] = p.mul_add(vj[c], acc[u][r][c]);
            }
        }
    }
    let mut out = acc[0];
    for a in &acc[1..] {
        for r in 0..R {
            for c in 0..DH {
                out[r][c] += a[r][c];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::host::forward_host;

    fn qkv(b: usize, l: usize, d: usize, seed: u32) -> Vec<f32> {
        let mut x = seed;
        (0..b * l * 3 * d)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    #[test]
    fn exp_fma_equals_exp() {
        for i in 0..20_000 {
            let x = -90.0 + i as f32 * 0.0046;
            let (a, b) = (crate::attention::kernels::exp(x), exp_fma(x));
            assert!((a - b).abs() <= 2e-7 * a, "{x}: {a} vs {b}");
        }
    }

    /// Equal to the training op's forward for every head width it covers, sequence lengths that
    /// are and are not multiples of the 16 lanes and of the row block.
    #[test]
    fn equals_the_training_forward() {
        for (d, heads) in [(16, 2), (64, 4), (64, 2), (48, 3), (128, 2)] {
            for l in [1, 5, 16, 37, 64] {
                let dims = Dims { b: 3, l, d, heads };
                let x = qkv(3, l, d, (d * 100 + l) as u32);
                let want = forward_host(&x, dims, None).0;
                // Widths these kernels do not cover say so; the caller falls back.
                let Some(got) = forward(&x, dims) else {
                    assert!(![8, 16, 32].contains(&(d / heads)), "{d}/{heads}");
                    continue;
                };
                let worst = want
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
                    .fold(0f32, f32::max);
                assert!(worst <= 1e-5, "d {d} heads {heads} l {l}: {worst}");
            }
        }
    }
}
