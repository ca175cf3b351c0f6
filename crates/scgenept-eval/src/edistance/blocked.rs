//! The dot products of sparse cells, skipping one side's zeros (Perturb-seq cells are mostly
//! zeros): the other side is packed in panels of `P` cells, gene-major, so that one non-zero
//! meets a panel's cells in one SIMD sweep of 8 AVX2 registers, and a block of [`GENES`] genes of
//! a panel (24 KiB) stays in the L1 cache while every row passes over it.
//!
//! In float64 ([`Dots::F64`](super::Dots)) each dot product is float64 products summed in gene
//! order, block by block. In float32 ([`Dots::F32`](super::Dots)) the products and each block's
//! sums are float32 and the block sums are added in float64. Each product and sum is a separate
//! multiply and add (no fused multiply-add), so the bits are the same with or without AVX2 and
//! on every CPU.

use super::{for_each_dense_row, squared_norm, Group};
use crate::pair::Cells;

/// Genes per block.
const GENES: usize = 96;

/// A number the products are taken in, and its panel width.
pub trait Lane:
    Copy + Default + Send + Sync + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self>
{
    /// Cells per panel: 8 AVX2 registers of this number.
    const PANEL: usize;
    fn of(v: f32) -> Self;
    fn wide(self) -> f64;
    /// [`dots_into`] with this panel width, with AVX2 where the CPU has it.
    fn dots_into(a: &Blocked<Self>, b: &Blocked<Self>, i0: usize, out: &mut [f64]);
}

impl Lane for f32 {
    const PANEL: usize = 64;
    fn of(v: f32) -> f32 {
        v
    }
    fn wide(self) -> f64 {
        self as f64
    }
    fn dots_into(a: &Blocked<f32>, b: &Blocked<f32>, i0: usize, out: &mut [f64]) {
        dispatch::<f32, { <f32 as Lane>::PANEL }>(a, b, i0, out)
    }
}

impl Lane for f64 {
    const PANEL: usize = 32;
    fn of(v: f32) -> f64 {
        v as f64
    }
    fn wide(self) -> f64 {
        self
    }
    fn dots_into(a: &Blocked<f64>, b: &Blocked<f64>, i0: usize, out: &mut [f64]) {
        dispatch::<f64, { <f64 as Lane>::PANEL }>(a, b, i0, out)
    }
}

/// Cells as their non-zeros (row by row, in gene order) and as gene-major panels.
pub struct Blocked<T> {
    rows: usize,
    genes: usize,
    idx: Vec<u32>,
    val: Vec<T>,
    /// `starts[r * (blocks + 1) + k]`: where row r's genes of block k start in `idx`/`val`.
    starts: Vec<usize>,
    /// Panel p, gene g, cell c of the panel: `panels[base + (p * genes + g) * P + c]`; zero
    /// past the last cell.
    panels: Vec<T>,
    /// Where the panels start: on a cache line, so that no SIMD load straddles two (a quarter
    /// faster).
    base: usize,
    sq: Vec<f64>,
}

impl<T: Lane> Blocked<T> {
    fn blocks(&self) -> usize {
        self.genes.div_ceil(GENES)
    }

    fn panels(&self) -> &[T] {
        &self.panels[self.base..]
    }
}

impl<T: Lane> Group for Blocked<T> {
    fn of(c: &Cells, rows: &[usize]) -> Blocked<T> {
        let (genes, width) = (c.x.n_cols, T::PANEL);
        let blocks = genes.div_ceil(GENES);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        let mut starts = Vec::with_capacity(rows.len() * (blocks + 1));
        let mut sq = Vec::with_capacity(rows.len());
        let line = 64 / std::mem::size_of::<T>();
        let mut panels = vec![T::default(); rows.len().div_ceil(width) * genes * width + line];
        let base = panels.as_ptr().align_offset(64).min(line);
        for_each_dense_row(c, rows, |r, row| {
            for (g, &v) in row.iter().enumerate() {
                if g % GENES == 0 {
                    starts.push(idx.len());
                }
                if v != 0.0 {
                    idx.push(g as u32);
                    val.push(T::of(v));
                    panels[base + ((r / width) * genes + g) * width + r % width] = T::of(v);
                }
            }
            starts.push(idx.len());
            sq.push(squared_norm(row));
        });
        Blocked {
            rows: rows.len(),
            genes,
            idx,
            val,
            starts,
            panels,
            base,
            sq,
        }
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn sq(&self) -> &[f64] {
        &self.sq
    }

    fn dots(&self, b: &Blocked<T>, i0: usize, m: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * b.rows];
        if out.is_empty() {
            return out;
        }
        T::dots_into(self, b, i0, &mut out);
        out
    }
}

/// [`dots_into`] with AVX2 where the CPU has it (`P` is `T::PANEL`).
fn dispatch<T: Lane, const P: usize>(a: &Blocked<T>, b: &Blocked<T>, i0: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        unsafe { dots_avx2::<T, P>(a, b, i0, out) };
        return;
    }
    dots_into::<T, P>(a, b, i0, out)
}

/// [`dots_into`] compiled for AVX2 (same arithmetic, wider registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2<T: Lane, const P: usize>(
    a: &Blocked<T>,
    b: &Blocked<T>,
    i0: usize,
    out: &mut [f64],
) {
    dots_into::<T, P>(a, b, i0, out)
}

/// Writes the dot products of `a`'s cells from `i0` (as many as `out` has rows of `b.rows`) with
/// every cell of `b` into `out`: panel by panel of `b` (`P` cells each), block by block of genes,
/// row by row of `a`, into a panel's sums that stay in the cache (`out`'s rows lie far apart).
#[inline(always)]
fn dots_into<T: Lane, const P: usize>(a: &Blocked<T>, b: &Blocked<T>, i0: usize, out: &mut [f64]) {
    let (n, blocks) = (b.rows, a.blocks());
    let m = out.len() / n.max(1);
    let mut sums = vec![[0f64; P]; m];
    for p in 0..n.div_ceil(P) {
        sums.iter_mut().for_each(|s| *s = [0f64; P]);
        for k in 0..blocks {
            let g0 = k * GENES;
            let g1 = (g0 + GENES).min(a.genes);
            let panel = &b.panels()[(p * b.genes + g0) * P..(p * b.genes + g1) * P];
            for (r, row) in sums.iter_mut().enumerate() {
                let s = &a.starts[(i0 + r) * (blocks + 1) + k..];
                let (from, to) = (s[0], s[1]);
                let block = block_sums::<T, P>(&a.idx[from..to], &a.val[from..to], panel, g0);
                for (o, s) in row.iter_mut().zip(block) {
                    *o += s.wide();
                }
            }
        }
        let (j0, width) = (p * P, P.min(n - p * P));
        for (r, row) in sums.iter().enumerate() {
            out[r * n + j0..r * n + j0 + width].copy_from_slice(&row[..width]);
        }
    }
}

/// One row's non-zeros (`idx`, `val`, genes from `g0`) times a panel's block: the sums.
#[inline(always)]
fn block_sums<T: Lane, const P: usize>(idx: &[u32], val: &[T], panel: &[T], g0: usize) -> [T; P] {
    let mut acc = [T::default(); P];
    for (&g, &v) in idx.iter().zip(val) {
        let o = (g as usize - g0) * P;
        let cells = &panel[o..o + P];
        for c in 0..P {
            acc[c] = acc[c] + v * cells[c];
        }
    }
    acc
}
