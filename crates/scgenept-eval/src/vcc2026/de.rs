//! Differential expression as cell-eval2 0.20.0 computes it on a CPU for the vcc2026 profile
//! (docs/evaluation.md, "vcc2026"): counts scaled to 10⁶ per cell (scanpy's `normalize_total`),
//! fold changes between the groups' arithmetic CPM means (`log2((t + ε) / (r + ε))`, ε = 10⁻⁹),
//! p-values from scanpy's Wilcoxon rank-sum test on `log1p` CPM (normal approximation, tie
//! corrected, no continuity correction; a gene constant in both groups has z = 0), only genes
//! whose control mean exceeds 5 CPM kept, and Benjamini-Hochberg over each perturbation's kept
//! genes.

use std::fmt::Write as _;

use crate::de::{benjamini_hochberg, perturbed, SortedReference};
use crate::pair::Cells;

/// Each cell's counts per million.
const TARGET_SUM: f64 = 1e6;
/// cell-eval2's `de.epsilon`.
const EPSILON: f64 = 1e-9;
/// The gate: a gene is tested only where the control's mean CPM exceeds this
/// (`filter_gene_min_cpm_cell`).
const MIN_CONTROL_CPM: f64 = 5.0;

/// One side's table: every perturbation (sorted) against the control, over the kept genes.
#[derive(Debug, Clone)]
pub struct DeTable {
    pub genes: Vec<String>,
    pub targets: Vec<String>,
    /// The gene columns that pass the gate, ascending.
    pub kept: Vec<usize>,
    /// `rows[t][k]`: target `t` at gene `kept[k]`.
    pub rows: Vec<Vec<DeCell>>,
    /// `position[g]`: where gene column `g` is in `kept`.
    pub position: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Copy)]
pub struct DeCell {
    pub lfc: f64,
    pub p_value: f64,
    pub p_adj: f64,
}

impl DeTable {
    /// Target `t`'s row at gene column `g`, if the gene was kept.
    pub fn get(&self, t: usize, g: usize) -> Option<&DeCell> {
        self.position[g].map(|k| &self.rows[t][k])
    }

    /// Where perturbation `name` is in `targets`.
    pub fn target(&self, name: &str) -> Option<usize> {
        self.targets.binary_search_by(|t| t.as_str().cmp(name)).ok()
    }
}

/// The table of `cells` against their `control` group.
pub fn de_table(cells: &Cells, control: &str) -> DeTable {
    let cpm = Cpm::of(cells);
    let groups = cells.rows_by_label();
    let ctrl_rows = &groups[control];
    let ref_mean = cpm.mean(ctrl_rows);
    let kept: Vec<usize> = (0..ref_mean.len())
        .filter(|&g| ref_mean[g] > MIN_CONTROL_CPM)
        .collect();
    let refs: Vec<SortedReference> = (cpm.log1p_columns(ctrl_rows, &kept).into_iter())
        .map(SortedReference::new)
        .collect();
    let targets = perturbed(&groups, control);
    let rows = crate::par::map(&targets, |(_, rows)| {
        let mean = cpm.mean(rows);
        let p: Vec<f64> = (cpm.log1p_columns(rows, &kept).iter().zip(&refs))
            .map(|(x, r)| wilcoxon_p(r, x, ctrl_rows.len()))
            .collect();
        let p_adj = benjamini_hochberg(&p);
        (kept.iter().enumerate())
            .map(|(k, &g)| DeCell {
                lfc: ((mean[g] + EPSILON) / (ref_mean[g] + EPSILON)).log2(),
                p_value: p[k],
                p_adj: p_adj[k],
            })
            .collect()
    });
    let mut position = vec![None; cells.genes.len()];
    for (k, &g) in kept.iter().enumerate() {
        position[g] = Some(k);
    }
    DeTable {
        genes: cells.genes.clone(),
        targets: targets.iter().map(|t| t.0.to_string()).collect(),
        kept,
        rows,
        position,
    }
}

/// Counts per million, as scanpy's `normalize_total(target_sum=1e6)` makes them: each stored
/// value divided by `library / 10⁶` (a library of 0 divides by 1), in float64.
struct Cpm<'a> {
    cells: &'a Cells,
    divisor: Vec<f64>,
}

impl<'a> Cpm<'a> {
    fn of(cells: &'a Cells) -> Cpm<'a> {
        let divisor = (0..cells.x.n_rows)
            .map(|r| {
                let lib: f64 = cells.x.row(r).1.iter().map(|v| *v as f64).sum();
                match lib / TARGET_SUM {
                    0.0 => 1.0,
                    s => s,
                }
            })
            .collect();
        Cpm { cells, divisor }
    }

    fn mean(&self, rows: &[usize]) -> Vec<f64> {
        self.cells.scipy_mean(rows, Some(&self.divisor))
    }

    /// The `log1p` CPM values of `rows` at the genes `kept`, one column per gene.
    fn log1p_columns(&self, rows: &[usize], kept: &[usize]) -> Vec<Vec<f64>> {
        let mut slot = vec![None; self.cells.x.n_cols];
        for (k, &g) in kept.iter().enumerate() {
            slot[g] = Some(k);
        }
        let mut out = vec![vec![0f64; rows.len()]; kept.len()];
        for (i, &r) in rows.iter().enumerate() {
            let (cols, vals) = self.cells.x.row(r);
            for (c, v) in cols.iter().zip(vals) {
                if let Some(k) = slot[*c as usize] {
                    out[k][i] = (*v as f64 / self.divisor[r]).ln_1p();
                }
            }
        }
        out
    }
}

/// scanpy's two-sided Wilcoxon p-value of `x` against a reference of `m` values.
fn wilcoxon_p(reference: &SortedReference, x: &[f64], m: usize) -> f64 {
    let (r1, tie_term) = reference.rank_sum(x);
    let (n, m) = (x.len() as f64, m as f64);
    let total = n + m;
    let tie = 1.0 - tie_term / (total * total * total - total);
    let std = (tie * n * m * (total + 1.0) / 12.0).sqrt();
    let mut z = (r1 - n * ((total + 1.0) / 2.0)) / std;
    if z.is_nan() {
        z = 0.0;
    }
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The table as cell-eval2 writes it (`--write-degenes`): target, feature, log2_fold_change,
/// p_value, p_adj, abs_log2_fold_change.
pub fn de_csv(t: &DeTable) -> String {
    let mut s =
        String::from("target,feature,log2_fold_change,p_value,p_adj,abs_log2_fold_change\n");
    for (target, row) in t.targets.iter().zip(&t.rows) {
        for (cell, &g) in row.iter().zip(&t.kept) {
            let _ = writeln!(
                s,
                "{target},{},{:?},{:?},{:?},{:?}",
                t.genes[g],
                cell.lfc,
                cell.p_value,
                cell.p_adj,
                cell.lfc.abs()
            );
        }
    }
    s
}
