//! The `systema` profile: Systema's metrics (Viñas Torné et al., Nature Biotechnology 2025;
//! `mlbio-epfl/systema`'s `evaluation/` code), which score a prediction's shift against the
//! *perturbed* centroid — the mean of the training perturbations' centroids — as well as against
//! the control, so that the systematic perturbed-versus-control shift every perturbation shares
//! earns nothing. Per held-out perturbation (docs/evaluation.md, "systema"):
//!
//! - `corr_all`, `corr_20de`: Pearson's r of the predicted and real shifts from the control mean,
//!   over all genes and over the 20 non-dropout DE genes (`top_non_dropout_de_20`);
//! - `corr_all_allpert`, `corr_20de_allpert`: the same against the perturbed centroid;
//! - `mse_*`, `rmse_*`: the squared error of those shifts (the reference cancels out, as
//!   Systema's notebook notes) and its root;
//! - `jaccard`: the DE genes against the 20 genes the prediction moves most from the control;
//! - `centroid_accuracy`: the share of the other scored perturbations whose real centroid lies
//!   farther (Euclidean) from the prediction than its own real centroid does.
//!
//! numpy computes the centroids and shifts in float32; we round to f32 at the same points.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use scgenept_data::condition::is_control;
use scgenept_data::split::{GearsSplit, SimulationSplitConfig};
use scgenept_data::split_file::load_split;
use scgenept_data::PerturbData;

use scgenept_data::h5ad::H5ad;

use crate::gears::{load_gears, predicted_means};
use crate::metrics::{pearson_or_nan, DeGenes, Metrics};
use crate::pair::{numpy_mean, Cells};
use crate::scores::Scores;

/// Systema's metric names, in its notebook's order, and whether higher is better.
pub const SYSTEMA_METRICS: [(&str, bool); 14] = [
    ("corr_all", true),
    ("corr_20de", true),
    ("corr_all_allpert", true),
    ("corr_20de_allpert", true),
    ("mse_all", false),
    ("mse_20de", false),
    ("mse_all_allpert", false),
    ("mse_20de_allpert", false),
    ("jaccard", true),
    ("rmse_all", false),
    ("rmse_20de", false),
    ("rmse_all_allpert", false),
    ("rmse_20de_allpert", false),
    ("centroid_accuracy", true),
];

/// Where the training perturbations (which define the references) come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitSource {
    /// A split file: our JSON or GEARS' pickles.
    File(PathBuf),
    /// GEARS' simulation split of the real data with this seed, as `scgenept train` derives it.
    Seed(u32),
}

/// The two references Systema subtracts: the control mean and the perturbed centroid.
pub struct References {
    control: Vec<f64>,
    perturbed: Vec<f64>,
}

/// Scores `pred` against the GEARS dataset `real`; also says whether `real` is synthetic.
pub fn systema_profile(
    pred: &Path,
    real: &Path,
    pert_col: &str,
    control: &str,
    split: &SplitSource,
) -> Result<(Scores, bool)> {
    let data = load_gears(real, pert_col, control)?;
    let split = match split {
        SplitSource::File(path) => load_split(path, &data.conditions)?,
        SplitSource::Seed(seed) => GearsSplit::simulation(
            &data.conditions,
            SimulationSplitConfig {
                seed: *seed,
                ..SimulationSplitConfig::default()
            },
        ),
    };
    let numpy = |c: &Cells, rows: &[usize]| -> Vec<f64> {
        (numpy_mean(&c.x, rows, c.sparse).into_iter())
            .map(f64::from)
            .collect()
    };
    let predictions = predicted_means(pred, pert_col, control, &data, numpy)?;
    let sparse = H5ad::open(real)?.is_group("X");
    let train: BTreeSet<&str> = split.train.iter().map(String::as_str).collect();
    let leaked: Vec<&String> = (predictions.keys())
        .filter(|c| train.contains(c.as_str()))
        .collect();
    if !leaked.is_empty() {
        bail!(
            "{}: {leaked:?} are training perturbations of the split, whose centroids make the \
             perturbed reference; Systema scores held-out perturbations only",
            pred.display()
        );
    }
    let refs = references(&data, &train, sparse);
    let truths = real_centroids(&data, predictions.keys(), sparse);
    if let Some(c) = (predictions.keys()).find(|c| DeGenes::of(&data, c).is_none()) {
        bail!(
            "{}: no DE genes for '{c}' in uns (top_non_dropout_de_20); Systema's 20-gene \
             metrics need them",
            real.display()
        );
    }
    let rows = score_rows(&data, &predictions, &truths, &refs);
    let scores = Scores {
        perts: rows.keys().cloned().collect(),
        metrics: SYSTEMA_METRICS.iter().map(|m| m.0).collect(),
        values: (rows.into_values())
            .map(|r| r.into_iter().map(Some).collect())
            .collect(),
    };
    Ok((scores, data.synthetic.is_some()))
}

/// Systema's metrics of each predicted condition that has a truth and DE genes, in
/// `SYSTEMA_METRICS` order; centroid accuracy ranks among those conditions.
fn score_rows(
    data: &PerturbData,
    predictions: &BTreeMap<String, Vec<f64>>,
    truths: &BTreeMap<String, Vec<f64>>,
    refs: &References,
) -> BTreeMap<String, Vec<f64>> {
    let scored: BTreeMap<String, Vec<f64>> = (truths.iter())
        .filter(|(c, _)| predictions.contains_key(*c))
        .map(|(c, t)| (c.clone(), t.clone()))
        .collect();
    let mut out = BTreeMap::new();
    for (condition, truth) in &scored {
        let Some(de) = DeGenes::of(data, condition) else {
            continue;
        };
        let p = &predictions[condition];
        let mut row = shift_metrics(p, truth, refs, &de.top20_non_dropout);
        row.push(centroid_accuracy(condition, p, &scored));
        out.insert(condition.clone(), row);
    }
    out
}

/// The references of a training run's Systema metrics, from its split's training
/// perturbations (means in f64); made once per run.
pub fn run_references(data: &PerturbData, split: &GearsSplit) -> References {
    let by_condition = data.cells_by_condition();
    let mean = |k: usize| crate::metrics::cell_mean(data, &by_condition[k]);
    let train: BTreeSet<&str> = split.train.iter().map(String::as_str).collect();
    let train_perts = training_perturbations(data, &train);
    let mut perturbed = vec![0f64; data.n_genes()];
    for &k in &train_perts {
        perturbed.iter_mut().zip(mean(k)).for_each(|(s, v)| *s += v);
    }
    let n = train_perts.len().max(1) as f64;
    perturbed.iter_mut().for_each(|s| *s /= n);
    References {
        control: mean(data.control_index()),
        perturbed,
    }
}

/// Systema's metrics for a training run, per test condition: the model's (or a baseline's)
/// predicted means against `truths` (the dataset's condition means, or the replicate's other
/// halves), with the run's references. A value Systema leaves undefined (the correlation of a
/// constant shift: the control-mean baseline) is left out, so that a subgroup's mean is over the
/// conditions where it is defined.
pub fn run_metrics(
    data: &PerturbData,
    refs: &References,
    predictions: &BTreeMap<String, Vec<f64>>,
    truths: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, Metrics> {
    (score_rows(data, predictions, truths, refs).into_iter())
        .map(|(c, row)| {
            let m: Metrics = (SYSTEMA_METRICS.iter().zip(row))
                .filter(|(_, v)| v.is_finite())
                .map(|((name, _), v)| (name.to_string(), v))
                .collect();
            (c, m)
        })
        .collect()
}

/// Positions (in `data.conditions`) of the training perturbations, the control left out.
fn training_perturbations(data: &PerturbData, train: &BTreeSet<&str>) -> Vec<usize> {
    (0..data.conditions.len())
        .filter(|&k| {
            train.contains(data.conditions[k].as_str()) && !is_control(&data.conditions[k])
        })
        .collect()
}

/// The control mean over the training split's control cells and the perturbed centroid: the
/// mean of the training perturbations' centroids (`average_of_perturbation_centroids`).
fn references(data: &PerturbData, train: &BTreeSet<&str>, sparse: bool) -> References {
    let by_condition = data.cells_by_condition();
    let centroid = |k: usize| centroid(data, &by_condition[k], sparse);
    let control = centroid(data.control_index());
    let train_perts = training_perturbations(data, train);
    // np.mean(axis=0) of the stacked float32 centroids: added row by row, divided, in float32.
    let mut perturbed = vec![0f32; data.n_genes()];
    for &k in &train_perts {
        for (s, v) in perturbed.iter_mut().zip(centroid(k)) {
            *s += v as f32;
        }
    }
    let n = train_perts.len().max(1) as f32;
    let perturbed = perturbed.iter().map(|s| f64::from(s / n)).collect();
    References { control, perturbed }
}

/// Each condition's real centroid.
fn real_centroids<'a>(
    data: &PerturbData,
    conditions: impl Iterator<Item = &'a String>,
    sparse: bool,
) -> BTreeMap<String, Vec<f64>> {
    let by_condition = data.cells_by_condition();
    (conditions)
        .filter_map(|c| {
            let k = data.conditions.iter().position(|x| x == c)?;
            Some((c.clone(), centroid(data, &by_condition[k], sparse)))
        })
        .collect()
}

/// A condition's mean cell, in float32 as numpy or scipy takes it (`X` sparse or dense).
fn centroid(data: &PerturbData, cells: &[u32], sparse: bool) -> Vec<f64> {
    let rows: Vec<usize> = cells.iter().map(|&c| c as usize).collect();
    (numpy_mean(&data.x, &rows, sparse).into_iter())
        .map(f64::from)
        .collect()
}

/// Shifts `x − reference`, in float32 as numpy subtracts two float32 vectors.
fn shift(x: &[f64], reference: &[f64]) -> Vec<f64> {
    (x.iter().zip(reference))
        .map(|(a, b)| (*a as f32 - *b as f32) as f64)
        .collect()
}

fn at(v: &[f64], idx: &[usize]) -> Vec<f64> {
    idx.iter().map(|&i| v[i]).collect()
}

/// The mean of squared differences.
fn mean_sq(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / n
}

/// scipy's `pearsonr`: NaN for constant input or fewer than two genes.
fn corr(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return f64::NAN;
    }
    pearson_or_nan(a, b)
}

/// The shift metrics of one perturbation, in `SYSTEMA_METRICS` order up to the RMSEs.
fn shift_metrics(pred: &[f64], truth: &[f64], refs: &References, de: &[usize]) -> Vec<f64> {
    let (dt, dp) = (shift(truth, &refs.control), shift(pred, &refs.control));
    let (at_, ap) = (shift(truth, &refs.perturbed), shift(pred, &refs.perturbed));
    let mut de_sorted = de.to_vec();
    de_sorted.sort_unstable();
    let mse = [
        mean_sq(&dt, &dp),
        mean_sq(&at(&dt, &de_sorted), &at(&dp, &de_sorted)),
        mean_sq(&at_, &ap),
        mean_sq(&at(&at_, &de_sorted), &at(&ap, &de_sorted)),
    ];
    let mut row = vec![
        corr(&dt, &dp),
        corr(&at(&dt, &de_sorted), &at(&dp, &de_sorted)),
        corr(&at_, &ap),
        corr(&at(&at_, &de_sorted), &at(&ap, &de_sorted)),
    ];
    row.extend(mse);
    row.push(jaccard(&de_sorted, &top_moved(&dp, 20)));
    row.extend(mse.iter().map(|m| m.sqrt()));
    row
}

/// The `k` genes with the largest |shift| (`np.argsort(np.abs(diff))[-k:]`).
fn top_moved(shift: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..shift.len()).collect();
    idx.sort_by(|&a, &b| shift[a].abs().total_cmp(&shift[b].abs()));
    idx.split_off(idx.len().saturating_sub(k))
}

/// |A ∩ B| / |A ∪ B| of two gene sets.
fn jaccard(a: &[usize], b: &[usize]) -> f64 {
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (a.iter().collect(), b.iter().collect());
    let union = a.union(&b).count();
    a.intersection(&b).count() as f64 / union.max(1) as f64
}

/// The share of the other scored perturbations whose real centroid is strictly farther from the
/// prediction than the perturbation's own (`calculate_centroid_accuracies`).
fn centroid_accuracy(condition: &str, pred: &[f64], truths: &BTreeMap<String, Vec<f64>>) -> f64 {
    let dist = |t: &[f64]| -> f64 {
        let s: f64 = pred.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum();
        s.sqrt()
    };
    let own = dist(&truths[condition]);
    let farther = truths.values().filter(|t| dist(t) > own).count();
    farther as f64 / (truths.len() as f64 - 1.0)
}
