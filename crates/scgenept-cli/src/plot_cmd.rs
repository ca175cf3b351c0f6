//! `scgenept plot --run DIR [--perturbation P] --out fig.png`: the GEARS-style figure of one
//! perturbation (top-20 non-dropout DE genes: observed cells as boxes, the prediction as dots,
//! both as change from the control mean), or the run's learning curve.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use scgenept_data::PerturbData;
use scgenept_train::figures::inputs::{read_prediction, resolve_condition};
use scgenept_train::figures::learning_curve::LearningCurve;
use scgenept_train::figures::plots::PerturbationFigure;
use scgenept_train::run::dir::RunDir;
use scgenept_train::run::manifest::RunManifest;
use scgenept_train::run::outputs::file_safe;
use scgenept_train::train_config::TrainConfig;

#[derive(Args)]
pub struct PlotArgs {
    /// A run directory (`runs/<name>/seed_<s>`).
    #[arg(long)]
    run: PathBuf,
    /// The perturbation to draw (`CEBPE+ETS2`, `KLF1`); without it, the learning curve.
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
    let ctrl = scgenept_eval::metrics::control_mean(&data);
    let fig = PerturbationFigure::new(&data, &ctrl, &condition, &pred)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| run.plots().join(format!("{}.png", file_safe(&condition))));
    fig.draw(&out)?;
    println!("wrote {} ({} DE genes)", out.display(), fig.genes.len());
    Ok(())
}
