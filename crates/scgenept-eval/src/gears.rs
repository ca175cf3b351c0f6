//! The `gears` profile: predicted cells (or predicted means, one row per perturbation) scored
//! with GEARS' per-condition metrics against a GEARS-format dataset, whose `uns` DE keys
//! (`rank_genes_groups_cov_all`, `top_non_dropout_de_20`) choose each condition's DE genes — the
//! metrics `scgenept train` reports (`metrics.rs`, equal to GEARS on its fixtures), plus the rank
//! metric across the scored conditions.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use scgenept_data::perturb_data::gears_condition;
use scgenept_data::{ObsColumns, PerturbData};

use crate::baselines::score_conditions;
use crate::metric_key::METRICS;
use crate::pair::{same_genes, Cells, PairError};
use crate::scores::Scores;

/// Scores `pred` (cells labelled in obs column `pert_col`) against the GEARS dataset `real`; also
/// says whether `real` is marked synthetic.
pub fn gears_profile(
    pred: &Path,
    real: &Path,
    pert_col: &str,
    control: &str,
) -> Result<(Scores, bool)> {
    let data = load_gears(real, pert_col, control)?;
    let predictions = predicted_means(pred, pert_col, control, &data, Cells::mean)?;
    let conditions: Vec<String> = predictions.keys().cloned().collect();
    let scored = score_conditions(&data, &conditions, &predictions);
    let unscored: Vec<&String> = conditions
        .iter()
        .filter(|c| !scored.contains_key(*c))
        .collect();
    if !unscored.is_empty() {
        bail!(
            "{}: no DE genes for {unscored:?} in uns (rank_genes_groups_cov_all, \
             top_non_dropout_de_20); GEARS' metrics need them (`scgenept data inspect` shows them)",
            real.display()
        );
    }
    Ok((table(scored), data.synthetic.is_some()))
}

/// A GEARS-format dataset whose perturbation labels sit in `pert_col`, control `control`.
pub fn load_gears(real: &Path, pert_col: &str, control: &str) -> Result<PerturbData> {
    let cols = ObsColumns {
        perturbation: pert_col.to_string(),
        control_label: control.to_string(),
        ..ObsColumns::default()
    };
    Ok(PerturbData::load(real, &cols)?)
}

/// Each predicted perturbation's mean cell (`mean` of its rows), keyed by its GEARS condition
/// (`A` read as `A+ctrl`), the control left out; every perturbation must have measured cells in
/// `data`.
pub fn predicted_means(
    pred: &Path,
    pert_col: &str,
    control: &str,
    data: &PerturbData,
    mean: fn(&Cells, &[usize]) -> Vec<f64>,
) -> Result<BTreeMap<String, Vec<f64>>> {
    let cells = Cells::read(pred, pert_col)?;
    same_genes(&cells.genes, &data.gene_ids)?;
    let mut predictions: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (label, rows) in cells.rows_by_label() {
        let condition = gears_condition(label, control).map_err(|e| PairError::Input {
            path: pred.to_path_buf(),
            reason: e,
        })?;
        if scgenept_data::condition::is_control(&condition) {
            continue;
        }
        if !data.conditions.contains(&condition) {
            unknown.push(condition.clone());
        }
        predictions.insert(condition, mean(&cells, &rows));
    }
    if !unknown.is_empty() {
        bail!(
            "{}: perturbations {unknown:?} have no cells in {}; predictions are scored against \
             measured cells",
            pred.display(),
            data.source.display()
        );
    }
    Ok(predictions)
}

/// Per condition × metric, metrics in the order of the metric table.
fn table(scored: BTreeMap<String, crate::metrics::Metrics>) -> Scores {
    let metrics: Vec<&'static str> = (METRICS.iter())
        .map(|m| m.name)
        .filter(|m| scored.values().any(|c| c.contains_key(*m)))
        .collect();
    Scores {
        perts: scored.keys().cloned().collect(),
        values: (scored.values())
            .map(|c| metrics.iter().map(|m| c.get(*m).copied()).collect())
            .collect(),
        metrics,
    }
}
