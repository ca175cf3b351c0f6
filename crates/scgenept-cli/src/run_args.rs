//! The arguments of the commands that run a config (`train`, `sweep`): `--config`, `--set` and
//! `--device`; and the command line that continues them after an interrupt, as the user would
//! type it (the program as invoked, arguments quoted for a POSIX shell; `interrupt.rs` prints it).

use std::path::{Path, PathBuf};

use clap::Args;

use scgenept_train::train::interrupt::shell_quote;
use scgenept_train::Device;

#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// The config: a run config (configs/) for `train`, a sweep config (configs/sweeps/) for
    /// `sweep`.
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config value (in a sweep, in every run): `--set train.epochs=3 --set
    /// model.d_model=128`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: Device,
}

impl RunArgs {
    /// `PROGRAM SUBCOMMAND --config C [--set K=V]… --device D TAIL…`.
    pub fn command_line(&self, subcommand: &str, tail: &[String]) -> String {
        command_line(subcommand, &self.config, &self.set, &self.device, tail)
    }
}

fn command_line(
    subcommand: &str,
    config: &Path,
    set: &[String],
    device: &Device,
    tail: &[String],
) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "scgenept".into());
    let mut words = vec![
        shell_quote(&program),
        subcommand.into(),
        "--config".into(),
        shell_quote(&config.to_string_lossy()),
    ];
    for s in set {
        words.extend(["--set".into(), shell_quote(s)]);
    }
    words.extend(["--device".into(), shell_quote(&device.to_string())]);
    words.extend(tail.iter().map(|w| shell_quote(w)));
    words.join(" ")
}
