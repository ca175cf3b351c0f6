//! cell-eval's `pearson_edistance` (docs/evaluation.md, "Energy distance"): per perturbation, the
//! energy distance of its cells from the control cells, on the real and on the predicted cells;
//! then Pearson's r between the two over perturbations. Every perturbed cell meets every control
//! cell, so this is the cell-eval profile's costliest metric: dot products of cells × genes.
//!
//! cell-eval takes each distance with sklearn's float64 upcast: [`Dots::F64`], the default, does
//! the same arithmetic, skipping one side's zeros (`blocked.rs`). [`Dots::F32`] takes float32
//! products, 1.5× faster again on the bench pair, but moved the metric by 1.4e-5 there:
//! cell-eval's float32 means of millions of distances turn any change in a distance's last bit
//! into a change of the mean, and the energy distance (2·δ − σ − σ, a difference of near-equal
//! means) magnifies it.
//! `dense.rs` (tests only) is sklearn's own route, float64 matrix products over every gene: the
//! check of the other two.

mod blocked;
#[cfg(test)]
mod dense;

use crate::metrics::pearson_or_nan as pearson;
use crate::pair::{Cells, Pair};
use std::ops::Range;

/// The arithmetic of each cell pair's dot product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dots {
    /// float64 products and sums, as sklearn's `euclidean_distances` computes float32 cells (its
    /// upcast path); within 1e-6 of cell-eval.
    #[default]
    F64,
    /// float32 products summed in float32 over blocks of genes, the blocks in float64: 1.5×
    /// faster on the bench pair, 1.4e-5 from cell-eval there (docs/evaluation.md, "Energy
    /// distance").
    F32,
}

/// `pearson_edistance` of `pair`, with each dot product in `dots`' arithmetic.
/// A progress bar on a terminal counts the perturbations of both sides.
pub fn pearson_edistance(pair: &Pair, dots: Dots) -> f64 {
    let template = "energy distances [{bar:30}] {pos}/{len} perturbations ({eta} left)";
    let bar = scgenept_data::progress::terminal_bar(2 * pair.perts.len() as u64, template);
    let tick = || bar.inc(1);
    let side = |c: &Cells| match dots {
        Dots::F64 => energy_distances::<blocked::Blocked<f64>>(c, pair, &tick),
        Dots::F32 => energy_distances::<blocked::Blocked<f32>>(c, pair, &tick),
    };
    let r = pearson(&side(&pair.real), &side(&pair.pred));
    bar.finish_and_clear();
    r
}

/// A group of cells whose rows' dot products with another group's can be taken.
trait Group: Sync + Sized {
    fn of(c: &Cells, rows: &[usize]) -> Self;
    /// How many cells.
    fn len(&self) -> usize;
    /// Each cell's squared norm, in float64.
    fn sq(&self) -> &[f64];
    /// The dot products of cells `rows` with the cells of `b` from `from` on (or from a little
    /// before: the start of the strip that holds `from`), to `strip` a strip of `b`'s cells at a
    /// time.
    fn dots(&self, b: &Self, rows: Range<usize>, from: usize, strip: &mut dyn FnMut(Strip));
}

/// The dot products of a group's rows `rows` with another group's cells `j..j + width`: row
/// `rows.start + r`'s are `dots[r * stride..][..width]`.
struct Strip<'a> {
    j: usize,
    width: usize,
    stride: usize,
    dots: &'a [f64],
}

/// Each perturbation's energy distance from the control cells of `c`: 2·δ − σ_pert − σ_ctrl, in
/// float32 as numpy computes it; `tick` after each perturbation. Each thread keeps one distance
/// matrix's buffer for all its perturbations.
fn energy_distances<G: Group>(c: &Cells, pair: &Pair, tick: &(dyn Fn() + Sync)) -> Vec<f64> {
    let rows = c.rows_by_label();
    let ctrl = G::of(c, &rows[pair.control.as_str()]);
    let sigma_ctrl = mean_distance(&ctrl, &ctrl, true, true, &mut Vec::new());
    crate::par::map_with(&pair.perts, Vec::new, |d, p| {
        let cells = G::of(c, &rows[p.as_str()]);
        let delta = mean_distance(&cells, &ctrl, false, false, d);
        let sigma = mean_distance(&cells, &cells, true, false, d);
        tick();
        (2.0 * delta - sigma - sigma_ctrl) as f64
    })
}

/// A cell's squared norm, from its values in gene order, in float64.
fn squared_norm(row: &[f32]) -> f64 {
    row.iter().map(|&v| v as f64 * v as f64).sum()
}

/// `f(k, row)` for the cells `rows` of `c` in turn, each as its dense float32 row (one buffer,
/// `CsrMatrix::row_into`: a gene stored twice in a row takes its last value).
fn for_each_dense_row(c: &Cells, rows: &[usize], mut f: impl FnMut(usize, &[f32])) {
    let mut row = vec![0f32; c.x.n_cols];
    for (k, &r) in rows.iter().enumerate() {
        c.x.row_into(r, &mut row);
        f(k, &row);
    }
}

/// sklearn's `pairwise_distances(a, b).mean()` on float32 cells: each squared distance as
/// `|a|² − 2 a·b + |b|²` in f64, clipped at 0, rounded to f32, its root in f32 (the diagonal
/// exactly 0 when `a` is `b`), then numpy's float32 mean of the matrix, built in `d`. Rows go in
/// even blocks of at most 512 (a perturbation's cells are mostly one block: each block passes over
/// all of `b`); with `parallel`, the blocks go to the cores (the sum is the same: it runs over the
/// whole matrix). When `a` is `b`, each block starts at its diagonal and the cells left of it
/// mirror the rows above ([`mirror`]): half the work. sklearn's upcast path mirrors its own
/// blocks too; where its blocks and ours differ, `d(j, i)` may differ from `d(i, j)` in the last
/// bit of its float64, before the rounding to float32.
fn mean_distance<G: Group>(a: &G, b: &G, same: bool, parallel: bool, d: &mut Vec<f32>) -> f32 {
    let (m, n) = (a.len(), b.len());
    let block_rows = m.div_ceil(m.div_ceil(512).max(1)).max(1);
    // Every value is written below (a test starts from NaNs), so old ones may stay until then.
    d.resize(m * n, 0.0);
    let (sa, sb) = (a.sq(), b.sq());
    // Rows i0.. of the matrix into `out`: from the diagonal on when `same`.
    let block = |i0: usize, out: &mut [f32]| {
        let rows = out.len() / n.max(1);
        let from = if same { i0 } else { 0 };
        a.dots(b, i0..i0 + rows, from, &mut |s: Strip| {
            for r in 0..rows {
                let i = i0 + r;
                let dots = &s.dots[r * s.stride..][..s.width];
                let out = &mut out[r * n + s.j..][..s.width];
                for ((o, dot), sq_j) in out.iter_mut().zip(dots).zip(&sb[s.j..]) {
                    *o = ((sa[i] - 2.0 * dot + sq_j).max(0.0) as f32).sqrt();
                }
                if same && (s.j..s.j + s.width).contains(&i) {
                    out[i - s.j] = 0.0;
                }
            }
        });
    };
    let mut blocks: Vec<&mut [f32]> = d.chunks_mut((block_rows * n).max(1)).collect();
    match parallel {
        true => crate::par::for_each_mut(&mut blocks, |k, rows| block(k * block_rows, rows)),
        false => (blocks.iter_mut().enumerate()).for_each(|(k, rows)| block(k * block_rows, rows)),
    }
    if same {
        mirror(d, n, block_rows);
    }
    numpy_sum_f32(d) / d.len() as f32
}

/// A square `n × n` matrix's rows, in blocks of `block_rows`, each filled left of its block's first
/// row from the transpose: `d[i][j] = d[j][i]`, which row j's block computed (it starts at or
/// before j < i). In tiles, for the cache.
fn mirror(d: &mut [f32], n: usize, block_rows: usize) {
    const TILE: usize = 64;
    for i0 in (0..n).step_by(block_rows.max(1)) {
        let i1 = (i0 + block_rows).min(n);
        for ib in (i0..i1).step_by(TILE) {
            for jb in (0..i0).step_by(TILE) {
                for i in ib..(ib + TILE).min(i1) {
                    for j in jb..(jb + TILE).min(i0) {
                        d[i * n + j] = d[j * n + i];
                    }
                }
            }
        }
    }
}

/// numpy's float32 sum (`np.add.reduce`): pairwise, 8 accumulators in blocks of up to 128.
pub fn numpy_sum_f32(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0f32, |s, x| s + x);
    }
    if n <= 128 {
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    numpy_sum_f32(&a[..n2]) + numpy_sum_f32(&a[n2..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use scgenept_data::csr::CsrMatrix;

    /// `rows` cells × `genes` genes, about `density` of them non-zero, values like log1p data.
    pub(super) fn cells(rows: usize, genes: usize, density: f64, seed: u64) -> Cells {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f32> = (0..rows * genes)
            .map(|_| match next() < density {
                true => (1.0 + 3.0 * next()).ln() as f32,
                false => 0.0,
            })
            .collect();
        Cells::of_matrix(CsrMatrix::from_dense(rows, genes, &x))
    }

    /// `a`'s rows `rows` dotted with `b`'s cells from `from` on, as a matrix (NaN where no strip
    /// reached).
    fn matrix<G: Group>(a: &G, b: &G, rows: Range<usize>, from: usize) -> Vec<f64> {
        let (m, n) = (rows.len(), b.len());
        let mut out = vec![f64::NAN; m * n];
        a.dots(b, rows, from, &mut |s: Strip| {
            for r in 0..m {
                let row = &mut out[r * n + s.j..][..s.width];
                row.copy_from_slice(&s.dots[r * s.stride..][..s.width]);
            }
        });
        out
    }

    /// The largest difference of `G`'s dot products from the float64 matrix products (relative,
    /// below 1 absolute), over sizes off every panel and block boundary, from the first cell of
    /// `b` and from its 45th on.
    fn worst_against_gemm<G: Group>(c: &Cells) -> f64 {
        let (a_rows, b_rows): (Vec<usize>, Vec<usize>) = ((0..70).collect(), (40..150).collect());
        let (a, b) = (G::of(c, &a_rows), G::of(c, &b_rows));
        let (a64, b64) = (dense::Dense::of(c, &a_rows), dense::Dense::of(c, &b_rows));
        assert_eq!(a.sq(), a64.sq());
        let mut worst = 0f64;
        for from in [0, 45] {
            let (got, want) = (matrix(&a, &b, 3..70, from), matrix(&a64, &b64, 3..70, from));
            assert_eq!(got.len(), 67 * 110);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                if k % 110 < from {
                    continue;
                }
                assert!(*w > 1.0, "{w} at {k}, from {from}");
                worst = worst.max((g - w).abs() / w.abs());
            }
        }
        worst
    }

    #[test]
    fn the_sparse_kernels_agree_with_float64_matrix_products() {
        for (density, seed) in [(0.3, 1), (1.0, 2)] {
            let c = cells(150, 250, density, seed);
            let f64s = worst_against_gemm::<blocked::Blocked<f64>>(&c);
            assert!(f64s < 1e-14, "float64, density {density}: {f64s:e}");
            let f32s = worst_against_gemm::<blocked::Blocked<f32>>(&c);
            assert!(f32s < 1e-6, "float32, density {density}: {f32s:e}");
            // float32 products are not float64's: the test can tell the two apart.
            assert!(f32s > 1e-10, "float32, density {density}: {f32s:e}");
        }
    }

    /// The mean distance of a group from itself, from every cell pair as sklearn takes them (no
    /// mirror), in float64.
    fn every_pair_mean<G: Group>(g: &G) -> f64 {
        let n = g.len();
        let dots = matrix(g, g, 0..n, 0);
        let sq = g.sq();
        let d = (0..n * n).map(|k| match k / n == k % n {
            true => 0.0,
            false => ((sq[k / n] - 2.0 * dots[k] + sq[k % n]).max(0.0) as f32).sqrt() as f64,
        });
        d.sum::<f64>() / (n * n) as f64
    }

    #[test]
    fn a_group_from_itself_mirrors_the_rows_above_each_block() {
        // 1,100 cells: three blocks of rows, none starting on a panel's first cell.
        let c = cells(1100, 130, 0.3, 3);
        let g = blocked::Blocked::<f64>::of(&c, &(0..1100).collect::<Vec<_>>());
        let want = every_pair_mean(&g);
        for parallel in [false, true] {
            // Over a buffer of NaNs: any value left unwritten would show.
            let got = mean_distance(&g, &g, true, parallel, &mut vec![f32::NAN; 1100 * 1100]);
            assert!((got as f64 - want).abs() < 1e-6 * want, "{got} vs {want}");
        }
        let mut d = vec![f32::NAN; 2000 * 2000];
        mean_distance(&g, &g, true, false, &mut d);
        assert_eq!(d.len(), 1100 * 1100);
        for (i, j) in [(0, 1099), (1099, 0), (500, 367), (367, 500), (1000, 1000)] {
            assert_eq!(d[i * 1100 + j], d[j * 1100 + i], "({i}, {j})");
        }
        assert_eq!(d[1000 * 1100 + 1000], 0.0);
    }
}
