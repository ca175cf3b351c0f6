//! The dot products of sparse cells, skipping one side's zeros (Perturb-seq cells are mostly
//! zeros). The other side is packed in panels of `P` cells, gene-major and in float32 (the cells'
//! own numbers), so that one non-zero meets a panel's cells in one sweep of 8 AVX2 registers, and
//! a block of [`Lane::GENES`] genes of a panel (24 KiB) stays in the L1 cache while every row
//! passes over it. The rows' non-zeros lie block by block (every row's genes of block k, then of
//! block k + 1), so that the rows' pass over a block reads one stream.
//!
//! In float64 ([`Dots::F64`](super::Dots)) each dot product is float64 products summed in gene
//! order, block by block. A float32 times a float32 is exact in float64, so a fused multiply-add
//! gives the same bits as a multiply and an add: the kernel fuses them where the CPU has FMA
//! (the float32 panels' conversions then go to the other pipes) and adds separately elsewhere,
//! and every CPU gets the same bits. In float32 ([`Dots::F32`](super::Dots)) the products and
//! each block's sums are float32, a separate multiply and add everywhere, and the block sums are
//! added in float64. docs/evaluation.md ("Energy distance") has the measurements.

use super::{for_each_dense_row, squared_norm, Group, Strip};
use crate::pair::Cells;
use std::ops::Range;

/// A number the products are taken in, and its panel width.
pub trait Lane: Copy + Default + Send + Sync {
    /// Cells per panel: 8 AVX2 registers of this number.
    const PANEL: usize;
    /// Genes per block: a block of a panel is 24 KiB of float32.
    const GENES: usize = 24 * 1024 / (Self::PANEL * 4);
    fn of(v: f32) -> Self;
    fn wide(self) -> f64;
    /// `acc + v · c`, fused where `fused` and the product is exact (so the bits do not change).
    fn madd(acc: Self, v: Self, c: f32, fused: bool) -> Self;
    /// [`dots_into`] with this panel width, with AVX2 where the CPU has it.
    fn dots_into(
        a: &Blocked<Self>,
        b: &Blocked<Self>,
        rows: Range<usize>,
        from: usize,
        strip: &mut dyn FnMut(Strip),
    );
}

impl Lane for f32 {
    const PANEL: usize = 64;
    fn of(v: f32) -> f32 {
        v
    }
    fn wide(self) -> f64 {
        self as f64
    }
    fn madd(acc: f32, v: f32, c: f32, _: bool) -> f32 {
        // A float32 product is rounded: fusing it would change the bits.
        acc + v * c
    }
    fn dots_into(
        a: &Blocked<f32>,
        b: &Blocked<f32>,
        rows: Range<usize>,
        from: usize,
        strip: &mut dyn FnMut(Strip),
    ) {
        dispatch::<f32, { <f32 as Lane>::PANEL }>(a, b, rows, from, strip)
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
    fn madd(acc: f64, v: f64, c: f32, fused: bool) -> f64 {
        match fused {
            true => v.mul_add(c as f64, acc),
            false => acc + v * c as f64,
        }
    }
    fn dots_into(
        a: &Blocked<f64>,
        b: &Blocked<f64>,
        rows: Range<usize>,
        from: usize,
        strip: &mut dyn FnMut(Strip),
    ) {
        dispatch::<f64, { <f64 as Lane>::PANEL }>(a, b, rows, from, strip)
    }
}

/// Cells as their non-zeros (block by block of genes, row by row within a block, in gene order
/// within a row) and as gene-major panels.
pub struct Blocked<T> {
    rows: usize,
    genes: usize,
    /// Each non-zero's place in its panel block, `(gene − block start) · P` (below 2¹⁶: 6,144).
    off: Vec<u16>,
    val: Vec<T>,
    /// `starts[k * (rows + 1) + r]`: where row r's non-zeros of block k start in `off`/`val`;
    /// `starts[k * (rows + 1) + rows]`, where block k's end.
    starts: Vec<usize>,
    /// Panel p, gene g, cell c of the panel: `panels[base + (p * genes + g) * P + c]`; zero
    /// past the last cell.
    panels: Vec<f32>,
    /// Where the panels start: on a cache line, so that no SIMD load straddles two (a quarter
    /// faster).
    base: usize,
    sq: Vec<f64>,
}

impl<T: Lane> Blocked<T> {
    fn blocks(&self) -> usize {
        self.genes.div_ceil(T::GENES)
    }

    fn panels(&self) -> &[f32] {
        &self.panels[self.base..]
    }

    /// Where each row's non-zeros of each block start (`starts`), from a first pass over the rows.
    fn starts(c: &Cells, rows: &[usize]) -> Vec<usize> {
        let (n, blocks) = (rows.len(), c.x.n_cols.div_ceil(T::GENES));
        let mut counts = vec![0usize; blocks * (n + 1)];
        for_each_dense_row(c, rows, |r, row| {
            for (k, genes) in row.chunks(T::GENES).enumerate() {
                counts[k * (n + 1) + r] = genes.iter().filter(|&&v| v != 0.0).count();
            }
        });
        let mut at = 0;
        for count in &mut counts {
            (*count, at) = (at, at + *count);
        }
        counts
    }
}

impl<T: Lane> Group for Blocked<T> {
    fn of(c: &Cells, rows: &[usize]) -> Blocked<T> {
        let (genes, width, n) = (c.x.n_cols, T::PANEL, rows.len());
        let starts = Self::starts(c, rows);
        let nnz = starts.last().copied().unwrap_or(0);
        let (mut off, mut val) = (vec![0u16; nnz], vec![T::default(); nnz]);
        let mut next = starts.clone();
        let mut sq = Vec::with_capacity(n);
        let line = 64 / std::mem::size_of::<f32>();
        let mut panels = vec![0f32; n.div_ceil(width) * genes * width + line];
        let base = panels.as_ptr().align_offset(64).min(line);
        for_each_dense_row(c, rows, |r, row| {
            for (g, &v) in row.iter().enumerate().filter(|(_, &v)| v != 0.0) {
                let at = &mut next[(g / T::GENES) * (n + 1) + r];
                off[*at] = ((g % T::GENES) * width) as u16;
                val[*at] = T::of(v);
                *at += 1;
                panels[base + ((r / width) * genes + g) * width + r % width] = v;
            }
            sq.push(squared_norm(row));
        });
        Blocked {
            rows: n,
            genes,
            off,
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

    fn dots(&self, b: &Blocked<T>, rows: Range<usize>, from: usize, strip: &mut dyn FnMut(Strip)) {
        if !rows.is_empty() && b.rows > 0 {
            T::dots_into(self, b, rows, from, strip);
        }
    }
}

/// [`dots_into`] with AVX2 and FMA where the CPU has them (`P` is `T::PANEL`).
fn dispatch<T: Lane, const P: usize>(
    a: &Blocked<T>,
    b: &Blocked<T>,
    rows: Range<usize>,
    from: usize,
    strip: &mut dyn FnMut(Strip),
) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, the only features the function is compiled for.
        unsafe { dots_avx2::<T, P>(a, b, rows, from, strip) };
        return;
    }
    dots_into::<T, P, false>(a, b, rows, from, strip)
}

/// [`dots_into`] compiled for AVX2 and FMA (the same bits, wider registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2<T: Lane, const P: usize>(
    a: &Blocked<T>,
    b: &Blocked<T>,
    rows: Range<usize>,
    from: usize,
    strip: &mut dyn FnMut(Strip),
) {
    dots_into::<T, P, true>(a, b, rows, from, strip)
}

/// The dot products of `a`'s cells `rows` with `b`'s cells from the panel holding `from` on, to
/// `strip` panel by panel: block by block of genes, row by row of `a`, into a panel's sums that
/// stay in the cache. `FUSED`: multiply-adds fused where that keeps the bits ([`Lane::madd`]).
#[inline(always)]
fn dots_into<T: Lane, const P: usize, const FUSED: bool>(
    a: &Blocked<T>,
    b: &Blocked<T>,
    rows: Range<usize>,
    from: usize,
    strip: &mut dyn FnMut(Strip),
) {
    let (n, blocks) = (b.rows, a.blocks());
    let mut sums = vec![[0f64; P]; rows.len()];
    for p in from / P..n.div_ceil(P) {
        sums.iter_mut().for_each(|s| *s = [0f64; P]);
        for k in 0..blocks {
            let g0 = k * T::GENES;
            let g1 = (g0 + T::GENES).min(a.genes);
            let panel = &b.panels()[(p * b.genes + g0) * P..(p * b.genes + g1) * P];
            let at = k * (a.rows + 1);
            let starts = &a.starts[at + rows.start..=at + rows.end];
            for (row, s) in sums.iter_mut().zip(starts.windows(2)) {
                let (off, val) = (&a.off[s[0]..s[1]], &a.val[s[0]..s[1]]);
                let block = block_sums::<T, P, FUSED>(off, val, panel);
                for (o, s) in row.iter_mut().zip(block) {
                    *o += s.wide();
                }
            }
        }
        strip(Strip {
            j: p * P,
            width: P.min(n - p * P),
            stride: P,
            dots: sums.as_flattened(),
        });
    }
}

/// One row's non-zeros in a block (`off`, `val`) times the panel's block: the sums.
#[inline(always)]
fn block_sums<T: Lane, const P: usize, const FUSED: bool>(
    off: &[u16],
    val: &[T],
    panel: &[f32],
) -> [T; P] {
    let mut acc = [T::default(); P];
    for (&o, &v) in off.iter().zip(val) {
        let o = o as usize;
        let cells = &panel[o..o + P];
        for c in 0..P {
            acc[c] = T::madd(acc[c], v, cells[c], FUSED);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every dot product of `a` with `b`, with multiply-adds fused or not.
    fn all_dots(a: &Blocked<f64>, b: &Blocked<f64>, fused: bool) -> Vec<f64> {
        let mut out = Vec::new();
        let mut keep = |s: Strip| out.extend_from_slice(s.dots);
        match fused {
            true => dots_into::<f64, 32, true>(a, b, 0..a.rows, 0, &mut keep),
            false => dots_into::<f64, 32, false>(a, b, 0..a.rows, 0, &mut keep),
        }
        out
    }

    #[test]
    fn fused_and_separate_float64_multiply_adds_give_the_same_bits() {
        let c = super::super::tests::cells(90, 700, 0.4, 4);
        let a = Blocked::<f64>::of(&c, &(0..40).collect::<Vec<_>>());
        let b = Blocked::<f64>::of(&c, &(20..90).collect::<Vec<_>>());
        let (fused, separate) = (all_dots(&a, &b, true), all_dots(&a, &b, false));
        assert_eq!(fused.len(), 40 * 96);
        assert!(fused
            .iter()
            .zip(&separate)
            .all(|(f, s)| f.to_bits() == s.to_bits()));
        // The product of float64s that are not float32s is rounded, and fusing shows it: the
        // check above could tell the two paths apart.
        let (x, p) = (
            1.0 + f64::EPSILON,
            (1.0 + f64::EPSILON) * (1.0 + f64::EPSILON),
        );
        assert_ne!(x.mul_add(x, -p), x * x - p);
    }
}
