//! `scgenept export` (run → self-contained inference bundle) and `scgenept predict` (bundle +
//! perturbations → mean predicted expression as CSV or h5ad, or every predicted cell beside the
//! control cells as an h5ad that cell-eval can score).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use scgenept_train::infer::bundle::{
    check_perturbations, claim_bundle_dir, open_bundle, ExportJob,
};
use scgenept_train::infer::job::{PredictJob, Written};
use scgenept_train::infer::outputs::PredictionFile;
use scgenept_train::infer::predict::{control_cells, Pool};
use scgenept_train::run::dir::{CheckpointKind, RunDir};
use scgenept_train::train_config::TrainConfig;
use scgenept_train::Device;

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
    /// Where the checkpoint is loaded: cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Replace the bundle already at --out.
    #[arg(long)]
    overwrite: bool,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let run = RunDir::new(&a.run);
    let cfg_path = run.config();
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{}: not a run directory", a.run.display()))?;
    let cfg: TrainConfig = toml::from_str(&text).with_context(|| cfg_path.display().to_string())?;
    claim_bundle_dir(&a.out, a.overwrite)?;
    if !run.is_finished() {
        eprintln!(
            "warning: {} has not finished (no metrics.json): exporting its {} checkpoint so far; \
             the bundle records that",
            a.run.display(),
            a.which
        );
    }
    a.device.dispatch(ExportJob {
        config: cfg,
        checkpoint: run.checkpoint(a.which),
        run: a.run.clone(),
        out: a.out.clone(),
        pool: a.pool_size,
    })?;
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

/// A batch size: 0 cells would never finish.
pub fn cells_per_forward(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (cells per forward pass)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

#[derive(Args)]
pub struct PredictArgs {
    /// A bundle from `scgenept export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Comma-separated perturbations: "CEBPE+ETS2,KLF1" (a pair joined by +, a single gene alone).
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
    /// Also draw the controls this many times (seeds --seed, --seed + 1, …) and report how much
    /// each perturbation's mean moves between draws; the output stays the first draw's.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    draws: usize,
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
    /// cpu, wgpu[:N] or cuda[:N] (inference, no autodiff).
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Cells per forward pass; default: sized to the device and the network. Lower it if the
    /// device runs out of memory. Results do not depend on it.
    #[arg(long, value_parser = cells_per_forward)]
    batch_size: Option<usize>,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    if a.per_cell && a.draws > 1 {
        anyhow::bail!(
            "--draws reports how the means move between control draws; it does not combine \
             with --per-cell (drop one of them)"
        );
    }
    let out = PredictionFile::new(&a.out)?;
    let meta = open_bundle(&a.checkpoint)?;
    let perts = check_perturbations(&meta, &a.perturbations)
        .with_context(|| a.checkpoint.display().to_string())?;
    let controls = control_cells(&meta, &a.checkpoint, a.controls.as_deref())?;
    let n_genes = meta.genes.len();
    let n_perts = perts.len();
    let synthetic = meta.synthetic().map(str::to_string);
    let written = a.device.dispatch(PredictJob {
        bundle: a.checkpoint.clone(),
        meta,
        controls,
        perts,
        pool: Pool {
            size: a.pool_size,
            seed: a.seed,
            // Each perturbation's controls from (seed, its canonical name): the same in any
            // list and in `screen` (docs/features.md, "Prediction").
            per_perturbation: true,
        },
        out,
        per_cell: a.per_cell,
        batch: a.batch_size,
        draws: a.draws,
    })?;
    match written {
        Written::Cells(w) => println!(
            "predicted {} cells for {n_perts} perturbation(s) beside {} control cells ({} \
             negative values set to 0) → {}",
            w.predicted,
            w.controls,
            w.clamped,
            a.out.display()
        ),
        Written::Means(spread) => {
            println!(
                "predicted {n_perts} perturbation(s) over {n_genes} genes ({} controls each) → {}",
                a.pool_size,
                a.out.display()
            );
            for s in spread {
                println!(
                    "  {}: over {} draws of {} controls, per-gene SD of the mean: median {:.4}, \
                     largest {:.4} ({}, mean {:.4})",
                    s.perturbation,
                    s.draws,
                    a.pool_size,
                    s.median_sd,
                    s.max_sd,
                    s.max_sd_gene,
                    s.max_sd_gene_mean
                );
            }
        }
    }
    if let Some(what) = synthetic {
        println!("the bundle's model was trained on {what} (recorded in the output)");
    }
    Ok(())
}
