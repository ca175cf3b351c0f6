//! `scgenept sweep --config configs/sweeps/NAME.toml`: every run config × seed, skipping finished
//! runs and resuming interrupted ones, then the paper-style table (mean ± 95% CI over seeds).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use scgenept_train::interrupt::Interrupted;
use scgenept_train::sweep::{collect, plan, RunState, SweepConfig, SweepRun};
use scgenept_train::sweep_jobs::{default_jobs, train_in_processes};
use scgenept_train::trainer::TrainJob;
use scgenept_train::{Device, DeviceKind};

#[derive(Args)]
pub struct SweepArgs {
    /// A sweep config (see configs/sweeps/).
    #[arg(long)]
    config: PathBuf,
    /// Override a value in every run: `--set train.epochs=3`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Print one self-contained `scgenept train` command per unfinished run, then exit (for a
    /// SLURM array or any job runner); `sweep --collect` builds the table afterwards.
    #[arg(long, conflicts_with = "collect")]
    emit_jobs: bool,
    /// Build the table from the runs that have finished; train nothing.
    #[arg(long)]
    collect: bool,
    /// Runs trained side by side, each as its own `scgenept train` process logging to
    /// `<run dir>/train.log` (default: one per CPU core on the CPU, 1 on a GPU). 1 trains in
    /// this process, with its progress on the terminal.
    #[arg(long)]
    jobs: Option<usize>,
    /// Retrain runs that already finished (also those made with a different config).
    #[arg(long, conflicts_with_all = ["collect", "emit_jobs"])]
    overwrite: bool,
}

/// The command line that continues this sweep after an interrupt.
fn resume_command(a: &SweepArgs) -> String {
    let tail: Vec<String> = a
        .jobs
        .map_or(Vec::new(), |j| vec!["--jobs".into(), j.to_string()]);
    crate::rerun::command_line("sweep", &a.config, &a.set, &a.device, &tail)
}

/// Trains the runs one after the other in this process; returns the failures. An interrupt
/// stops the sweep (the interrupted run resumes when the sweep is run again).
fn train_here(todo: &[&SweepRun], a: &SweepArgs) -> Result<Vec<String>> {
    let mut failed = Vec::new();
    for (i, r) in todo.iter().enumerate() {
        let how = match r.state {
            RunState::Interrupted if !a.overwrite => "resuming",
            _ => "training",
        };
        tracing::info!(
            "[{}/{}] {how} {} seed {} → {}",
            i + 1,
            todo.len(),
            r.label,
            r.seed,
            r.dir().display()
        );
        let job = TrainJob {
            config: r.config.clone(),
            overwrite: a.overwrite,
            resume: !a.overwrite,
            allow_changed: Vec::new(),
        };
        if let Err(e) = a.device.dispatch(job) {
            if let Some(i) = e.downcast_ref::<Interrupted>() {
                return Err(Interrupted {
                    where_: format!("{} seed {} {}", r.label, r.seed, i.where_),
                    saved: format!("{}; finished runs are kept, and this one resumes", i.saved),
                    resume: None,
                }
                .into());
            }
            tracing::error!("{} seed {}: {e:#}", r.label, r.seed);
            failed.push(format!("{} seed {}: {e:#}", r.label, r.seed));
        }
    }
    Ok(failed)
}

pub fn run(a: SweepArgs) -> Result<()> {
    let sweep = SweepConfig::load(&a.config)?;
    scgenept_train::interrupt::set_resume_hint(resume_command(&a));
    let runs = plan(&sweep, &a.set)?;
    let stale: Vec<&SweepRun> = runs
        .iter()
        .filter(|r| matches!(r.state, RunState::Stale(_)))
        .collect();
    if !stale.is_empty() && !a.overwrite {
        for r in &stale {
            if let RunState::Stale(diff) = &r.state {
                tracing::warn!(
                    "{}: finished with a different config ({})",
                    r.dir().display(),
                    diff.join("; ")
                );
            }
        }
        if !a.collect {
            bail!(
                "{} run director{} of this sweep hold runs made with a different config (listed above); \
                 use --overwrite to retrain them, or set output.dir elsewhere",
                stale.len(),
                if stale.len() == 1 { "y" } else { "ies" }
            );
        }
    }
    let todo: Vec<&SweepRun> = runs
        .iter()
        .filter(|r| a.overwrite || r.state != RunState::Finished)
        .collect();
    if a.emit_jobs {
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.to_str().map(String::from))
            .unwrap_or_else(|| "scgenept".into());
        for r in &todo {
            println!("{}", r.command(&binary, &a.device.to_string()));
        }
        eprintln!(
            "{} commands; {} finished runs left out. When they are done: scgenept sweep --config {} --collect",
            todo.len(),
            runs.len() - todo.len(),
            a.config.display()
        );
        return Ok(());
    }
    let mut failed = Vec::new();
    if !a.collect {
        a.device.check()?;
        tracing::info!(
            "sweep {}: {} runs ({} finished, {} to train)",
            sweep.name,
            runs.len(),
            runs.len() - todo.len(),
            todo.len()
        );
        let jobs = a
            .jobs
            .unwrap_or_else(|| default_jobs(a.device.kind == DeviceKind::Cpu, todo.len()));
        if jobs > 1 && todo.len() > 1 {
            // Data and knowledge tables made once here, not by every run at the same time.
            for r in &todo {
                scgenept_train::trainer::ensure_inputs(&r.config)?;
            }
            let binary = std::env::current_exe()?;
            let outcomes =
                train_in_processes(&todo, &binary, &a.device.to_string(), jobs, a.overwrite)?;
            failed.extend(
                outcomes
                    .into_iter()
                    .filter_map(|o| o.error.map(|e| format!("{} seed {}: {e}", o.label, o.seed))),
            );
        } else {
            failed.extend(train_here(&todo, &a)?);
        }
    }
    // Re-read the states: the runs above have finished (or not).
    let runs = plan(&sweep, &a.set)?;
    let report = collect(&sweep, &runs)?;
    println!("{}", report.markdown);
    for p in &report.written {
        eprintln!("wrote {}", p.display());
    }
    if report.finished < report.planned {
        eprintln!(
            "{} of {} runs have not finished; the table covers the finished ones",
            report.planned - report.finished,
            report.planned
        );
    }
    if !failed.is_empty() {
        bail!("{} runs failed:\n  {}", failed.len(), failed.join("\n  "));
    }
    Ok(())
}
