//! `scgenept plot --run DIR [--perturbation P] --out fig.png`: the GEARS-style figure of one
//! perturbation (top-20 non-dropout DE genes: observed cells as boxes, the prediction as dots,
//! both as change from the control mean), or the run's learning curve.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use scgenept_data::h5ad::{column_strings, H5ad};
use scgenept_data::perturb_data::gears_condition;
use scgenept_data::PerturbData;
use scgenept_train::learning_curve::LearningCurve;
use scgenept_train::plots::PerturbationFigure;
use scgenept_train::run_dir::RunDir;
use scgenept_train::run_manifest::RunManifest;
use scgenept_train::run_outputs::file_safe;
use scgenept_train::train_config::TrainConfig;

#[derive(Args)]
pub struct PlotArgs {
    /// A run directory (`runs/<name>/seed_<s>`).
    #[arg(long)]
    run: PathBuf,
    /// The perturbation to draw (`FOSB+CEBPB`, `KLF1`); without it, the learning curve.
    #[arg(long)]
    perturbation: Option<String>,
    /// Predictions to draw instead of the run's test predictions, e.g. from `scgenept predict
    /// --out pred.h5ad` for a condition outside the test split.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// The dataset with the observed cells, when it has moved since training.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output PNG; default `<run>/plots/<perturbation or learning_curve>.png`.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: PlotArgs) -> Result<()> {
    let run = RunDir::new(&a.run);
    let saved = run.config();
    if !saved.exists() {
        bail!(
            "{}: not a run directory (no config.toml); pass runs/<name>/seed_<s>",
            a.run.display()
        );
    }
    let Some(pert) = &a.perturbation else {
        let out = a
            .out
            .clone()
            .unwrap_or_else(|| run.plots().join("learning_curve.png"));
        // A finished run's manifest: the epoch whose model was tested, and whether the data was
        // synthetic. An unfinished run has neither.
        let manifest = RunManifest::read(&run);
        let tested = manifest.as_ref().map(RunManifest::tested_epoch);
        let synthetic = manifest.is_some_and(|m| m.synthetic);
        let tag = if synthetic { " — SYNTHETIC data" } else { "" };
        let title = format!("{run}{tag}");
        LearningCurve::read(&run, tested, &title)?.draw(&out)?;
        println!("wrote {}", out.display());
        return Ok(());
    };
    let cfg = TrainConfig::load(&saved, &[])?;
    let data_path = a.data.clone().unwrap_or(cfg.data.path.clone());
    let data = PerturbData::load(&data_path, &cfg.data.columns).with_context(|| {
        "the run's dataset is needed for the observed cells; pass --data if it has moved"
    })?;
    let condition = resolve_condition(&data, pert, &cfg.data.columns.control_label)?;
    let preds_path = a.predictions.clone().unwrap_or_else(|| run.predictions());
    let pred = read_prediction(&preds_path, &condition, &data)?;
    let ctrl = scgenept_train::metrics::control_mean(&data);
    let fig = PerturbationFigure::new(&data, &ctrl, &condition, &pred)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| run.plots().join(format!("{}.png", file_safe(&condition))));
    fig.draw(&out)?;
    println!("wrote {} ({} DE genes)", out.display(), fig.genes.len());
    Ok(())
}

/// The dataset's spelling of a perturbation: `KLF1` → `KLF1+ctrl`; a pair in either order.
fn resolve_condition(data: &PerturbData, pert: &str, control_label: &str) -> Result<String> {
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
fn read_prediction(path: &Path, condition: &str, data: &PerturbData) -> Result<Vec<f64>> {
    let f = H5ad::open(path)?;
    let conditions = column_strings(f.column("obs", "condition")?, path, "obs/condition")?;
    let swapped = swapped_pair(condition);
    let bare = condition.strip_suffix("+ctrl").unwrap_or(condition);
    let Some(row) = conditions
        .iter()
        .position(|c| c == condition || *c == swapped || c == bare)
    else {
        bail!(
            "{}: no prediction for {condition} (it has {}); for other conditions run `scgenept predict --out pred.h5ad` and pass --predictions pred.h5ad",
            path.display(),
            crate::report::preview(&conditions)
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
