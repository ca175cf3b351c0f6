//! Training a sweep's unfinished runs: one after the other in this process, or as child processes
//! several at a time. Each child runs the same
//! self-contained `scgenept train … --resume` command that `--emit-jobs` prints, its output in
//! `<run dir>/train.log`. On the CPU one run keeps one core busy (burn-flex runs without threads,
//! for reproducibility), so runs side by side use the machine; each run stays bitwise what it
//! would be alone, because every run is its own process with its own seeded backend.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::device::{Device, DeviceKind};
use crate::sweep::{RunState, SweepRun};
use crate::train::interrupt::Interrupted;
use crate::train::trainer::TrainJob;

/// The log file of a run trained as a child process.
pub fn log_path(run: &SweepRun) -> PathBuf {
    run.dir().job_log()
}

/// How a child run ended.
#[derive(Debug)]
pub struct JobOutcome {
    pub label: String,
    pub seed: u64,
    pub seconds: f64,
    /// `None` on success; else the log's last line.
    pub error: Option<String>,
}

struct Running<'a> {
    run: &'a SweepRun,
    child: Child,
    started: Instant,
}

fn spawn<'a>(
    run: &'a SweepRun,
    binary: &Path,
    device: &str,
    overwrite: bool,
    threads: usize,
) -> Result<Running<'a>> {
    let dir = run.dir();
    std::fs::create_dir_all(dir.path()).with_context(|| format!("{dir}: cannot create"))?;
    let log = log_path(run);
    let file =
        std::fs::File::create(&log).with_context(|| format!("{}: cannot create", log.display()))?;
    let mut args = run.args(device);
    if overwrite {
        // A fresh start, not a continuation of the run being replaced.
        args.retain(|a| a != "--resume");
        args.push("--overwrite".into());
    }
    let mut cmd = Command::new(binary);
    cmd.args(args);
    let child = cmd
        .env("NO_COLOR", "1")
        .env("SCGENEPT_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("{}: cannot start", binary.display()))?;
    Ok(Running {
        run,
        child,
        started: Instant::now(),
    })
}

/// The last non-empty line of a log (the one-line error of a failed run).
pub fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(String::from)
        })
        .unwrap_or_else(|| "no output".into())
}

/// Trains `runs` with `binary` (`scgenept`), at most `jobs` at a time, and reports each as it ends.
pub fn train_in_processes(
    runs: &[&SweepRun],
    binary: &Path,
    device: &str,
    jobs: usize,
    overwrite: bool,
) -> Result<Vec<JobOutcome>> {
    let bar = crate::train::progress::terminal_bar(
        runs.len() as u64,
        "runs {bar:30} {pos}/{len} elapsed {elapsed} eta {eta} {msg}",
    );
    // Each run's host kernels get their share of the cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs.max(1)).max(1);
    let mut queue: VecDeque<&SweepRun> = runs.iter().copied().collect();
    let mut running: Vec<Running> = Vec::new();
    let mut done = Vec::new();
    // Ctrl-C reaches the children too (same process group): each saves and stops; this loop
    // starts no new run and waits for them. SIGTERM to this process alone lets them finish.
    let graceful = crate::train::interrupt::Graceful::enter();
    let sweep_start = std::time::Instant::now();
    let mut told = false;
    while !queue.is_empty() || !running.is_empty() {
        if crate::train::interrupt::requested() {
            queue.clear();
            if !told && !running.is_empty() {
                bar.suspend(|| {
                    tracing::warn!("waiting for {} running run(s) to stop", running.len())
                });
                told = true;
            }
        }
        while running.len() < jobs.max(1) {
            let Some(run) = queue.pop_front() else { break };
            bar.suspend(|| {
                tracing::info!(
                    "started {} seed {} (log: {})",
                    run.label,
                    run.seed,
                    log_path(run).display()
                )
            });
            running.push(spawn(run, binary, device, overwrite, threads)?);
        }
        bar.set_message(format!("{} running", running.len()));
        let mut i = 0;
        while i < running.len() {
            let Some(status) = running[i].child.try_wait()? else {
                i += 1;
                continue;
            };
            let r = running.swap_remove(i);
            let seconds = r.started.elapsed().as_secs_f64();
            let interrupted = status.code() == Some(130);
            let error = (!status.success()).then(|| last_line(&log_path(r.run)));
            let progress = remaining(done.len() + 1, runs.len(), sweep_start.elapsed(), 1);
            bar.suspend(|| match &error {
                None => tracing::info!(
                    "finished {} seed {} in {seconds:.0} s ({progress})",
                    r.run.label,
                    r.run.seed
                ),
                Some(_) if interrupted => {
                    tracing::warn!("{} seed {} interrupted", r.run.label, r.run.seed)
                }
                Some(e) => tracing::error!("{} seed {} failed: {e}", r.run.label, r.run.seed),
            });
            bar.inc(1);
            done.push(JobOutcome {
                label: r.run.label.clone(),
                seed: r.run.seed,
                seconds,
                error,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    drop(graceful);
    if crate::train::interrupt::requested() {
        let finished = done.iter().filter(|o| o.error.is_none()).count();
        return Err(crate::train::interrupt::Interrupted::new(
            format!("with {finished} of {} runs finished", runs.len()),
            "finished runs are kept and interrupted ones resume from their last finished epoch"
                .into(),
        )
        .into());
    }
    Ok(done)
}

/// Runs side by side on this machine by default: one per core for the CPU (each run uses one),
/// one for a GPU (runs would share its memory).
pub fn default_jobs(device_is_cpu: bool, n_runs: usize) -> usize {
    if !device_is_cpu {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(n_runs)
        .max(1)
}

/// How a sweep's runs are trained.
#[derive(Clone, Debug)]
pub struct TrainPlan {
    pub device: Device,
    /// Runs side by side (`None`: one per core on the CPU, 1 on a GPU).
    pub jobs: Option<usize>,
    /// Retrain finished runs and start interrupted ones over.
    pub overwrite: bool,
}

/// Trains `todo` as `plan` says; returns the failures (`label seed S: error`). An interrupt stops
/// the sweep with an [`Interrupted`] error (the interrupted run resumes when the sweep runs
/// again).
pub fn train_runs(todo: &[&SweepRun], plan: &TrainPlan) -> Result<Vec<String>> {
    let jobs = plan
        .jobs
        .unwrap_or_else(|| default_jobs(plan.device.kind == DeviceKind::Cpu, todo.len()));
    if jobs <= 1 || todo.len() <= 1 {
        return train_here(todo, plan);
    }
    // Data and knowledge tables made once here, not by every run at the same time.
    for r in todo {
        crate::train::prepare::ensure_inputs(&r.config)?;
    }
    let binary = std::env::current_exe()?;
    let device = plan.device.to_string();
    let outcomes = train_in_processes(todo, &binary, &device, jobs, plan.overwrite)?;
    Ok(outcomes
        .into_iter()
        .filter_map(|o| o.error.map(|e| format!("{} seed {}: {e}", o.label, o.seed)))
        .collect())
}

/// Trains the runs one after the other in this process, progress on the terminal.
fn train_here(todo: &[&SweepRun], plan: &TrainPlan) -> Result<Vec<String>> {
    let mut failed = Vec::new();
    let start = std::time::Instant::now();
    for (i, r) in todo.iter().enumerate() {
        let how = match r.state {
            RunState::Interrupted if !plan.overwrite => "resuming",
            _ => "training",
        };
        let n = todo.len();
        let (label, seed) = (&r.label, r.seed);
        let left = match i {
            0 => String::new(),
            _ => format!(" ({})", remaining(i, n, start.elapsed(), 1)),
        };
        tracing::info!(
            "[{}/{n}] {how} {label} seed {seed} → {}{left}",
            i + 1,
            r.dir()
        );
        let job = TrainJob {
            config: r.config.clone(),
            overwrite: plan.overwrite,
            resume: !plan.overwrite,
            allow_changed: Vec::new(),
        };
        if let Err(e) = plan.device.dispatch(job) {
            if let Some(i) = e.downcast_ref::<Interrupted>() {
                return Err(Interrupted {
                    where_: format!("{label} seed {seed} {}", i.where_),
                    saved: format!("{}; finished runs are kept, and this one resumes", i.saved),
                    resume: None,
                }
                .into());
            }
            tracing::error!("{label} seed {seed}: {e:#}");
            failed.push(format!("{label} seed {seed}: {e:#}"));
        }
    }
    Ok(failed)
}

/// `k of n runs done, about M min left`: the time so far per finished run (with `parallel`
/// running at once) times the runs still to go.
fn remaining(k: usize, n: usize, elapsed: std::time::Duration, parallel: usize) -> String {
    let per_run = elapsed.as_secs_f64() / k.max(1) as f64;
    let left = per_run * n.saturating_sub(k) as f64 / parallel.max(1) as f64;
    let left = if left < 90.0 {
        format!("{left:.0} s")
    } else {
        format!("{:.0} min", left / 60.0)
    };
    format!("{k} of {n} runs done, about {left} left")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time_scales_the_time_so_far() {
        let t = std::time::Duration::from_secs(600);
        assert_eq!(remaining(2, 6, t, 1), "2 of 6 runs done, about 20 min left");
        assert_eq!(remaining(5, 6, t, 1), "5 of 6 runs done, about 2 min left");
        assert_eq!(remaining(6, 6, t, 1), "6 of 6 runs done, about 0 s left");
    }
}
