//! Sweeps: run configs (model types / knowledge sources) × seeds, each an ordinary training run in
//! its own directory, then one paper-style table over the finished runs.
//!
//! A sweep holds no state of its own: which runs are finished is read from the run directories
//! (`metrics.json` is written last and atomically), so a sweep can be re-run after a crash, fanned
//! out to a scheduler with `--emit-jobs`, and collected later with `--collect`.

pub mod against_best;
pub mod findings;
pub mod jobs;
pub mod slurm;
pub mod slurm_settings;
pub mod table;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::run::dir::RunDir;
use crate::run::finished::FinishedRun;
use crate::train_config::TrainConfig;

/// The paper's seeds (docs/reference.md §0, Training).
pub const PAPER_SEEDS: [u64; 5] = [42, 23, 89, 30, 12];

/// `configs/sweeps/<name>.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// The sweep's name: its table goes to `runs/sweeps/<name>/` unless `out` says otherwise.
    pub name: String,
    /// Seeds each config is trained with (`train.seed`).
    #[serde(default = "paper_seeds")]
    pub seeds: Vec<u64>,
    /// Run configs, one per model type / knowledge source, relative to this file.
    pub runs: Vec<PathBuf>,
    /// `key=value` overrides applied to every run, as `train --set`.
    #[serde(default)]
    pub set: Vec<String>,
    /// Where the table, Markdown and bar plot go (relative to the working directory).
    pub out: Option<PathBuf>,
    /// Columns of the overall table (metric names without `test_`); default the paper's Table 3.
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// The metric of the per-subgroup table and the bar plot (paper Table 5).
    #[serde(default = "default_headline")]
    pub headline: String,
    /// Resources of each task under `sweep --slurm` (flags override them).
    #[serde(default)]
    pub slurm: crate::sweep::slurm_settings::SlurmSettings,
}

fn paper_seeds() -> Vec<u64> {
    PAPER_SEEDS.to_vec()
}

fn default_metrics() -> Vec<String> {
    scgenept_eval::metric_key::sweep_default_metrics()
}

fn default_headline() -> String {
    "pearson_delta_de".into()
}

impl SweepConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let mut cfg: SweepConfig = toml::from_str(&text)
            .with_context(|| format!("{}: not a sweep config", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for r in &mut cfg.runs {
            if r.is_relative() {
                *r = base.join(&*r);
            }
        }
        if cfg.runs.is_empty() || cfg.seeds.is_empty() {
            bail!(
                "{}: a sweep needs at least one run config and one seed",
                path.display()
            );
        }
        for m in cfg.metrics.iter().chain([&cfg.headline]) {
            scgenept_eval::metric_key::metric_info(m).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e} (metrics and headline name columns)",
                    path.display()
                )
            })?;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = cfg.seeds.iter().find(|s| !seen.insert(**s)) {
            bail!("{}: seed {s} is listed twice", path.display());
        }
        // The same run config twice would train twice into one run directory at once.
        let mut seen = std::collections::HashMap::new();
        for r in &cfg.runs {
            let key = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            if let Some(first) = seen.insert(key, r) {
                bail!(
                    "{}: runs lists {} twice (as {} and {}); list each run config once",
                    path.display(),
                    r.display(),
                    first.display(),
                    r.display()
                );
            }
        }
        Ok(cfg)
    }

    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/sweeps").join(&self.name))
    }
}

/// Where one planned run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// `metrics.json` exists and the saved config matches.
    Finished,
    /// An epoch checkpoint exists: the run continues from it.
    Interrupted,
    New,
    /// Finished, but with a different config: the listed keys differ.
    Stale(Vec<String>),
}

/// One (config, seed) of a sweep.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// The method's row label: the model type, or the run name when two configs share one.
    pub label: String,
    pub config_path: PathBuf,
    pub seed: u64,
    /// Everything `train --set` gets: the sweep's overrides, the caller's, then the seed.
    pub overrides: Vec<String>,
    pub config: TrainConfig,
    pub state: RunState,
}

impl SweepRun {
    pub fn dir(&self) -> RunDir {
        self.config.run_dir()
    }

    /// The arguments of a self-contained `scgenept` call that trains this run (absolute config
    /// path, all overrides, `--resume`).
    pub fn args(&self, device: &str) -> Vec<String> {
        let abs = std::path::absolute(&self.config_path).unwrap_or(self.config_path.clone());
        let mut parts = vec![
            "train".to_string(),
            "--config".into(),
            abs.display().to_string(),
        ];
        for o in &self.overrides {
            parts.push("--set".into());
            parts.push(o.clone());
        }
        parts.extend(["--device".into(), device.to_string(), "--resume".into()]);
        parts
    }

    /// [`SweepRun::args`] as one shell command line.
    pub fn command(&self, binary: &str, device: &str) -> String {
        std::iter::once(binary.to_string())
            .chain(self.args(device))
            .map(|p| shell_quote(&p))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Every (config, seed) of the sweep with its state, in config-major order. Fails on configs that
/// do not load (unknown keys, unknown model type) before anything runs.
pub fn plan(sweep: &SweepConfig, extra_overrides: &[String]) -> Result<Vec<SweepRun>> {
    let mut runs = Vec::new();
    for path in &sweep.runs {
        for &seed in &sweep.seeds {
            let mut overrides: Vec<String> = sweep.set.clone();
            overrides.extend(extra_overrides.iter().cloned());
            overrides.push(format!("train.seed={seed}"));
            let config = TrainConfig::load(path, &overrides)?;
            let state = run_state(&config)?;
            runs.push(SweepRun {
                label: config.model.model_type.to_string(),
                config_path: path.clone(),
                seed,
                overrides,
                config,
                state,
            });
        }
    }
    let mut by_type: BTreeMap<&str, std::collections::BTreeSet<&Path>> = BTreeMap::new();
    for r in &runs {
        by_type
            .entry(r.config.model.model_type.name())
            .or_default()
            .insert(r.config_path.as_path());
    }
    let clash: std::collections::HashSet<String> = by_type
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(t, _)| t.to_string())
        .collect();
    for r in &mut runs {
        if clash.contains(&r.label) {
            r.label = r.config.name.clone();
        }
    }
    let mut dirs = BTreeMap::new();
    for r in &runs {
        if let Some(other) = dirs.insert(r.dir(), &r.config_path) {
            if other != &r.config_path {
                bail!(
                    "{} and {} write to the same run directory {}; give them different names",
                    other.display(),
                    r.config_path.display(),
                    r.dir()
                );
            }
        }
    }
    Ok(runs)
}

fn run_state(cfg: &TrainConfig) -> Result<RunState> {
    let dir = cfg.run_dir();
    if dir.is_finished() {
        let diff = crate::train_config::saved_differences(&dir, cfg)?;
        return Ok(if diff.is_empty() {
            RunState::Finished
        } else {
            RunState::Stale(diff.iter().map(ToString::to_string).collect())
        });
    }
    if dir.resume_state().exists() {
        return Ok(RunState::Interrupted);
    }
    Ok(RunState::New)
}

/// Refuses a sweep whose run directories hold runs made with another config, unless they are to
/// be retrained (`overwrite`) or only collected (then they are left out of the table); each is
/// named in a warning first.
pub fn refuse_stale(runs: &[SweepRun], overwrite: bool, collect_only: bool) -> Result<()> {
    let stale: Vec<&SweepRun> = runs
        .iter()
        .filter(|r| matches!(r.state, RunState::Stale(_)))
        .collect();
    if stale.is_empty() || overwrite {
        return Ok(());
    }
    for r in &stale {
        if let RunState::Stale(diff) = &r.state {
            let diff = diff.join("; ");
            tracing::warn!("{}: finished with a different config ({diff})", r.dir());
        }
    }
    if collect_only {
        return Ok(());
    }
    bail!(
        "{} run director{} of this sweep hold runs made with a different config (listed above); \
         use --overwrite to retrain them, or set output.dir elsewhere",
        stale.len(),
        if stale.len() == 1 { "y" } else { "ies" }
    )
}

/// The runs still to train: the unfinished ones, or all of them with `overwrite`.
pub fn unfinished(runs: &[SweepRun], overwrite: bool) -> Vec<&SweepRun> {
    runs.iter()
        .filter(|r| overwrite || r.state != RunState::Finished)
        .collect()
}

/// Reads `metrics.json` (and `run.json`) of a finished run of the sweep.
pub fn read_finished(run: &SweepRun) -> Result<FinishedRun> {
    FinishedRun::read(&run.dir(), &run.label, run.seed, &run.config)
}

/// Each row label's arm: without knowledge, with the random control, or with real knowledge.
fn arms_of(runs: &[SweepRun]) -> Vec<(String, crate::sweep::verdict::Arm)> {
    use crate::sweep::verdict::Arm;
    let mut arms: Vec<(String, Arm)> = Vec::new();
    for r in runs {
        if arms.iter().any(|(l, _)| l == &r.label) {
            continue;
        }
        let sources = r.config.model.model_type.knowledge_sources();
        let arm = if sources.is_empty() {
            Arm::NoKnowledge
        } else if sources.iter().all(|s| s.is_random()) {
            Arm::RandomKnowledge
        } else {
            let real = sources.into_iter().filter(|s| !s.is_random());
            Arm::Knowledge(real.map(|s| s.source).collect())
        };
        arms.push((r.label.clone(), arm));
    }
    arms
}

/// What `collect` wrote.
#[derive(Debug)]
pub struct SweepReport {
    pub finished: usize,
    pub planned: usize,
    pub markdown: String,
    pub written: Vec<PathBuf>,
}

/// The sweep's verdicts in Markdown (knowledge against no knowledge and random knowledge on the
/// headline metric; every model against the strongest baseline on every listed metric) and its
/// findings in words (`findings.md`).
fn verdicts(
    sweep: &SweepConfig,
    runs: &[SweepRun],
    finished: &[FinishedRun],
    labels: &[String],
) -> (String, String) {
    use crate::sweep::{against_best, findings, verdict};
    let arms = arms_of(runs);
    let comparisons = verdict::compare(finished, &arms, &sweep.headline);
    let mut md = verdict::markdown(&comparisons, &arms, &sweep.headline);
    let best = against_best::against_best(finished, labels, &sweep.headline);
    let words = findings::findings(&comparisons, &best, &arms, labels, &sweep.headline);
    for metric in &sweep.metrics {
        let results = against_best::against_best(finished, labels, metric);
        md.push('\n');
        md.push_str(&against_best::markdown(&results, labels, metric));
    }
    (md, words)
}

/// Builds the table from the finished runs of `runs` and writes `sweep.csv`, `sweep.md`,
/// `bars.png` and `runs.csv` (every planned run with its state) into the sweep's `out` directory.
pub fn collect(sweep: &SweepConfig, runs: &[SweepRun]) -> Result<SweepReport> {
    use crate::sweep::table::{csv, draw_bars, markdown, method_rows};
    let mut finished = Vec::new();
    let mut listing = String::from("label,seed,state,dir\n");
    for r in runs {
        let state = match &r.state {
            RunState::Finished => "finished",
            RunState::Interrupted => "interrupted",
            RunState::New => "not started",
            RunState::Stale(_) => "stale (different config)",
        };
        listing.push_str(&format!(
            "{},{},{state},{}\n",
            r.label,
            r.seed,
            r.dir().display()
        ));
        if r.state == RunState::Finished {
            finished.push(read_finished(r)?);
        }
    }
    if finished.is_empty() {
        bail!(
            "sweep {}: none of its {} runs has finished; run `scgenept sweep --config …` first",
            sweep.name,
            runs.len()
        );
    }
    let mut labels: Vec<String> = Vec::new();
    for r in runs {
        if !labels.contains(&r.label) {
            labels.push(r.label.clone());
        }
    }
    let rows = method_rows(&finished, &labels);
    let mut note = format!(
        "{} of {} runs finished ({} configs × seeds {:?}).",
        finished.len(),
        runs.len(),
        labels.len(),
        sweep.seeds
    );
    note.push_str(&crate::sweep::table::left_out_note(&finished));
    // Synthetic data must not pass for cells: every title says so (the data crate's synth/write.rs marks the file).
    let synthetic = finished.iter().any(|f| f.synthetic);
    let tag = if synthetic { " — SYNTHETIC data" } else { "" };
    let (verdict, findings) = verdicts(sweep, runs, &finished, &labels);
    let md = markdown(
        &format!("Sweep {}{tag}", sweep.name),
        &rows,
        &sweep.metrics,
        &sweep.headline,
        sweep.seeds.len(),
        &note,
        &verdict,
    );
    let out = sweep.out_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create", out.display()))?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let p = out.join(name);
        scgenept_data::files::write_atomic(&p, text.as_bytes())
            .with_context(|| format!("{}: cannot write", p.display()))?;
        Ok(p)
    };
    let mut written = vec![
        write("sweep.csv", &csv(&rows))?,
        write("sweep.md", &md)?,
        write("runs.csv", &listing)?,
        write("findings.md", &findings)?,
    ];
    let bars = out.join("bars.png");
    draw_bars(
        &rows,
        &sweep.headline,
        &format!(
            "{}{}: {} (mean ± 95% CI over seeds)",
            if synthetic { "SYNTHETIC data — " } else { "" },
            sweep.name,
            sweep.headline
        ),
        &bars,
    )?;
    written.push(bars);
    Ok(SweepReport {
        finished: finished.len(),
        planned: runs.len(),
        markdown: md,
        written,
    })
}
