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

use crate::train_config::TrainConfig;

/// The loop's state after a finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: usize,
    pub best_val_loss: f64,
    pub best_epoch: usize,
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

/// Keys a resumed run may change without `--allow-changed`: the number of epochs (the record in
/// `run.json` says when it changed).
const FREE_ON_RESUME: [&str; 1] = ["train.epochs"];

/// Before resuming, compares the run's saved `config.toml` with `cfg`. A difference in a key that
/// changes the result is refused, naming the keys, unless `allowed` lists them (dotted keys);
/// returns the accepted differences (`key: old → new`) for the run's record.
pub fn check_config(run_dir: &Path, cfg: &TrainConfig, allowed: &[String]) -> Result<Vec<String>> {
    let diffs = crate::train_config::saved_differences(run_dir, cfg)?;
    let refused: Vec<_> = diffs
        .iter()
        .filter(|d| !FREE_ON_RESUME.contains(&d.key.as_str()) && !allowed.contains(&d.key))
        .collect();
    if !refused.is_empty() {
        let changes: Vec<String> = refused.iter().map(|d| d.to_string()).collect();
        let keys: Vec<&str> = refused.iter().map(|d| d.key.as_str()).collect();
        anyhow::bail!(
            "--resume: the config differs from the interrupted run's ({}), so the resumed run \
             would mix two settings; resume with the saved values ({}), start over with \
             --overwrite, or accept the change with --allow-changed {}",
            changes.join("; "),
            run_dir.join("config.toml").display(),
            keys.join(",")
        );
    }
    Ok(diffs.iter().map(ToString::to_string).collect())
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
    // Written beside the target and renamed into place; a directory left by a killed run is
    // removed here, and this one on interrupt (the data crate's `tempfiles.rs`).
    scgenept_data::tempfiles::remove_stale_siblings(&target);
    let tmp = scgenept_data::tempfiles::temp_sibling(&target);
    let _guard = scgenept_data::tempfiles::TempGuard::new(&tmp);
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
    let old = scgenept_data::tempfiles::temp_sibling(&target);
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
