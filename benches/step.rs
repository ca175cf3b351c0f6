//! Forward + backward step benchmark on the CPU (burn-flex): the parity-fixture network and the
//! paper's network. Prints ms/step and the process's peak resident memory; asserts nothing.
//!
//!     cargo bench -p scgenept-train --bench step            # small + full (batch 2 × 1536 genes)
//!     SCGENEPT_BENCH_FULL=0 cargo bench -p scgenept-train   # small only
//!
//! GPU numbers come from the binary: `scgenept bench step --size full --device cuda --batch 64`.
//! Record results in benches/results/ with the machine they came from.

use scgenept_train::bench::step::StepBench;
use scgenept_train::Device;

fn main() -> anyhow::Result<()> {
    let cpu = Device::cpu();
    println!("{}", cpu.dispatch(StepBench::small())?);
    if std::env::var("SCGENEPT_BENCH_FULL").as_deref() != Ok("0") {
        println!("{}", cpu.dispatch(StepBench::full(2, 1536))?);
    }
    Ok(())
}
