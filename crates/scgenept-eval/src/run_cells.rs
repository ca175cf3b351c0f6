//! cell-eval's metrics inside a training run (`eval.profiles = [..., "cell-eval"]`): the model's
//! predicted test cells (one per paired control cell, as GEARS predicts them) and each baseline's
//! prediction as cells (its mean for every real test cell of the condition, the way a mean
//! predictor is turned into cells) scored against the real test cells, with the real control
//! cells as both sides' control (`--control-source real`, docs/evaluation.md). The real side's DE
//! table is computed once for every method. The split-half replicate scores half A of each test
//! perturbation's cells against half B.

use std::collections::BTreeMap;

use scgenept_data::condition::{is_control, CTRL};
use scgenept_data::csr::CsrMatrix;
use scgenept_data::PerturbData;

use crate::cell_eval::{anndata_profile, DiscriminationEffect, WholeSet};
use crate::cell_eval_de::de_profile;
use crate::de::{de_table, DeRow, FdrScope};
use crate::metrics::Metrics;
use crate::pair::{Cells, ControlSource, Pair};
use crate::scores::Scores;

/// Predicted cells: one row per cell, its condition's name.
pub struct PredictedCells {
    pub x: CsrMatrix,
    pub labels: Vec<String>,
}

impl PredictedCells {
    /// Measured cells standing as a prediction (half A of the split-half replicate).
    pub fn measured(data: &PerturbData, cells: &[u32]) -> PredictedCells {
        let rows: Vec<usize> = cells.iter().map(|&c| c as usize).collect();
        PredictedCells {
            x: data.x.select_rows(&rows),
            labels: (rows.iter())
                .map(|&i| data.conditions[data.cell_condition[i] as usize].clone())
                .collect(),
        }
    }

    /// A mean predictor as cells: each condition's mean once per real cell of that condition.
    pub fn from_means(data: &PerturbData, means: &BTreeMap<String, Vec<f64>>) -> PredictedCells {
        let by = data.cells_by_condition();
        let mut x = CsrMatrix::with_cols(data.n_genes());
        let mut labels = Vec::new();
        for (c, m) in means {
            let Some(k) = data.conditions.iter().position(|x| x == c) else {
                continue;
            };
            let row: Vec<f32> = m.iter().map(|v| *v as f32).collect();
            for _ in &by[k] {
                x.push_dense_row(&row);
                labels.push(c.clone());
            }
        }
        PredictedCells { x, labels }
    }
}

/// The real side: the real cells of the scored conditions and the control cells, and its DE.
pub struct RealSide {
    cells: Cells,
    de: Vec<DeRow>,
}

impl RealSide {
    /// Every cell of `conditions`, and the control cells.
    pub fn new(data: &PerturbData, conditions: &[String]) -> RealSide {
        let rows: Vec<usize> = (0..data.n_cells())
            .filter(|&i| {
                let c = &data.conditions[data.cell_condition[i] as usize];
                is_control(c) || conditions.contains(c)
            })
            .collect();
        RealSide::of_rows(data, rows)
    }

    /// The given cells of the perturbations (half B of the split-half replicate) and every
    /// control cell.
    pub fn with_cells(data: &PerturbData, cells: &[u32]) -> RealSide {
        let mut rows: Vec<usize> = (0..data.n_cells())
            .filter(|&i| is_control(&data.conditions[data.cell_condition[i] as usize]))
            .collect();
        rows.extend(cells.iter().map(|&c| c as usize));
        rows.sort_unstable();
        RealSide::of_rows(data, rows)
    }

    fn of_rows(data: &PerturbData, rows: Vec<usize>) -> RealSide {
        let cells = Cells {
            path: data.source.clone(),
            x: data.x.select_rows(&rows),
            genes: data.gene_ids.clone(),
            labels: (rows.iter())
                .map(|&i| data.conditions[data.cell_condition[i] as usize].clone())
                .collect(),
            sparse: true,
            synthetic: data.synthetic.clone(),
            categories: None,
        };
        let de = de_table(&cells, CTRL, FdrScope::Perturbation);
        RealSide { cells, de }
    }

    /// cell-eval's `full` profile (its metrics of the whole set as `whole` says) of `pred`
    /// against this side, per condition; undefined values left out.
    pub fn score(&self, pred: &PredictedCells, whole: WholeSet) -> BTreeMap<String, Metrics> {
        let controls: Vec<usize> = (0..self.cells.labels.len())
            .filter(|&i| self.cells.labels[i] == CTRL)
            .collect();
        let mut x = pred.x.clone();
        x.append_rows(&self.cells.x, &controls);
        let mut labels = pred.labels.clone();
        labels.extend(controls.iter().map(|_| CTRL.to_string()));
        let pred_cells = Cells {
            path: self.cells.path.clone(),
            x,
            genes: self.cells.genes.clone(),
            labels,
            sparse: false,
            synthetic: None,
            categories: None,
        };
        let Ok(pair) = Pair::new(
            self.cells.clone(),
            pred_cells,
            CTRL,
            true,
            ControlSource::Pred,
        ) else {
            return BTreeMap::new();
        };
        let pred_de = de_table(&pair.pred, CTRL, FdrScope::Perturbation);
        let real_de: Vec<DeRow> = (self.de.iter())
            .filter(|r| pair.perts.contains(&r.target))
            .cloned()
            .collect();
        let scores = de_profile(&real_de, &pred_de).beside(anndata_profile(
            &pair,
            DiscriminationEffect::Signed,
            whole,
        ));
        per_condition(&scores)
    }
}

/// cell-eval metrics a run keeps under GEARS' name: with the real control on both sides they are
/// GEARS' `pearson_delta` and `mse` (up to float32 rounding), which stay as GEARS computes them.
pub const SAME_AS_GEARS: [&str; 2] = ["pearson_delta", "mse"];

/// A scores table as per-condition metrics, nulls and non-finite values left out.
fn per_condition(s: &Scores) -> BTreeMap<String, Metrics> {
    (s.perts.iter().zip(&s.values))
        .map(|(p, row)| {
            let m: Metrics = (s.metrics.iter().zip(row))
                .filter(|(name, _)| !SAME_AS_GEARS.contains(name))
                .filter_map(|(name, v)| Some((name.to_string(), v.filter(|v| v.is_finite())?)))
                .collect();
            (p.clone(), m)
        })
        .collect()
}
