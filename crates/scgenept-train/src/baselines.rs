//! The field's simple baselines (PAPER.md), scored with the same metrics and subgroups as the
//! model. Each predicts one mean expression vector per test condition from training data only.
//! (Ridge and kNN over gene-text embeddings need a knowledge table and come with the trainer.)

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scgenept_data::perturb_data::condition_genes;
use scgenept_data::{GearsSplit, PerturbData};

use crate::metrics::{
    cell_mean, condition_metrics, control_mean, rank_metric, summarize, test_conditions, DeGenes,
    Metrics,
};

/// A baseline method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Baseline {
    /// Predicts no change: the control mean.
    ControlMean,
    /// The mean over training perturbations of each one's mean (perturbation-weighted), as the
    /// paper's "non-control-mean".
    NonCtrlMean,
    /// The mean over all perturbed training cells (cell-weighted variant).
    NonCtrlMeanCells,
    /// The mean of one training perturbation drawn at random (seeded) per test condition.
    RandomTrainPerturbation,
    /// For a pair whose two singles were both trained on: ctrl + Δ(A) + Δ(B). Other conditions are
    /// not scored by this baseline.
    Additive,
}

impl Baseline {
    pub const ALL: [Baseline; 5] = [
        Baseline::ControlMean,
        Baseline::NonCtrlMean,
        Baseline::NonCtrlMeanCells,
        Baseline::RandomTrainPerturbation,
        Baseline::Additive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::ControlMean => "control_mean",
            Baseline::NonCtrlMean => "non_ctrl_mean",
            Baseline::NonCtrlMeanCells => "non_ctrl_mean_cells",
            Baseline::RandomTrainPerturbation => "random_train_perturbation",
            Baseline::Additive => "additive",
        }
    }
}

/// Scores of one method.
#[derive(Clone, Debug, Default)]
pub struct MethodReport {
    pub per_condition: BTreeMap<String, Metrics>,
    /// `test_*` means, overall and per subgroup.
    pub summary: Metrics,
}

/// Mean expression per condition, by name.
fn condition_means(data: &PerturbData) -> BTreeMap<String, Vec<f64>> {
    data.cells_by_condition()
        .iter()
        .enumerate()
        .map(|(k, cells)| (data.conditions[k].clone(), cell_mean(data, cells)))
        .collect()
}

/// Scores mean predictions (condition → vector) like GEARS, plus the rank metric.
pub fn score_predictions(
    data: &PerturbData,
    split: &GearsSplit,
    predictions: &BTreeMap<String, Vec<f64>>,
) -> MethodReport {
    let ctrl = control_mean(data);
    let means = condition_means(data);
    let mut per_condition = BTreeMap::new();
    let (mut pred_delta, mut true_delta) = (BTreeMap::new(), BTreeMap::new());
    for c in test_conditions(split, data) {
        let (Some(pred), Some(de)) = (predictions.get(&c), DeGenes::of(data, &c)) else {
            continue;
        };
        let truth = &means[&c];
        per_condition.insert(c.clone(), condition_metrics(pred, truth, &ctrl, &de));
        pred_delta.insert(
            c.clone(),
            pred.iter()
                .zip(&ctrl)
                .map(|(p, c)| p - c)
                .collect::<Vec<f64>>(),
        );
        true_delta.insert(
            c.clone(),
            truth
                .iter()
                .zip(&ctrl)
                .map(|(t, c)| t - c)
                .collect::<Vec<f64>>(),
        );
    }
    for (c, r) in rank_metric(&pred_delta, &true_delta) {
        per_condition
            .get_mut(&c)
            .expect("scored")
            .insert("rank_l1_delta".into(), r);
    }
    let summary = summarize(&per_condition, &split.test_subgroup, "test");
    MethodReport {
        per_condition,
        summary,
    }
}

/// The predictions of one baseline for every test condition it applies to.
pub fn predict(
    data: &PerturbData,
    split: &GearsSplit,
    method: Baseline,
    seed: u64,
) -> BTreeMap<String, Vec<f64>> {
    let ctrl = control_mean(data);
    let means = condition_means(data);
    let train: Vec<&String> = split
        .train
        .iter()
        .filter(|c| *c != "ctrl" && means.contains_key(*c))
        .collect();
    let g = data.n_genes();
    let average = |vs: &[&Vec<f64>]| -> Vec<f64> {
        let mut m = vec![0f64; g];
        for v in vs {
            m.iter_mut().zip(v.iter()).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= vs.len().max(1) as f64);
        m
    };
    let tests = test_conditions(split, data);
    match method {
        Baseline::ControlMean => tests.into_iter().map(|c| (c, ctrl.clone())).collect(),
        Baseline::NonCtrlMean => {
            let m = average(&train.iter().map(|c| &means[*c]).collect::<Vec<_>>());
            tests.into_iter().map(|c| (c, m.clone())).collect()
        }
        Baseline::NonCtrlMeanCells => {
            let by = data.cells_by_condition();
            let cells: Vec<u32> = train
                .iter()
                .flat_map(|c| {
                    by[data.conditions.iter().position(|x| x == *c).expect("known")]
                        .iter()
                        .copied()
                })
                .collect();
            let m = cell_mean(data, &cells);
            tests.into_iter().map(|c| (c, m.clone())).collect()
        }
        Baseline::RandomTrainPerturbation => {
            let mut rng = StdRng::seed_from_u64(seed);
            tests
                .into_iter()
                .filter(|_| !train.is_empty())
                .map(|c| (c, means[train[rng.random_range(0..train.len())]].clone()))
                .collect()
        }
        Baseline::Additive => {
            // A single may be spelled A+ctrl or ctrl+A; average the spellings trained on.
            let single = |gene: &str| -> Option<Vec<f64>> {
                let found: Vec<&Vec<f64>> = train
                    .iter()
                    .filter(|c| c.contains("ctrl") && condition_genes(c) == [gene])
                    .map(|c| &means[*c])
                    .collect();
                (!found.is_empty()).then(|| average(&found))
            };
            tests
                .into_iter()
                .filter_map(|c| {
                    let genes = condition_genes(&c);
                    let [a, b] = genes.as_slice() else {
                        return None;
                    };
                    let (ma, mb) = (single(a)?, single(b)?);
                    let pred = (0..g).map(|j| ma[j] + mb[j] - ctrl[j]).collect();
                    Some((c.clone(), pred))
                })
                .collect()
        }
    }
}

/// Every baseline, scored.
pub fn evaluate_baselines(
    data: &PerturbData,
    split: &GearsSplit,
    seed: u64,
) -> BTreeMap<&'static str, MethodReport> {
    Baseline::ALL
        .iter()
        .map(|b| {
            (
                b.name(),
                score_predictions(data, split, &predict(data, split, *b, seed)),
            )
        })
        .collect()
}
