//! A training run's scores under the rulebooks its config names (`eval.profiles`): GEARS'
//! metrics always (they are the run's report and what the paper compares), Systema's and
//! cell-eval's besides when asked; for the model and for every baseline, in the same
//! per-condition tables and `test_…` summaries, so `metrics.json`, `results.csv` and the sweep
//! tables carry them all.

use std::collections::BTreeMap;

use scgenept_data::{GearsSplit, PerturbData};

use crate::baselines::{
    baseline_predictions, condition_means, report, split_half_cells, Datasets, GeneVectors,
    MethodReport, Predicted,
};
use crate::cell_eval::WholeSet;
use crate::method::{Baseline, Method};
use crate::metrics::{summarize, test_conditions, Metrics};
use crate::run_cells::{PredictedCells, RealSide};
use crate::systema::{run_metrics, run_references, References};

/// A rulebook a run can score with.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RunProfile {
    /// GEARS' per-condition metrics and the rank metric (always on).
    Gears,
    /// Systema's: shifts against the control and the perturbed centroid, centroid accuracy
    /// (docs/evaluation.md, "Systema").
    Systema,
    /// cell-eval 0.8.2's `full` profile on predicted cells (`run_cells.rs`).
    CellEval,
}

/// Scores a run's methods with its profiles; holds what every method shares (the real side of
/// cell-eval's metrics).
pub struct RunJudge<'a> {
    /// The tested dataset.
    data: &'a PerturbData,
    /// Where the baselines learn: `data`, or a transfer run's source.
    train_data: &'a PerturbData,
    split: &'a GearsSplit,
    /// Systema's references and the condition means (the truths), when it scores the run.
    systema: Option<(References, BTreeMap<String, Vec<f64>>)>,
    real: Option<RealSide>,
    /// cell-eval's metrics of the whole set (each off with `eval.skip_metrics`).
    whole: WholeSet,
}

impl<'a> RunJudge<'a> {
    pub fn new(
        datasets: impl Into<Datasets<'a>>,
        split: &'a GearsSplit,
        profiles: &[RunProfile],
        whole: WholeSet,
    ) -> RunJudge<'a> {
        let Datasets {
            train: train_data,
            test: data,
        } = datasets.into();
        let real = (profiles.contains(&RunProfile::CellEval))
            .then(|| RealSide::new(data, &test_conditions(split, data)));
        let systema = (profiles.contains(&RunProfile::Systema))
            .then(|| (run_references(data, split), condition_means(data)));
        RunJudge {
            data,
            train_data,
            split,
            systema,
            real,
            whole,
        }
    }

    /// Whether the model's predicted cells are needed (cell-eval).
    pub fn wants_cells(&self) -> bool {
        self.real.is_some()
    }

    /// The model's scores: its mean predictions, and its predicted cells for cell-eval.
    pub fn model(
        &self,
        predictions: &BTreeMap<String, Vec<f64>>,
        cells: Option<&PredictedCells>,
    ) -> MethodReport {
        let p = Predicted {
            method: Method::Model,
            predictions: predictions.clone(),
            truths: None,
        };
        self.score(&p, cells)
    }

    /// Every baseline's scores (ridge and kNN need a knowledge table); for cell-eval a baseline's
    /// mean is its prediction for every real test cell of the condition.
    pub fn baselines(
        &self,
        seed: u64,
        table: Option<&dyn GeneVectors>,
    ) -> BTreeMap<Method, MethodReport> {
        let datasets = Datasets {
            train: self.train_data,
            test: self.data,
        };
        (baseline_predictions(datasets, self.split, seed, table).iter())
            .map(|p| {
                let report = match (p.method, self.wants_cells()) {
                    (_, false) => self.score(p, None),
                    (Method::Baseline(Baseline::SplitHalfReplicate), true) => {
                        self.replicate(p, seed)
                    }
                    (_, true) => {
                        let cells = PredictedCells::from_means(self.data, &p.predictions);
                        self.score(p, Some(&cells))
                    }
                };
                (p.method, report)
            })
            .collect()
    }

    /// The split-half replicate: half A's cells against half B's, for cell-eval too.
    fn replicate(&self, p: &Predicted, seed: u64) -> MethodReport {
        let halves = split_half_cells(self.data, self.split, seed);
        let a: Vec<u32> = halves.values().flat_map(|h| h.0.iter().copied()).collect();
        let b: Vec<u32> = halves.values().flat_map(|h| h.1.iter().copied()).collect();
        let real = RealSide::with_cells(self.data, &b);
        let cells = PredictedCells::measured(self.data, &a);
        self.score_against(p, Some((&real, &cells)))
    }

    fn score(&self, p: &Predicted, cells: Option<&PredictedCells>) -> MethodReport {
        let cell_eval = self.real.as_ref().zip(cells);
        self.score_against(p, cell_eval)
    }

    fn score_against(
        &self,
        p: &Predicted,
        cell_eval: Option<(&RealSide, &PredictedCells)>,
    ) -> MethodReport {
        let (data, split) = (self.data, self.split);
        let mut r = report(data, split, p);
        let mut more: Vec<BTreeMap<String, Metrics>> = Vec::new();
        if let Some((refs, means)) = &self.systema {
            let truths = p.truths.as_ref().unwrap_or(means);
            more.push(run_metrics(data, refs, &p.predictions, truths));
        }
        if let Some((real, cells)) = cell_eval {
            more.push(real.score(cells, self.whole));
        }
        if more.is_empty() {
            return r;
        }
        for (c, m) in more.into_iter().flatten() {
            r.per_condition.entry(c).or_default().extend(m);
        }
        r.summary = summarize(&r.per_condition, &split.test_subgroup);
        r
    }
}
