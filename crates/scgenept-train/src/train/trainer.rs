//! `scgenept train`, start to finish: claim the run directory (finished? interrupted?), prepare
//! the inputs, build the model, run the epochs (`train_loop.rs`, checkpointed by `resume.rs`),
//! then test the chosen model beside the baselines and write the run's outputs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;

use scgenept_data::GearsSplit;
use scgenept_model::ScGenePT;

use crate::device::WithBackend;
use crate::run::dir::RunDir;
use crate::run::manifest::{data_identity, git_commit, CrateVersions, RunManifest, TransferRecord};
use crate::run::outputs::{write_metrics, write_predictions, write_results_csv, write_run_plots};
use crate::train::evaluate::predict_test;
use crate::train::prepare::{prepare, Prepared};
use crate::train::train_loop::{interrupt_point, TrainLoop};
use crate::train_config::TrainConfig;
use scgenept_eval::baselines::{Datasets, GeneVectors, MethodReport};
use scgenept_eval::method::Method;

/// What a finished run reports.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run_dir: PathBuf,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub model: MethodReport,
    pub baselines: BTreeMap<Method, MethodReport>,
    pub split: GearsSplit,
    pub seconds: f64,
    /// `model.model_type` of the run (`scgenept_go_c`, …): how tables name the model.
    pub model_type: String,
    /// The data is synthetic (`uns/synthetic` in the file).
    pub synthetic: bool,
}

/// A training job for `Device::dispatch`.
pub struct TrainJob {
    pub config: TrainConfig,
    pub overwrite: bool,
    /// Continue from the run directory's last epoch checkpoint (if any).
    pub resume: bool,
    /// Config keys (dotted) that may differ from the interrupted run's when resuming.
    pub allow_changed: Vec<String>,
}

impl WithBackend for TrainJob {
    type Output = TrainOutcome;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<TrainOutcome> {
        let t0 = Instant::now();
        let cfg = &self.config;
        // Before any data is read: a precision this backend cannot run.
        let precision = cfg.train.precision;
        crate::device::check_precision::<B>(&device, label, precision)
            .map_err(|e| anyhow::anyhow!("train.precision = \"{precision}\": {e}"))?;
        let run = cfg.run_dir();
        let accepted = self.claim(&run)?;
        let p = prepare(cfg)?;
        let model = build_model::<B>(cfg, &p, &device)?;
        std::fs::create_dir_all(run.path()).with_context(|| format!("{run}: cannot create"))?;
        std::fs::write(run.config(), toml::to_string_pretty(cfg)?)?;
        tracing::info!(
            "{label}: {} train / {} val / {} test cells, {} genes ({} outside the scGPT vocabulary), model {} ({} parameters)",
            p.train.examples.len(), p.val.examples.len(), p.test.examples.len(), p.data.n_genes(),
            p.mapping.oov_genes.len(), cfg.model.model_type, burn::module::Module::num_params(&model)
        );
        let mut lp = TrainLoop::new(model, &cfg.train);
        if self.resume {
            lp = crate::train::resume::restore(lp, &run, &device)?;
            lp.model.set_precision(precision)?;
            let after = lp.state.epoch;
            let changes = accepted.iter().map(|d| format!("after epoch {after}: {d}"));
            lp.state.resumes.extend(changes);
        }
        let lp = train_epochs(lp, &p, &run, &device)?;
        test_and_report(&lp, &p, cfg, &run, (label, t0), &device)
    }
}

impl TrainJob {
    /// Decides what the run directory allows: a finished run is replaced only with
    /// `--overwrite`, an interrupted one is continued (`--resume`) or replaced. Returns the config
    /// changes accepted for a resume.
    fn claim(&self, run: &RunDir) -> Result<Vec<String>> {
        if run.is_finished() && !self.overwrite {
            bail!("{run}: holds a finished run; use --overwrite to replace it");
        }
        let has_checkpoint = run.resume_state().exists();
        if has_checkpoint && !self.resume && !self.overwrite {
            bail!(
                "{run}: holds an interrupted run; continue it with --resume, or start over with \
                 --overwrite"
            );
        }
        let accepted = if self.resume && has_checkpoint && !self.overwrite {
            crate::train::resume::check_config(run, &self.config, &self.allow_changed)?
        } else {
            Vec::new()
        };
        if self.overwrite {
            // The old run stops counting as finished the moment its replacement starts.
            let _ = std::fs::remove_file(run.metrics());
            if !self.resume {
                let _ = std::fs::remove_dir_all(run.resume());
            }
        }
        Ok(accepted)
    }
}

/// The network of `p`, seeded with `train.seed`, its knowledge tables starting from the tables'
/// rows; pretrained scGPT weights where the config names them; the precision.
fn build_model<B: AutodiffBackend>(
    cfg: &TrainConfig,
    p: &Prepared,
    device: &B::Device,
) -> Result<ScGenePT<B>> {
    B::seed(device, cfg.train.seed);
    let mut model = initial_weights::<B>(cfg.train.seed, p, device)?;
    if let Some(ckpt) = &cfg.model.pretrained {
        let (m, report) = scgenept_model::checkpoint::import_checkpoint(
            model,
            ckpt,
            Some(&p.pretrained_prefixes),
        )?;
        tracing::info!("pretrained {}: {report}", ckpt.display());
        model = m;
    }
    model.set_precision(cfg.train.precision)?;
    Ok(model)
}

/// The initial network. Weights are always drawn on the host (burn-flex seeded with `seed`) and
/// then moved to the device, so one seed gives the same starting weights on the CPU, CUDA and
/// wgpu (each backend's own generator would draw different ones; docs/features.md, "Devices").
fn initial_weights<B: AutodiffBackend>(
    seed: u64,
    p: &Prepared,
    device: &B::Device,
) -> Result<ScGenePT<B>> {
    if scgenept_model::host::on_host::<B>() {
        return Ok(ScGenePT::<B>::with_knowledge(
            &p.model,
            &p.knowledge_rows(),
            device,
        )?);
    }
    #[cfg(feature = "flex")]
    {
        use burn::tensor::backend::Backend;
        type Host = burn::backend::Flex;
        let cpu = Default::default();
        Host::seed(&cpu, seed);
        let host = ScGenePT::<Host>::with_knowledge(&p.model, &p.knowledge_rows(), &cpu)?;
        let sd = scgenept_model::state_dict::model_state_dict(&host);
        drop(host);
        let (model, report) = scgenept_model::state_dict::apply_state_dict(
            ScGenePT::<B>::new(&p.model, device)?,
            &sd,
            &Default::default(),
            std::path::Path::new("(initial weights drawn on the host)"),
        )?;
        if let Some(name) = report.missing.first() {
            bail!("internal: the host-drawn weights have no '{name}'");
        }
        Ok(model)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = seed;
        Ok(ScGenePT::<B>::with_knowledge(
            &p.model,
            &p.knowledge_rows(),
            device,
        )?)
    }
}

/// Runs the epochs left, checkpointing after each; Ctrl-C stops between batches.
fn train_epochs<B: AutodiffBackend>(
    mut lp: TrainLoop<B>,
    p: &Prepared,
    run: &RunDir,
    device: &B::Device,
) -> Result<TrainLoop<B>> {
    // Ctrl-C now stops at the next batch boundary instead of killing the process.
    let graceful = crate::train::interrupt::Graceful::enter();
    while let Some(epoch) = lp.next_epoch() {
        lp = lp.run_epoch(epoch, p, run, device)?;
        crate::train::resume::save(run, &lp)?;
    }
    let (done, epochs) = (lp.state.epoch, lp.settings().epochs);
    interrupt_point(done + 1, epochs, done, run)?;
    // From here on an interrupt ends the process at once (temporaries removed); the epoch
    // checkpoint stays, so `--resume` goes straight to testing.
    drop(graceful);
    lp.finish(run)?;
    Ok(lp)
}

/// Tests the chosen model, scores it beside the baselines and writes predictions, figures,
/// `results.csv`, `run.json` and, last, `metrics.json`.
/// What `run.json` records of a transfer's target.
fn transfer_record(cfg: &TrainConfig, p: &Prepared) -> Option<TransferRecord> {
    let (t, alignment) = (cfg.data.transfer_to.as_ref()?, p.alignment.clone()?);
    let (data_bytes, data_sha256) = data_identity(&t.path);
    Some(TransferRecord {
        data: t.path.display().to_string(),
        data_bytes,
        data_sha256,
        alignment,
    })
}

fn test_and_report<B: AutodiffBackend>(
    lp: &TrainLoop<B>,
    p: &Prepared,
    cfg: &TrainConfig,
    run: &RunDir,
    (label, t0): (&str, Instant),
    device: &B::Device,
) -> Result<TrainOutcome> {
    let t = &cfg.train;
    let (tested, tested_epoch) = lp.tested();
    let datasets = Datasets {
        train: &p.data,
        test: &p.test_data,
    };
    let judge = cfg.eval.judge(datasets, &p.split);
    let (preds, cells) = timed("test predictions", || {
        predict_test(&tested, p, t.eval_batch_size, device, judge.wants_cells())
    });
    timed("predictions.h5ad", || {
        write_predictions(&run.predictions(), p, &preds)
    })?;
    // Figures are a convenience: a failure to draw one must not lose a finished run.
    let title = format!("{} seed {}", cfg.name, t.seed);
    if let Err(e) = timed("plots", || {
        write_run_plots(run, p, &preds, &title, tested_epoch)
    }) {
        tracing::warn!("plots not written: {e:#}");
    }
    let report = timed("metrics", || judge.model(&preds, cells.as_ref()));
    let baselines = timed("baselines", || {
        let table = p.baseline_table().map(|t| t as &dyn GeneVectors);
        judge.baselines(t.seed, table)
    });
    let synthetic = p.data.synthetic.is_some();
    let (data_bytes, data_sha256) = data_identity(&cfg.data.path);
    let s = &lp.state;
    RunManifest {
        baseline_knowledge_source: p.baseline_source,
        best_epoch: s.best_epoch,
        best_val_loss: s.best_val_loss,
        config_changes_on_resume: s.resumes.clone(),
        crate_versions: CrateVersions::default(),
        data: cfg.data.path.display().to_string(),
        data_bytes,
        data_sha256,
        device: label.to_string(),
        epochs_run: s.epoch,
        git_commit: git_commit(),
        model_type: cfg.model.model_type.to_string(),
        name: cfg.name.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        seed: t.seed,
        synthetic,
        tested: Some(t.test_model),
        tested_epoch: Some(tested_epoch),
        transfer: transfer_record(cfg, p),
    }
    .write(run)?;
    write_results_csv(&run.results(), &p.split, &report, &baselines)?;
    write_metrics(run, &report, &baselines, synthetic)?;
    Ok(TrainOutcome {
        run_dir: run.path().to_path_buf(),
        epochs_run: s.epoch,
        best_epoch: s.best_epoch,
        best_val_loss: s.best_val_loss,
        model: report,
        baselines,
        split: p.split.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        model_type: cfg.model.model_type.to_string(),
        synthetic,
    })
}

/// Runs `f`, logging its wall time at debug level.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    tracing::debug!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    out
}
