//! `scgenept train --config FILE.toml`: one training run, then the test metrics beside the
//! baselines (per subgroup).

use anyhow::Result;
use clap::Args;

use crate::run_args::RunArgs;

use scgenept_train::train::trainer::TrainJob;
use scgenept_train::train_config::TrainConfig;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Replace a finished run in the output directory.
    #[arg(long)]
    overwrite: bool,
    /// Continue an interrupted run from its last finished epoch. The config must be the one it
    /// was started with, except `train.epochs` (recorded in run.json).
    #[arg(long)]
    resume: bool,
    /// With --resume: config keys that may differ from the interrupted run's, comma-separated
    /// (`--allow-changed train.lr,train.dropout`); each change is recorded in run.json.
    #[arg(long, value_name = "KEY,…", value_delimiter = ',', requires = "resume")]
    allow_changed: Vec<String>,
}

/// The command line that continues this run after an interrupt.
fn resume_command(a: &TrainArgs) -> String {
    let mut tail = Vec::new();
    if !a.allow_changed.is_empty() {
        tail.extend(["--allow-changed".to_string(), a.allow_changed.join(",")]);
    }
    tail.push("--resume".into());
    a.run.command_line("train", &tail)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let config = TrainConfig::load(&a.run.config, &a.run.set)?;
    scgenept_train::train::interrupt::set_resume_hint(resume_command(&a));
    let out = a.run.device.dispatch(TrainJob {
        config,
        overwrite: a.overwrite,
        resume: a.resume,
        allow_changed: a.allow_changed.clone(),
    })?;
    println!(
        "\nrun {} — {}, best epoch {} (val MSE {:.5}), {:.0} s",
        out.run_dir.display(),
        crate::report::plural(out.epochs_run, "epoch"),
        out.best_epoch,
        out.best_val_loss,
        out.seconds
    );
    let mut rows = vec![(format!("model ({})", out.model_type), &out.model)];
    rows.extend(out.baselines.iter().map(|(k, r)| (k.to_string(), r)));
    crate::report::print_tables(&rows, &out.split, out.synthetic);
    Ok(())
}
