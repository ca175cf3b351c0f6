//! Epoch checkpoints for `scgenept train --resume`: model, best model and optimizer state in burn's
//! record format (which keeps parameter ids, so Adam's moments find their parameters again), plus
//! the loop state. Batches and dropout masks are functions of (seed, epoch, batch), so a run
//! killed mid-epoch and resumed replays that epoch exactly.
//!
//! Written to a temporary directory and swapped in, so a kill at any moment leaves either the
//! previous epoch's checkpoint or the new one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use scgenept_model::ScGenePT;

/// The loop's state after a finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: usize,
    pub best_val_loss: f64,
    pub best_epoch: usize,
    pub patience: usize,
    /// `train_log.csv` so far.
    pub log: String,
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

pub fn resume_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints/resume")
}

/// Saves the state after an epoch.
pub fn save<B: AutodiffBackend, O: Optimizer<ScGenePT<B>, B>>(
    run_dir: &Path,
    state: &LoopState,
    model: &ScGenePT<B>,
    best_model: &ScGenePT<B>,
    optim: &O,
) -> Result<()> {
    let target = resume_dir(run_dir);
    let tmp = run_dir.join(format!("checkpoints/.resume.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| tmp.display().to_string())?;
    let r = recorder();
    model
        .clone()
        .save_file(tmp.join("model"), &r)
        .context("saving the model state")?;
    best_model
        .clone()
        .save_file(tmp.join("best"), &r)
        .context("saving the best model")?;
    r.record(optim.to_record(), tmp.join("optim"))
        .context("saving the optimizer state")?;
    std::fs::write(tmp.join("state.json"), serde_json::to_string_pretty(state)?)?;
    let old = run_dir.join(format!("checkpoints/.resume.old-{}", std::process::id()));
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&tmp, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Loads the last saved state into freshly built `model`/`optim`, or `None` when there is none.
#[allow(clippy::type_complexity)]
pub fn load<B: AutodiffBackend, O: Optimizer<ScGenePT<B>, B>>(
    run_dir: &Path,
    model: ScGenePT<B>,
    optim: O,
    device: &B::Device,
) -> Result<Option<(LoopState, ScGenePT<B>, ScGenePT<B>, O)>> {
    let dir = resume_dir(run_dir);
    let state_path = dir.join("state.json");
    if !state_path.exists() {
        return Ok(None);
    }
    let bad = |what: &str| {
        format!("{}: cannot load the {what}; the checkpoint is damaged or from another config (start again with --overwrite)", dir.display())
    };
    let state: LoopState = serde_json::from_str(&std::fs::read_to_string(&state_path)?)
        .with_context(|| bad("loop state"))?;
    let r = recorder();
    let best = model
        .clone()
        .load_file(dir.join("best"), &r, device)
        .with_context(|| bad("best model"))?;
    let model = model
        .load_file(dir.join("model"), &r, device)
        .with_context(|| bad("model"))?;
    let record = r
        .load(dir.join("optim"), device)
        .with_context(|| bad("optimizer state"))?;
    Ok(Some((state, model, best, optim.load_record(record))))
}
