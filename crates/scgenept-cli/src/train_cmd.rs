//! `scgenept train --config FILE.toml`: one training run, then the test metrics beside the
//! baselines (per subgroup).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use scgenept_data::Subgroups;
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

const SHOWN: [&str; 4] = [
    "pearson_delta_de",
    "pearson_delta",
    "mse_de",
    "rank_l1_delta",
];

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
    for group in std::iter::once("all").chain(Subgroups::NAMES) {
        let key = |m: &str| {
            if group == "all" {
                format!("test_{m}")
            } else {
                format!("test_{group}_{m}")
            }
        };
        if !rows
            .iter()
            .any(|(_, r)| r.summary.contains_key(&key(SHOWN[0])))
        {
            continue;
        }
        println!("\n### test, {group}\n");
        println!("| method | {} |", SHOWN.join(" | "));
        println!("|---|{}", "---|".repeat(SHOWN.len()));
        for (name, r) in &rows {
            let cells: Vec<String> = SHOWN
                .iter()
                .map(|m| {
                    r.summary
                        .get(&key(m))
                        .map_or("—".into(), |v| format!("{v:.4}"))
                })
                .collect();
            println!("| {name} | {} |", cells.join(" | "));
        }
    }
    Ok(())
}
