//! `scgenept bench …`: benchmark numbers to record under benches/ (with the device name).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};

use scgenept_train::bench::StepBench;
use scgenept_train::Device;

#[derive(Clone, Copy, ValueEnum)]
pub enum Size {
    /// The parity-fixture network (d 64, 2 layers).
    Small,
    /// The paper's network (d 512, 12 layers, 1536-wide knowledge table).
    Full,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time forward + backward of one training step.
    Step {
        #[arg(long, value_enum, default_value = "small")]
        size: Size,
        /// Cells per step (default: 3 small, 2 full).
        #[arg(long)]
        batch: Option<usize>,
        /// Genes per cell (default: 48 small, 1536 full).
        #[arg(long)]
        seq_len: Option<usize>,
        /// Timed steps (after warm-up).
        #[arg(long)]
        steps: Option<usize>,
        /// cpu, wgpu[:N] or cuda[:N].
        #[arg(long, default_value = "cpu")]
        device: Device,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Step {
            size,
            batch,
            seq_len,
            steps,
            device,
            json,
        } => {
            let mut b = match size {
                Size::Small => StepBench::small(),
                Size::Full => StepBench::full(2, 1536),
            };
            b.batch = batch.unwrap_or(b.batch);
            b.seq_len = seq_len.unwrap_or(b.seq_len);
            b.steps = steps.unwrap_or(b.steps);
            let r = device.dispatch(b)?;
            println!("{r}");
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&r)? + "\n")
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            Ok(())
        }
    }
}
