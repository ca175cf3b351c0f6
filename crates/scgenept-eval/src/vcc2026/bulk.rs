//! Pseudobulks in cell-eval2's `bulk_lognorm` space and their leave-one-out sampling
//! corrections (docs/evaluation.md, "vcc2026"): a group's counts summed per gene, scaled to
//! `BULK_TARGET_SUM` and `log1p`-ed; the jackknife estimate of how far a group of that many cells
//! scatters around its own pseudobulk (cell-eval2's `jackknife_correction`), which the unbiased
//! distances subtract.

use crate::pair::Cells;
use crate::par;

/// The per-group target sum of the expression metrics (cell-eval2's `bulk_target_sum`).
pub const BULK_TARGET_SUM: f64 = 50_000.0;

/// Every group of one side (labels sorted, the control included).
#[derive(Debug, Clone)]
pub struct Pseudobulk {
    pub labels: Vec<String>,
    /// `log1p(sums · T / total)` per group and gene.
    pub means: Vec<Vec<f64>>,
    /// The jackknife correction per group (0 for a group of one cell).
    pub jk: Vec<f64>,
}

impl Pseudobulk {
    pub fn of(cells: &Cells) -> Pseudobulk {
        let groups: Vec<(String, Vec<usize>)> = (cells.rows_by_label().into_iter())
            .map(|(l, rows)| (l.to_string(), rows))
            .collect();
        let per_group = par::map(&groups, |(_, rows)| {
            let sums = group_sums(cells, rows);
            let jk = jackknife(cells, rows, &sums);
            (bulk_lognorm(&sums), jk)
        });
        let (means, jk) = per_group.into_iter().unzip();
        Pseudobulk {
            labels: groups.into_iter().map(|g| g.0).collect(),
            means,
            jk,
        }
    }

    pub fn index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }
}

/// Counts summed per gene over `rows`, in float64 (exact for counts).
fn group_sums(cells: &Cells, rows: &[usize]) -> Vec<f64> {
    let mut sums = vec![0f64; cells.x.n_cols];
    for &r in rows {
        let (cols, vals) = cells.x.row(r);
        for (c, v) in cols.iter().zip(vals) {
            sums[*c as usize] += *v as f64;
        }
    }
    sums
}

/// cell-eval2's `bulk_lognorm_means` of one group's sums (an empty group stays 0).
fn bulk_lognorm(sums: &[f64]) -> Vec<f64> {
    let total: f64 = sums.iter().sum();
    let scale = if total > 0.0 {
        BULK_TARGET_SUM / total
    } else {
        0.0
    };
    sums.iter().map(|s| (s * scale).ln_1p()).collect()
}

/// cell-eval2's `jackknife_correction` of one group: each cell left out in turn, the
/// pseudobulk of the rest (`log1p(T · (P − y) / (total − lib))`) against the whole group's;
/// `(n − 1)/n · Σ_genes (Σ V² − (Σ V)²/n)`, floored at 0.
fn jackknife(cells: &Cells, rows: &[usize], sums: &[f64]) -> f64 {
    let n = rows.len();
    let total: f64 = sums.iter().sum();
    if n < 2 || total <= 0.0 {
        return 0.0;
    }
    let t = BULK_TARGET_SUM;
    let whole: Vec<f64> = sums.iter().map(|p| (t * p / total).ln_1p()).collect();
    let (mut s1, mut s2) = (vec![0f64; sums.len()], vec![0f64; sums.len()]);
    let mut y = vec![0f64; sums.len()];
    for &r in rows {
        let (cols, vals) = cells.x.row(r);
        y.fill(0.0);
        let mut lib = 0f64;
        for (c, v) in cols.iter().zip(vals) {
            y[*c as usize] = *v as f64;
            lib += *v as f64;
        }
        let rest = total - lib;
        for g in 0..sums.len() {
            let loo = match rest > 0.0 {
                true => (t * (sums[g] - y[g]) / rest).ln_1p(),
                false => 0.0,
            };
            let v = loo - whole[g];
            s1[g] += v;
            s2[g] += v * v;
        }
    }
    let nf = n as f64;
    let q: f64 = (s1.iter().zip(&s2)).map(|(a, b)| b - a * a / nf).sum();
    ((nf - 1.0) / nf * q).max(0.0)
}
