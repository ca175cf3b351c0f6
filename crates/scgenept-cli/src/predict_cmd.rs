//! `scgenept export` (run → self-contained inference bundle) and `scgenept predict` (bundle +
//! perturbations → mean predicted expression as CSV or h5ad, or every predicted cell beside the
//! control cells as an h5ad that cell-eval can score).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use scgenept_model::load_checkpoint;
use scgenept_train::bundle::{check_perturbations, export_bundle, read_meta};
use scgenept_train::predict::{
    control_cells, write_cells, write_means, Pool, Prediction, PredictionFile,
};
use scgenept_train::prepare::prepare;
use scgenept_train::run_dir::{CheckpointKind, RunDir};
use scgenept_train::train_config::TrainConfig;

type Cpu = burn::backend::Flex;

#[derive(Args)]
pub struct ExportArgs {
    /// A run directory (runs/<name>/seed_<s>).
    #[arg(long)]
    run: PathBuf,
    /// Bundle directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    which: CheckpointKind,
    /// Control cells to ship with the bundle (at least 1).
    #[arg(long, default_value_t = 300, value_parser = at_least_one)]
    pool_size: usize,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let run = RunDir::new(&a.run);
    let cfg_path = run.config();
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{}: not a run directory", a.run.display()))?;
    let cfg: TrainConfig = toml::from_str(&text).with_context(|| cfg_path.display().to_string())?;
    let p = prepare(&cfg)?;
    let device = Default::default();
    let model = load_checkpoint::<Cpu>(&run.checkpoint(a.which), &device)?;
    export_bundle(&model, &p, &a.run, &a.out, a.pool_size)?;
    println!(
        "exported {} ({} checkpoint) → {}",
        a.run.display(),
        a.which,
        a.out.display()
    );
    Ok(())
}

/// A count of control cells: 0 would predict from nothing.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => {
            Err("must be at least 1 (a prediction averages over that many control cells)".into())
        }
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

#[derive(Args)]
pub struct PredictArgs {
    /// A bundle from `scgenept export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Comma-separated perturbations: "FOSB+CEBPB,KLF1".
    #[arg(long)]
    perturbations: String,
    /// Control cells to perturb (their ctrl cells are used); default: the bundle's pool.
    #[arg(long)]
    controls: Option<PathBuf>,
    /// Controls drawn (with replacement) per perturbation (at least 1).
    #[arg(long, default_value_t = 300, value_parser = at_least_one)]
    pool_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output: .csv (gene × perturbation) or .h5ad (perturbation × gene).
    #[arg(long)]
    out: PathBuf,
    /// Write every predicted cell (pool_size per perturbation) after the control cells they were
    /// predicted from, labelled `ctrl` in obs["condition"] (.h5ad only): the layout cell-eval
    /// scores (`cell-eval run --pert-col condition --control-pert ctrl`). Predicted values below 0
    /// are set to 0 here, since log-normalised expression cannot be negative and cell-eval
    /// refuses negative input; the mean outputs are never clamped.
    #[arg(long)]
    per_cell: bool,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let out = PredictionFile::new(&a.out)?;
    let meta = read_meta(&a.checkpoint)?;
    let perts = check_perturbations(&meta, &a.perturbations)
        .with_context(|| a.checkpoint.display().to_string())?;
    let controls = control_cells(&meta, &a.checkpoint, a.controls.as_deref())?;
    let device = Default::default();
    let model = load_checkpoint::<Cpu>(&a.checkpoint, &device)?;
    let p = Prediction {
        model: &model,
        meta: &meta,
        controls: &controls,
        perts: &perts,
        pool: Pool {
            size: a.pool_size,
            seed: a.seed,
        },
        device: &device,
    };
    if a.per_cell {
        let w = write_cells(&p, &out)?;
        println!(
            "predicted {} cells for {} perturbation(s) beside {} control cells ({} negative \
             values set to 0) → {}",
            w.predicted,
            perts.len(),
            w.controls,
            w.clamped,
            a.out.display()
        );
        return Ok(());
    }
    write_means(&p, &out)?;
    println!(
        "predicted {} perturbation(s) over {} genes ({} controls each) → {}",
        perts.len(),
        meta.genes.len(),
        a.pool_size,
        a.out.display()
    );
    Ok(())
}
