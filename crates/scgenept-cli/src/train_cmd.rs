//! `scgenept train --config FILE.toml`: one training run, then the test metrics beside the
//! baselines (per subgroup).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use scgenept_train::train_config::TrainConfig;
use scgenept_train::trainer::TrainJob;
use scgenept_train::Device;

#[derive(Args)]
pub struct TrainArgs {
    /// A run config (see configs/).
    #[arg(long)]
    config: PathBuf,
    /// Override a config value: `--set train.epochs=3 --set model.d_model=128`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Replace a finished run in the output directory.
    #[arg(long)]
    overwrite: bool,
    /// Continue an interrupted run from its last finished epoch (same config).
    #[arg(long)]
    resume: bool,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let config = TrainConfig::load(&a.config, &a.set)?;
    let out = a.device.dispatch(TrainJob {
        config,
        overwrite: a.overwrite,
        resume: a.resume,
    })?;
    println!(
        "\nrun {} — {} epochs, best epoch {} (val MSE {:.5}), {:.0} s",
        out.run_dir.display(),
        out.epochs_run,
        out.best_epoch,
        out.best_val_loss,
        out.seconds
    );
    let mut rows = vec![("model (scgenept)".to_string(), &out.model)];
    rows.extend(out.baselines.iter().map(|(k, r)| (k.to_string(), r)));
    crate::report::print_tables(&rows, &out.split);
    Ok(())
}
