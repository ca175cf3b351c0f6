//! What `scgenept plot` draws a perturbation from: the condition a user names, resolved against
//! the dataset, and its prediction read from a predictions file.

use std::path::Path;

use anyhow::{bail, Context, Result};

use scgenept_data::condition::gene_before_ctrl;
use scgenept_data::h5ad::{column_strings, H5ad};
use scgenept_data::perturb_data::gears_condition;
use scgenept_data::PerturbData;

/// The dataset's spelling of a perturbation: `KLF1` → `KLF1+ctrl`; a pair in either order;
/// refused when the data has no cells of it.
pub fn resolve_condition(data: &PerturbData, pert: &str, control_label: &str) -> Result<String> {
    let g =
        gears_condition(pert.trim(), control_label).map_err(|e| anyhow::anyhow!("{pert}: {e}"))?;
    let swapped = swapped_pair(&g);
    data.conditions
        .iter()
        .find(|c| **c == g || **c == swapped)
        .cloned()
        .with_context(|| {
            format!(
                "{pert}: no cells of this perturbation in {}; the figure needs observed cells",
                data.source.display()
            )
        })
}

/// The predicted mean profile of `condition` from an h5ad with obs `condition` (our
/// predictions.h5ad, or `scgenept predict` output), aligned to the dataset's genes.
pub fn read_prediction(path: &Path, condition: &str, data: &PerturbData) -> Result<Vec<f64>> {
    let f = H5ad::open(path)?;
    let conditions = column_strings(f.column("obs", "condition")?, path, "obs/condition")?;
    let swapped = swapped_pair(condition);
    let bare = gene_before_ctrl(condition).unwrap_or(condition);
    let Some(row) = conditions
        .iter()
        .position(|c| c == condition || *c == swapped || c == bare)
    else {
        bail!(
            "{}: no prediction for {condition} (it has {}); for other conditions run `scgenept predict --out pred.h5ad` and pass --predictions pred.h5ad",
            path.display(),
            scgenept_data::perturb_data::preview(&conditions)
        );
    };
    let genes = match f.column("var", "gene_name") {
        Ok(c) => column_strings(c, path, "var/gene_name")?,
        Err(_) => f.index("var")?,
    };
    if genes != data.gene_names {
        bail!(
            "{}: its {} genes are not the dataset's {} genes in the same order; predictions and data must come from the same gene list",
            path.display(),
            genes.len(),
            data.n_genes()
        );
    }
    let x = f.read_matrix("X")?;
    let mut out = vec![0f32; x.n_cols];
    x.row_into(row, &mut out);
    Ok(out.into_iter().map(f64::from).collect())
}

/// `A+B` → `B+A`: GEARS spells a pair in either order.
fn swapped_pair(condition: &str) -> String {
    match condition.split_once('+') {
        Some((a, b)) => format!("{b}+{a}"),
        None => condition.to_string(),
    }
}
