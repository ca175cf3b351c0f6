//! `scgenept demo`: the network on the committed parity fixture, on any device: the forward pass
//! against PyTorch's output, a checkpoint's export/reload round trip, and what a training step
//! costs (`scgenept_train::bench::demo`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use scgenept_train::bench::demo::DemoJob;
use scgenept_train::Device;

#[derive(Args)]
pub struct DemoArgs {
    /// Parity fixture directory (from scripts/make_model_fixtures.py).
    #[arg(long, default_value = "tests/fixtures/model")]
    fixtures: PathBuf,
    /// Where to write the exported bundle.
    #[arg(long, default_value = "runs/demo/bundle")]
    out: PathBuf,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: Device,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let lines = a.device.dispatch(DemoJob {
        fixtures: a.fixtures,
        out: a.out,
    })?;
    for line in lines {
        println!("{line}");
    }
    println!("\nnext: `scgenept model types`, `scgenept model import --help`, `scgenept bench step --size full`");
    Ok(())
}
