//! The epoch loop. A `TrainLoop` owns what changes as training goes (the model, the best model so
//! far, Adam and the loop state) and runs one epoch at a time: batches → clipped Adam steps at the
//! epoch's StepLR rate → validation loss → best model and patience. `resume.rs` saves and restores
//! it whole after every epoch.

use std::time::Instant;

use anyhow::{bail, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use scgenept_data::batches::{Batch, BatchConfig, BatchLoader};
use scgenept_model::vocab::VocabMapping;
use scgenept_model::{export_safetensors, ScGenePT};

use crate::run::dir::{CheckpointKind, RunDir};
use crate::train::evaluate::eval_loss;
use crate::train::grad_clip::clip_global_norm;
use crate::train::prepare::Prepared;
use crate::train::step::{batch_grads, step_seed};
use crate::train_config::{TestModel, TrainSection};

/// Adam over the network, as the loop and its checkpoints hold it.
pub type AdamOf<B> = OptimizerAdaptor<Adam, ScGenePT<B>, B>;

/// The loop's state after a finished epoch (saved as the checkpoint's `state.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoopState {
    /// The last finished epoch (0 before the first).
    pub epoch: usize,
    pub best_val_loss: f64,
    pub best_epoch: usize,
    /// Epochs since the best one.
    pub patience: usize,
    /// `train_log.csv` so far.
    pub log: String,
    /// `train_batches.csv` so far (empty in checkpoints written before it existed).
    #[serde(default)]
    pub batch_log: String,
    /// Config changes accepted on resuming ("after epoch 3: train.epochs: 4 → 10"), oldest first.
    #[serde(default)]
    pub resumes: Vec<String>,
}

/// `train_log.csv`'s header: one row per epoch.
const EPOCH_LOG_HEADER: &str = "epoch,lr,train_loss,val_loss,seconds\n";
/// `train_batches.csv`: every optimiser step's loss (drawn faintly behind the epoch means) and
/// global gradient norm before clipping.
pub const BATCH_LOG_HEADER: &str = "epoch,batch,loss,grad_norm\n";

pub struct TrainLoop<B: AutodiffBackend> {
    pub model: ScGenePT<B>,
    pub best: ScGenePT<B>,
    pub optim: AdamOf<B>,
    pub state: LoopState,
    settings: TrainSection,
}

impl<B: AutodiffBackend> TrainLoop<B> {
    /// A loop before its first epoch.
    pub fn new(model: ScGenePT<B>, settings: &TrainSection) -> Self {
        TrainLoop {
            best: model.clone(),
            model,
            optim: AdamConfig::new()
                .with_epsilon(settings.adam_eps as f32)
                .init::<B, ScGenePT<B>>(),
            state: LoopState {
                best_val_loss: f64::INFINITY,
                log: EPOCH_LOG_HEADER.into(),
                batch_log: BATCH_LOG_HEADER.into(),
                ..Default::default()
            },
            settings: settings.clone(),
        }
    }

    /// The `[train]` settings the loop runs with.
    pub fn settings(&self) -> &TrainSection {
        &self.settings
    }

    /// The next epoch to run, or `None` when all ran or early stopping ended the run.
    pub fn next_epoch(&self) -> Option<usize> {
        let s = &self.state;
        let stopped = s.epoch > 0 && s.patience >= self.settings.early_stop;
        (!stopped && s.epoch < self.settings.epochs).then_some(s.epoch + 1)
    }

    /// Trains epoch `epoch` on its batches, validates, and keeps the model if it is the best so
    /// far (exporting it to `checkpoints/best`).
    pub fn run_epoch(
        self,
        epoch: usize,
        p: &Prepared,
        run: &RunDir,
        device: &B::Device,
    ) -> Result<Self> {
        let t = &self.settings;
        let batches = BatchLoader::spawn(
            p.data.clone(),
            p.train.clone(),
            train_batches(t),
            epoch,
            0,
            2,
        );
        let val = val_batches(t);
        let validate = |model: &ScGenePT<B::InnerBackend>| {
            eval_loss(model, &p.data, &p.val, val, epoch, &p.mapping, device)
        };
        self.train_epoch(epoch, batches, &p.mapping, validate, run, device)
    }

    /// One epoch on the given batches: clipped Adam steps at the epoch's StepLR rate, then
    /// `validate` on the stepped model, then best model and patience. `run_epoch` gives the
    /// epoch's own batches; the training-parity test (docs/training-parity.md) gives the
    /// reference's, recorded by `scripts/make_training_fixtures.py`.
    pub fn train_epoch(
        mut self,
        epoch: usize,
        batches: impl ExactSizeIterator<Item = Batch>,
        mapping: &VocabMapping,
        validate: impl FnOnce(&ScGenePT<B::InnerBackend>) -> f64,
        run: &RunDir,
        device: &B::Device,
    ) -> Result<Self> {
        let t = self.settings.clone();
        let lr = t.lr * t.lr_gamma.powi(epoch as i32 - 1);
        let started = Instant::now();
        let n_batches = batches.len();
        let bar = epoch_bar(n_batches, epoch, t.epochs);
        let micro = t.micro_batch_size.unwrap_or(t.batch_size);
        let mut losses = Vec::new();
        for (i, b) in batches.enumerate() {
            interrupt_point(epoch, t.epochs, self.state.epoch, run)?;
            B::seed(device, step_seed(t.seed, epoch, i));
            let step_started = Instant::now();
            let (loss, mut grads) = batch_grads(&self.model, &b, micro, mapping, device);
            let norm =
                clip_global_norm::<B, ScGenePT<B>>(&self.model, &mut grads, t.clip_grad_norm);
            check_finite(loss, norm, (epoch, t.epochs), (i + 1, n_batches), lr, run)?;
            self.model = self.optim.step(lr, self.model, grads);
            losses.push(loss);
            self.state
                .batch_log
                .push_str(&format!("{epoch},{},{loss},{norm}\n", i + 1));
            bar.set_message(format!("lr {lr:.2e} loss {loss:.5}"));
            bar.inc(1);
            if bar.is_hidden() && ((i + 1) % 20 == 0 || i + 1 == n_batches) {
                let left =
                    started.elapsed().as_secs_f64() / (i + 1) as f64 * (n_batches - i - 1) as f64;
                tracing::info!(
                    "| epoch {epoch}/{} | {:4}/{n_batches} batches | lr {lr:.2e} | {:7.1} ms/batch | loss {loss:.5} | epoch eta {} |",
                    t.epochs,
                    i + 1,
                    step_started.elapsed().as_secs_f64() * 1e3,
                    human_seconds(left)
                );
            }
        }
        bar.finish_and_clear();
        let train_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
        let val_loss = validate(&self.model.valid());
        self.end_epoch(epoch, lr, (train_loss, val_loss), started, run)?;
        Ok(self)
    }

    /// Logs the epoch and updates the best model and patience.
    fn end_epoch(
        &mut self,
        epoch: usize,
        lr: f64,
        (train_loss, val_loss): (f64, f64),
        started: Instant,
        run: &RunDir,
    ) -> Result<()> {
        let epochs = self.settings.epochs;
        let secs = started.elapsed().as_secs_f64();
        let s = &mut self.state;
        s.epoch = epoch;
        s.log
            .push_str(&format!("{epoch},{lr},{train_loss},{val_loss},{secs:.2}\n"));
        tracing::info!(
            "epoch {epoch}/{epochs}: train loss {train_loss:.5}, val loss {val_loss:.5} ({secs:.1} s{})",
            if epoch < epochs {
                format!(", at most {} left", human_seconds(secs * (epochs - epoch) as f64))
            } else {
                String::new()
            }
        );
        if val_loss < s.best_val_loss {
            (s.best_val_loss, s.best_epoch, s.patience) = (val_loss, epoch, 0);
            self.best = self.model.clone();
            export_safetensors(&self.best.valid(), &run.checkpoint(CheckpointKind::Best))?;
        } else {
            s.patience += 1;
        }
        if self.state.patience >= self.settings.early_stop {
            tracing::info!(
                "early stop: no better validation loss for {} epochs",
                self.state.patience
            );
        }
        Ok(())
    }

    /// After the last epoch: exports `checkpoints/last` and writes the epoch and step logs.
    pub fn finish(&self, run: &RunDir) -> Result<()> {
        export_safetensors(&self.model.valid(), &run.checkpoint(CheckpointKind::Last))?;
        std::fs::write(run.train_log(), &self.state.log)?;
        std::fs::write(run.batch_log(), &self.state.batch_log)?;
        Ok(())
    }

    /// The model the test metrics are computed on (`train.test_model`) and its epoch.
    pub fn tested(&self) -> (ScGenePT<B::InnerBackend>, usize) {
        match self.settings.test_model {
            TestModel::Best => (self.best.valid(), self.state.best_epoch),
            TestModel::Last => (self.model.valid(), self.state.epoch),
        }
    }
}

/// Training batches: shuffled, the last partial batch dropped, genes sampled per batch.
fn train_batches(t: &TrainSection) -> BatchConfig {
    BatchConfig {
        batch_size: t.batch_size,
        max_seq_len: t.max_seq_len,
        sampling: t.gene_sampling,
        shuffle: true,
        drop_last: true,
        seed: t.seed,
    }
}

/// Validation batches: in order, all of them, with their own gene-sampling seed.
fn val_batches(t: &TrainSection) -> BatchConfig {
    BatchConfig {
        shuffle: false,
        drop_last: false,
        seed: t.seed ^ 0x76616c,
        ..train_batches(t)
    }
}

/// The divergence guard: a non-finite loss or gradient norm stops the run before the optimiser
/// steps, so the epoch checkpoints on disk (the last finished epoch's) stay good.
fn check_finite(
    loss: f64,
    grad_norm: f64,
    (epoch, epochs): (usize, usize),
    (batch, batches): (usize, usize),
    lr: f64,
    run: &RunDir,
) -> Result<()> {
    if loss.is_finite() && grad_norm.is_finite() {
        return Ok(());
    }
    let kept = if epoch > 1 {
        format!(
            "the checkpoints of epoch {} in {} are kept",
            epoch - 1,
            run.checkpoints().display()
        )
    } else {
        "no epoch had finished, so no checkpoint was written".to_string()
    };
    bail!(
        "training diverged at epoch {epoch}/{epochs}, batch {batch}/{batches}: loss {loss}, \
         gradient norm {grad_norm} (lr {lr:.2e}); lower train.lr, or train in f32 if you use \
         another precision; {kept}"
    )
}

/// Stops the run when Ctrl-C or SIGTERM asked for it (`interrupt.rs`): between batches, so the
/// checkpoint on disk is the last finished epoch's, whole.
pub fn interrupt_point(epoch: usize, epochs: usize, done: usize, run: &RunDir) -> Result<()> {
    if !crate::train::interrupt::requested() {
        return Ok(());
    }
    let saved = if done > 0 {
        format!("epoch {done}'s checkpoint is in {}", run.resume().display())
    } else {
        "no epoch had finished, so it starts again at epoch 1".to_string()
    };
    let where_ = if epoch > epochs {
        format!("after training all {epochs} epochs, before testing")
    } else {
        format!("in epoch {epoch}/{epochs}")
    };
    Err(crate::train::interrupt::Interrupted::new(where_, saved).into())
}

/// `42 s`, `3 min 5 s`, `1 h 2 min`.
fn human_seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A progress bar for one epoch when stderr is a terminal; hidden otherwise (log lines instead).
fn epoch_bar(n_batches: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    let bar = crate::train::progress::terminal_bar(
        n_batches as u64,
        "epoch {prefix} {bar:40} {pos}/{len} batches {per_sec} eta {eta} {msg}",
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
