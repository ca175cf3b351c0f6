//! Epoch checkpoints for `scgenept train --resume`: model, best model and optimizer state in burn's
//! record format (which keeps parameter ids, so Adam's moments find their parameters again), plus
//! the loop state. Batches and dropout masks are functions of (seed, epoch, batch), so a run
//! killed mid-epoch and resumed replays that epoch exactly.
//!
//! Written to a temporary directory and swapped in, so a kill at any moment leaves either the
//! previous epoch's checkpoint or the new one.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;

use crate::run::dir::RunDir;
use crate::train::train_loop::{LoopState, TrainLoop};
use crate::train_config::TrainConfig;

/// Keys a resumed run may change without `--allow-changed`: the number of epochs (the record in
/// `run.json` says when it changed).
const FREE_ON_RESUME: [&str; 1] = ["train.epochs"];

/// Before resuming, compares the run's saved `config.toml` with `cfg`. A difference in a key that
/// changes the result is refused, naming the keys, unless `allowed` lists them (dotted keys);
/// returns the accepted differences (`key: old → new`) for the run's record.
pub fn check_config(run: &RunDir, cfg: &TrainConfig, allowed: &[String]) -> Result<Vec<String>> {
    let diffs = crate::train_config::saved_differences(run, cfg)?;
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
            run.config().display(),
            keys.join(",")
        );
    }
    Ok(diffs.iter().map(ToString::to_string).collect())
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

/// Saves the loop after an epoch.
pub fn save<B: AutodiffBackend>(run: &RunDir, lp: &TrainLoop<B>) -> Result<()> {
    let target = run.resume();
    // Written beside the target and renamed into place; a directory left by a killed run is
    // removed here, and this one on interrupt (the data crate's `tempfiles.rs`).
    scgenept_data::tempfiles::remove_stale_siblings(&target);
    let tmp = scgenept_data::tempfiles::temp_sibling(&target);
    let _guard = scgenept_data::tempfiles::TempGuard::new(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| tmp.display().to_string())?;
    let r = recorder();
    lp.model
        .clone()
        .save_file(tmp.join("model"), &r)
        .context("saving the model state")?;
    lp.best
        .clone()
        .save_file(tmp.join("best"), &r)
        .context("saving the best model")?;
    r.record(lp.optim.to_record(), tmp.join("optim"))
        .context("saving the optimizer state")?;
    let state = tmp.join(RunDir::RESUME_STATE);
    std::fs::write(state, serde_json::to_string_pretty(&lp.state)?)?;
    let old = scgenept_data::tempfiles::temp_sibling(&target);
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&tmp, &target)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Continues `lp` (freshly built from the same config) from the run's last epoch checkpoint:
/// model, best model, Adam's moments and the loop state together. Without a checkpoint, `lp`
/// comes back as it was, to start at epoch 1.
pub fn restore<B: AutodiffBackend>(
    mut lp: TrainLoop<B>,
    run: &RunDir,
    device: &B::Device,
) -> Result<TrainLoop<B>> {
    let dir = run.resume();
    let state_path = run.resume_state();
    if !state_path.exists() {
        tracing::info!("{run}: no checkpoint to resume from; starting at epoch 1");
        return Ok(lp);
    }
    let bad = |what: &str| {
        format!(
            "{}: cannot load the {what}; the checkpoint is damaged or from another config (start \
             again with --overwrite)",
            dir.display()
        )
    };
    let state: LoopState = serde_json::from_str(&std::fs::read_to_string(&state_path)?)
        .with_context(|| bad("loop state"))?;
    let r = recorder();
    lp.best = lp
        .model
        .clone()
        .load_file(dir.join("best"), &r, device)
        .with_context(|| bad("best model"))?;
    lp.model = lp
        .model
        .load_file(dir.join("model"), &r, device)
        .with_context(|| bad("model"))?;
    let record = r
        .load(dir.join("optim"), device)
        .with_context(|| bad("optimizer state"))?;
    lp.optim = lp.optim.load_record(record);
    tracing::info!(
        "resuming after epoch {} (best epoch {})",
        state.epoch,
        state.best_epoch
    );
    let batch_log = std::mem::take(&mut lp.state.batch_log);
    lp.state = state;
    if lp.state.batch_log.is_empty() {
        lp.state.batch_log = batch_log;
    }
    lp.state.batch_log = with_grad_norm_column(&lp.state.batch_log);
    Ok(lp)
}

/// A step log saved before it had the `grad_norm` column gets the column, empty (`nan`) in the
/// old rows, so the finished `train_batches.csv` has one shape.
fn with_grad_norm_column(log: &str) -> String {
    let Some(rows) = log.strip_prefix("epoch,batch,loss\n") else {
        return log.to_string();
    };
    let mut out = crate::train::train_loop::BATCH_LOG_HEADER.to_string();
    for row in rows.lines() {
        out.push_str(&format!("{row},nan\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_step_logs_get_the_grad_norm_column() {
        let old = "epoch,batch,loss\n1,1,0.5\n1,2,0.25\n";
        assert_eq!(
            super::with_grad_norm_column(old),
            "epoch,batch,loss,grad_norm\n1,1,0.5,nan\n1,2,0.25,nan\n"
        );
        let new = "epoch,batch,loss,grad_norm\n1,1,0.5,2\n";
        assert_eq!(super::with_grad_norm_column(new), new);
    }
}
