//! A predicted and a real AnnData in cell-eval's layout (one row per cell, an obs column naming
//! each cell's perturbation, the control cells under one label), read and checked once: the same
//! genes in the same order, the same perturbations on both sides, the control on both sides, no
//! NaN, no raw counts. Then pseudobulks (each perturbation's mean cell), as cell-eval builds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scgenept_data::cells::RowSource;
use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad::{column_strings, H5ad};

/// Why a pair cannot be scored: one line naming the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("{0}")]
    Data(#[from] scgenept_data::error::DataError),
    #[error("{}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },
    #[error(
        "the predicted and real files have different genes ({pred} vs {real}, first difference \
         at position {at}: '{pred_gene}' vs '{real_gene}'); predict over the real data's genes, \
         in its order"
    )]
    Genes {
        pred: usize,
        real: usize,
        at: usize,
        pred_gene: String,
        real_gene: String,
    },
    #[error(
        "perturbations {missing:?} are in {present} but not in {absent}; score the same \
         perturbations on both sides (--only-predicted leaves out real ones the predictions lack)"
    )]
    Perturbations {
        missing: Vec<String>,
        present: String,
        absent: String,
    },
}

/// The predicted and real gene lists must be the same, in the same order; else the error names
/// the first position where they differ.
pub fn same_genes(pred: &[String], real: &[String]) -> Result<(), PairError> {
    if pred == real {
        return Ok(());
    }
    let at = (real.iter().zip(pred))
        .position(|(a, b)| a != b)
        .unwrap_or(real.len().min(pred.len()));
    let gene = |g: &[String]| g.get(at).cloned().unwrap_or_else(|| "(none)".into());
    Err(PairError::Genes {
        pred: pred.len(),
        real: real.len(),
        at,
        pred_gene: gene(pred),
        real_gene: gene(real),
    })
}

/// One side of the pair: cells × genes, each cell's perturbation label.
#[derive(Debug, Clone)]
pub struct Cells {
    pub path: PathBuf,
    pub x: CsrMatrix,
    pub genes: Vec<String>,
    pub labels: Vec<String>,
    /// X was stored sparse (scipy's and numpy's means then add in different orders).
    pub sparse: bool,
    /// The file's synthetic-data marker (`uns/synthetic`), if any.
    pub synthetic: Option<String>,
    /// The label column's categories in their stored order, when it is categorical (pandas
    /// groups cells in this order; cell-eval2's replicate anchor draws its splits in it).
    pub categories: Option<Vec<String>>,
}

#[cfg(test)]
impl Cells {
    /// The cells of `x` for a unit test: genes `G0`, `G1`, …, every cell labelled `ctrl`.
    pub(crate) fn of_matrix(x: CsrMatrix) -> Cells {
        Cells {
            path: "cells.h5ad".into(),
            genes: (0..x.n_cols).map(|g| format!("G{g}")).collect(),
            labels: vec!["ctrl".into(); x.n_rows],
            x,
            sparse: true,
            synthetic: None,
            categories: None,
        }
    }
}

impl Cells {
    /// Reads `X`, `var_names` and obs column `pert_col` of an h5ad of log-normalised
    /// expression, refusing what cell-eval would silently transform or mis-score.
    pub fn read(path: &Path, pert_col: &str) -> Result<Cells, PairError> {
        let cells = Cells::read_any(path, pert_col)?;
        if let Some(max) = cells.x.looks_like_counts() {
            return Err(cells.bad(format!(
                "X holds whole numbers up to {max}: raw counts? The metrics expect log-normalised \
                 expression; normalise (normalize_total, then log1p) first"
            )));
        }
        Ok(cells)
    }

    /// Reads an h5ad of raw counts (the vcc2026 profile's input): every value a whole number,
    /// none negative.
    pub fn read_counts(path: &Path, pert_col: &str) -> Result<Cells, PairError> {
        let cells = Cells::read_any(path, pert_col)?;
        let x = &cells.x;
        if let Some(k) = x.data.iter().position(|v| *v < 0.0 || v.fract() != 0.0) {
            let row = x.indptr.partition_point(|p| *p as usize <= k) - 1;
            return Err(cells.bad(format!(
                "X[{row}, {}] is {}: the vcc2026 profile scores raw counts (whole numbers, none \
                 negative); pass the counts, not normalised expression",
                x.indices[k], x.data[k]
            )));
        }
        Ok(cells)
    }

    fn bad(&self, reason: String) -> PairError {
        PairError::Input {
            path: self.path.clone(),
            reason,
        }
    }

    fn read_any(path: &Path, pert_col: &str) -> Result<Cells, PairError> {
        let f = H5ad::open(path)?;
        let bad = |reason: String| PairError::Input {
            path: path.to_path_buf(),
            reason,
        };
        let columns = f.columns("obs")?;
        if !columns.iter().any(|c| c == pert_col) {
            return Err(bad(format!(
                "obs has no column '{pert_col}' (it has: {}); name the perturbation column \
                 with --pert-col",
                columns.join(", ")
            )));
        }
        let labels = column_strings(f.column("obs", pert_col)?, path, pert_col)?;
        let categories = f.categories("obs", pert_col)?;
        let x = f.read_matrix("X")?;
        let genes = f.index("var")?;
        if let Some((r, c, v)) = x.first_non_finite() {
            return Err(bad(format!(
                "X[{r}, {c}] is {v} (gene {}); every value must be a finite number",
                genes.get(c).map_or("?", String::as_str)
            )));
        }
        Ok(Cells {
            path: path.to_path_buf(),
            x,
            genes,
            labels,
            sparse: f.is_group("X"),
            synthetic: f.uns_string("synthetic"),
            categories,
        })
    }

    /// Only the cells whose label is in `keep`.
    pub fn keep_labels(self, keep: &std::collections::BTreeSet<&str>) -> Cells {
        let rows: Vec<usize> = (0..self.labels.len())
            .filter(|&i| keep.contains(self.labels[i].as_str()))
            .collect();
        Cells {
            x: self.x.select_rows(&rows),
            labels: rows.iter().map(|&i| self.labels[i].clone()).collect(),
            ..self
        }
    }

    /// The cells `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Cells {
        Cells {
            path: self.path.clone(),
            x: self.x.select_rows(rows),
            genes: self.genes.clone(),
            labels: rows.iter().map(|&i| self.labels[i].clone()).collect(),
            sparse: self.sparse,
            synthetic: self.synthetic.clone(),
            categories: self.categories.clone(),
        }
    }

    /// These cells with their control cells replaced by `other`'s (appended after the rest).
    pub fn with_controls_of(self, other: &Cells, control: &str) -> Cells {
        let mine: Vec<usize> = (0..self.labels.len())
            .filter(|&i| self.labels[i] != control)
            .collect();
        let theirs: Vec<usize> = (0..other.labels.len())
            .filter(|&i| other.labels[i] == control)
            .collect();
        let mut x = self.x.select_rows(&mine);
        x.append_rows(&other.x, &theirs);
        let mut labels: Vec<String> = mine.iter().map(|&i| self.labels[i].clone()).collect();
        labels.extend(theirs.iter().map(|_| control.to_string()));
        Cells { x, labels, ..self }
    }

    /// Row indices of each label, labels in sorted order (as `np.unique`).
    pub fn rows_by_label(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut out: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, l) in self.labels.iter().enumerate() {
            out.entry(l.as_str()).or_default().push(i);
        }
        out
    }

    /// The float64 mean of `rows` as cell-eval2 takes it: scipy's sparse `mean(axis=0)` (each
    /// value times `1/n`, added row by row) for sparse X, numpy's (added, then divided by `n`) for
    /// dense X; each row's values divided by `divisor[row]` first where given.
    pub fn scipy_mean(&self, rows: &[usize], divisor: Option<&[f64]>) -> Vec<f64> {
        let n = rows.len() as f64;
        let inv = if self.sparse { 1.0 / n } else { 1.0 };
        let mut sum = vec![0f64; self.x.n_cols];
        for &r in rows {
            let d = divisor.map_or(1.0, |d| d[r]);
            let (cols, vals) = self.x.row(r);
            for (c, v) in cols.iter().zip(vals) {
                let v = match divisor {
                    Some(_) => *v as f64 / d,
                    None => *v as f64,
                };
                sum[*c as usize] += if self.sparse { v * inv } else { v };
            }
        }
        if !self.sparse {
            sum.iter_mut().for_each(|s| *s /= n);
        }
        sum
    }

    /// Row indices of each label in pandas' `groupby` order: the categories' stored order for a
    /// categorical column (labels with no cells left out), else sorted.
    pub fn rows_in_group_order(&self) -> Vec<(&str, Vec<usize>)> {
        let mut by_label = self.rows_by_label();
        match &self.categories {
            Some(order) => (order.iter())
                .filter_map(|c| by_label.remove_entry(c.as_str()))
                .collect(),
            None => by_label.into_iter().collect(),
        }
    }

    /// The mean of `rows`, each mean rounded to f32 as cell-eval's float32 pseudobulks are.
    pub fn mean(&self, rows: &[usize]) -> Vec<f64> {
        let mean = self.mean_f64(rows);
        mean.into_iter().map(|m| m as f32 as f64).collect()
    }

    /// The mean of `rows` in float64: rows added in order, then divided (numpy's `mean(axis=0)`
    /// of the densified float64 matrix).
    pub fn mean_f64(&self, rows: &[usize]) -> Vec<f64> {
        let mut sum = vec![0f64; self.x.n_cols];
        for &r in rows {
            let (cols, vals) = self.x.row(r);
            for (c, v) in cols.iter().zip(vals) {
                sum[*c as usize] += *v as f64;
            }
        }
        let n = rows.len().max(1) as f64;
        sum.iter().map(|s| s / n).collect()
    }
}

/// The float32 mean of `rows` of X, as numpy or scipy computes it: scipy's sparse mean adds
/// `x · f32(1/n)` row by row in float32, numpy's dense mean adds `x` row by row and divides by n
/// in float32.
pub fn numpy_mean(x: &dyn RowSource, rows: &[usize], sparse: bool) -> Vec<f32> {
    let mut sum = vec![0f32; x.n_cols()];
    let scale = match sparse {
        true => (1.0 / rows.len() as f64) as f32,
        false => 1.0,
    };
    x.visit_rows(rows, &mut |_, cols, vals| {
        for (c, v) in cols.iter().zip(vals) {
            sum[*c as usize] += *v * scale;
        }
    });
    let n = if sparse { 1.0 } else { rows.len() as f32 };
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// Which control cells the predicted effects are measured from (cell-eval#183, #196).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ControlSource {
    /// The predicted file's own control cells, as cell-eval 0.8.2 does: the prediction's effect
    /// is its perturbed cells minus its control cells (and its DE is against them).
    #[default]
    Pred,
    /// The real control cells: the predicted file's control cells are replaced by the real ones
    /// before anything is computed, so every metric measures the prediction from the measured
    /// control (cell-eval2's `control_source: real`).
    Real,
}

/// A checked pair: the perturbations (sorted, control excluded) and each one's cells per side.
#[derive(Debug, Clone)]
pub struct Pair {
    pub real: Cells,
    pub pred: Cells,
    pub control: String,
    pub perts: Vec<String>,
}

impl Pair {
    /// Checks the pair; with `only_predicted`, real cells of perturbations the predictions do
    /// not have are left out first (cell-eval refuses them); `controls` says whose control cells
    /// the predicted side uses.
    pub fn new(
        real: Cells,
        pred: Cells,
        control: &str,
        only_predicted: bool,
        controls: ControlSource,
    ) -> Result<Pair, PairError> {
        let real = match only_predicted {
            true => {
                let mut keep: std::collections::BTreeSet<&str> =
                    pred.labels.iter().map(String::as_str).collect();
                keep.insert(control);
                real.keep_labels(&keep)
            }
            false => real,
        };
        same_genes(&pred.genes, &real.genes)?;
        for side in [&real, &pred] {
            if !side.labels.iter().any(|l| l == control) {
                return Err(PairError::Input {
                    path: side.path.clone(),
                    reason: format!(
                        "no control cells labelled '{control}'; name the control label with \
                         --control-pert"
                    ),
                });
            }
        }
        let labels = |c: &Cells| -> Vec<String> {
            (c.rows_by_label().into_keys())
                .filter(|l| *l != control)
                .map(String::from)
                .collect()
        };
        let (in_real, in_pred) = (labels(&real), labels(&pred));
        for (a, b, side_a, side_b) in [
            (&in_real, &in_pred, &real, &pred),
            (&in_pred, &in_real, &pred, &real),
        ] {
            let missing: Vec<String> = a.iter().filter(|p| !b.contains(p)).cloned().collect();
            if !missing.is_empty() {
                return Err(PairError::Perturbations {
                    missing,
                    present: side_a.path.display().to_string(),
                    absent: side_b.path.display().to_string(),
                });
            }
        }
        let pred = match controls {
            ControlSource::Pred => pred,
            ControlSource::Real => pred.with_controls_of(&real, control),
        };
        Ok(Pair {
            real,
            pred,
            control: control.to_string(),
            perts: in_real,
        })
    }

    /// Logs what was read, and how long reading took since `t0`.
    pub fn log_read(&self, t0: std::time::Instant) {
        tracing::info!(
            "read {} real and {} predicted cells × {} genes, {} perturbations ({:.1} s)",
            self.real.labels.len(),
            self.pred.labels.len(),
            self.real.genes.len(),
            self.perts.len(),
            t0.elapsed().as_secs_f64()
        );
    }

    /// Pseudobulks: each perturbation's mean cell and the control's, per side.
    pub fn bulk(&self) -> Bulk {
        let side = |c: &Cells| {
            let rows = c.rows_by_label();
            let means: Vec<Vec<f64>> = (self.perts.iter())
                .map(|p| c.mean(&rows[p.as_str()]))
                .collect();
            (means, c.mean(&rows[self.control.as_str()]))
        };
        let (real, ctrl_real) = side(&self.real);
        let (pred, ctrl_pred) = side(&self.pred);
        Bulk {
            real,
            pred,
            ctrl_real,
            ctrl_pred,
        }
    }
}

/// Mean cells: `real[i]`, `pred[i]` of perturbation `perts[i]`, and the controls'.
#[derive(Debug, Clone)]
pub struct Bulk {
    pub real: Vec<Vec<f64>>,
    pub pred: Vec<Vec<f64>>,
    pub ctrl_real: Vec<f64>,
    pub ctrl_pred: Vec<f64>,
}

impl Bulk {
    /// Perturbation `i`'s effect (its mean minus the control's), in float32 as cell-eval's.
    pub fn effect(&self, i: usize, pred: bool) -> Vec<f64> {
        let (m, c) = match pred {
            true => (&self.pred[i], &self.ctrl_pred),
            false => (&self.real[i], &self.ctrl_real),
        };
        m.iter()
            .zip(c)
            .map(|(a, b)| (*a as f32 - *b as f32) as f64)
            .collect()
    }
}
