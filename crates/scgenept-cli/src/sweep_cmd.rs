//! `scgenept sweep --config configs/sweeps/NAME.toml`: every run config × seed, skipping finished
//! runs and resuming interrupted ones, then the paper-style table (mean ± 95% CI over seeds).

use anyhow::{bail, Result};
use clap::Args;

use crate::run_args::RunArgs;

use scgenept_train::sweep::jobs::{train_runs, TrainPlan};
use scgenept_train::sweep::slurm::{slurm_dir, submit, task_states, SlurmSettings};
use scgenept_train::sweep::{collect, plan, refuse_stale, unfinished, SweepConfig, SweepRun};

#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    run: RunArgs,
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
    /// Submit the unfinished runs to SLURM as one array job (runs/sweeps/<name>/slurm/);
    /// rerun it to resubmit only what failed or never ran.
    #[arg(long, conflicts_with_all = ["collect", "emit_jobs", "overwrite", "status"])]
    slurm: bool,
    /// One line per run: finished, running, pending, failed (with its log's last line) or not
    /// submitted, from the run directories and squeue/sacct.
    #[arg(long, conflicts_with_all = ["collect", "emit_jobs"])]
    status: bool,
    #[command(flatten)]
    slurm_opts: SlurmArgs,
}

/// Resources of each SLURM task; defaults from the sweep config's `[slurm]` table.
#[derive(Args)]
struct SlurmArgs {
    /// Write the array script and stop (with --slurm).
    #[arg(long, requires = "slurm")]
    dry_run: bool,
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    #[arg(long, requires = "slurm")]
    account: Option<String>,
    /// GPUs per task (`--gres=gpu:N`).
    #[arg(long, requires = "slurm")]
    gpus_per_job: Option<u32>,
    #[arg(long, requires = "slurm")]
    cpus_per_task: Option<u32>,
    /// Wall time per task, HH:MM:SS.
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// Memory per task, e.g. 64G.
    #[arg(long, requires = "slurm")]
    mem: Option<String>,
}

/// The command line that continues this sweep after an interrupt.
fn resume_command(a: &SweepArgs) -> String {
    let tail: Vec<String> = a
        .jobs
        .map_or(Vec::new(), |j| vec!["--jobs".into(), j.to_string()]);
    a.run.command_line("sweep", &tail)
}

pub fn run(a: SweepArgs) -> Result<()> {
    let sweep = SweepConfig::load(&a.run.config)?;
    scgenept_train::train::interrupt::set_resume_hint(resume_command(&a));
    let runs = plan(&sweep, &a.run.set)?;
    refuse_stale(&runs, a.overwrite, a.collect)?;
    let todo = unfinished(&runs, a.overwrite);
    if a.status {
        for (r, state) in runs.iter().zip(task_states(&sweep, &runs)) {
            println!("{} seed {}: {state}", r.label, r.seed);
        }
        return Ok(());
    }
    if a.slurm {
        return submit_to_slurm(&a, &sweep, &runs);
    }
    if a.emit_jobs {
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.to_str().map(String::from))
            .unwrap_or_else(|| "scgenept".into());
        for r in &todo {
            println!("{}", r.command(&binary, &a.run.device.to_string()));
        }
        eprintln!(
            "{} commands; {} finished runs left out. When they are done: scgenept sweep --config {} --collect",
            todo.len(),
            runs.len() - todo.len(),
            a.run.config.display()
        );
        return Ok(());
    }
    let mut failed = Vec::new();
    if !a.collect {
        a.run.device.check()?;
        tracing::info!(
            "sweep {}: {} runs ({} finished, {} to train)",
            sweep.name,
            runs.len(),
            runs.len() - todo.len(),
            todo.len()
        );
        let how = TrainPlan {
            device: a.run.device,
            jobs: a.jobs,
            overwrite: a.overwrite,
        };
        failed = train_runs(&todo, &how)?;
    }
    // Re-read the states: the runs above have finished (or not).
    let runs = plan(&sweep, &a.run.set)?;
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

/// `--slurm`: the array script for what is left, submitted unless `--dry-run`.
fn submit_to_slurm(a: &SweepArgs, sweep: &SweepConfig, runs: &[SweepRun]) -> Result<()> {
    let o = &a.slurm_opts;
    let flags = SlurmSettings {
        partition: o.partition.clone(),
        account: o.account.clone(),
        gpus_per_job: o.gpus_per_job,
        cpus_per_task: o.cpus_per_task,
        time: o.time.clone(),
        mem: o.mem.clone(),
    };
    let settings = sweep.slurm.merged(&flags);
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(String::from))
        .unwrap_or_else(|| "scgenept".into());
    let device = a.run.device.to_string();
    if !o.dry_run {
        // Data and knowledge tables made once here, not by tasks racing to build them.
        for r in runs {
            scgenept_train::train::prepare::ensure_inputs(&r.config)?;
        }
    }
    let (script, todo, id) = submit(sweep, runs, &binary, &device, &settings, o.dry_run)?;
    let config = a.run.config.display();
    if todo.is_empty() {
        println!("nothing to submit: every run is finished, queued or running (scgenept sweep --config {config} --status)");
        return Ok(());
    }
    match id {
        None => println!(
            "wrote {} ({} tasks); not submitted (--dry-run)",
            script.display(),
            todo.len()
        ),
        Some(id) => {
            println!(
                "submitted array job {id}: {} tasks ({})",
                todo.len(),
                script.display()
            );
            println!("follow it: squeue -j {id}; scgenept sweep --config {config} --status");
            println!("the table, any time: scgenept sweep --config {config} --collect");
            eprintln!("task output: {}/", slurm_dir(sweep).display());
        }
    }
    Ok(())
}
