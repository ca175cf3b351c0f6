//! A training run's scores under the rulebooks its config names (`eval.profiles`): GEARS'
//! metrics always (they are the run's report and what the paper compares), Systema's besides
//! when asked; for the model and for every baseline, in the same per-condition tables and
//! `test_…` summaries, so `metrics.json`, `results.csv` and the sweep tables carry them all.

use std::collections::BTreeMap;

use scgenept_data::{GearsSplit, PerturbData};

use crate::baselines::{
    baseline_predictions, condition_means, report, GeneVectors, MethodReport, Predicted,
};
use crate::method::Method;
use crate::metrics::summarize;

/// A rulebook a run can score with.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RunProfile {
    /// GEARS' per-condition metrics and the rank metric (always on).
    Gears,
    /// Systema's: shifts against the control and the perturbed centroid, centroid accuracy
    /// (docs/evaluation.md, "Systema").
    Systema,
}

/// The model's scores.
pub fn score_model(
    data: &PerturbData,
    split: &GearsSplit,
    predictions: &BTreeMap<String, Vec<f64>>,
    profiles: &[RunProfile],
) -> MethodReport {
    let p = Predicted {
        method: Method::Model,
        predictions: predictions.clone(),
        truths: None,
    };
    with_profiles(data, split, &p, profiles)
}

/// Every baseline's scores (ridge and kNN need a knowledge table).
pub fn score_baselines(
    data: &PerturbData,
    split: &GearsSplit,
    seed: u64,
    table: Option<&dyn GeneVectors>,
    profiles: &[RunProfile],
) -> BTreeMap<Method, MethodReport> {
    (baseline_predictions(data, split, seed, table).iter())
        .map(|p| (p.method, with_profiles(data, split, p, profiles)))
        .collect()
}

fn with_profiles(
    data: &PerturbData,
    split: &GearsSplit,
    p: &Predicted,
    profiles: &[RunProfile],
) -> MethodReport {
    let mut r = report(data, split, p);
    if profiles.contains(&RunProfile::Systema) {
        let means;
        let truths = match &p.truths {
            Some(t) => t,
            None => {
                means = condition_means(data);
                &means
            }
        };
        for (c, m) in crate::systema::run_metrics(data, split, &p.predictions, truths) {
            r.per_condition.entry(c).or_default().extend(m);
        }
        r.summary = summarize(&r.per_condition, &split.test_subgroup);
    }
    r
}
