//! `run.json`: what a run was (name, seed, device, model type, data file and its hash, the git
//! commit), how it went (epochs, best epoch, the epoch tested, seconds) and what it changed on
//! resuming. Written by the trainer, read back by sweeps and `plot`.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::run::dir::RunDir;
use crate::train_config::TestModel;

/// The fields are in alphabetical order, the order `run.json` has always had (it began as an
/// untyped map), so files stay byte-compatible. Every field defaults when read, so manifests
/// written before a field existed still load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunManifest {
    /// The knowledge table the ridge and kNN baselines used (`model.baseline_knowledge`).
    pub baseline_knowledge_source: Option<scgenept_model::KnowledgeSource>,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    /// Config changes accepted on resuming (`after epoch 3: train.epochs: 4 → 10`), oldest first.
    pub config_changes_on_resume: Vec<String>,
    pub crate_versions: CrateVersions,
    /// The data file as the config gave it.
    pub data: String,
    pub data_bytes: Option<u64>,
    pub data_sha256: Option<String>,
    /// The device label (`cpu`, `cuda:0`, …).
    pub device: String,
    pub epochs_run: usize,
    /// `git rev-parse HEAD` of the working directory, `+dirty` when tracked files had changes.
    pub git_commit: Option<String>,
    pub model_type: String,
    pub name: String,
    pub seconds: f64,
    pub seed: u64,
    pub synthetic: bool,
    /// Which model the test metrics are of; absent in the oldest manifests.
    pub tested: Option<TestModel>,
    pub tested_epoch: Option<usize>,
    /// A transfer run's tested dataset and how the two datasets were aligned (docs/data.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferRecord>,
}

/// The target of a transfer run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferRecord {
    pub data: String,
    pub data_bytes: Option<u64>,
    pub data_sha256: Option<String>,
    pub alignment: scgenept_data::transfer::GeneAlignment,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrateVersions {
    pub burn: String,
    pub scgenept: String,
}

impl Default for CrateVersions {
    fn default() -> Self {
        CrateVersions {
            burn: "0.21.0".into(),
            scgenept: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl RunManifest {
    /// The manifest of a run, or `None` when it has none (unfinished) or it is not readable.
    pub fn read(run: &RunDir) -> Option<RunManifest> {
        let text = std::fs::read_to_string(run.manifest()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, run: &RunDir) -> Result<()> {
        std::fs::write(run.manifest(), serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }

    /// The epoch whose model was tested (older manifests: from `tested` and the epoch counts).
    pub fn tested_epoch(&self) -> usize {
        self.tested_epoch.unwrap_or(match self.tested {
            Some(TestModel::Last) => self.epochs_run,
            _ => self.best_epoch,
        })
    }
}

/// The size and SHA-256 of the data file, when it can be read.
pub fn data_identity(path: &Path) -> (Option<u64>, Option<String>) {
    (
        std::fs::metadata(path).map(|m| m.len()).ok(),
        scgenept_data::files::file_sha256(path).ok(),
    )
}

/// `git rev-parse HEAD` (with `+dirty` when tracked files changed), or `None` outside a repository.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if !out.status.success() || commit.is_empty() {
        return None;
    }
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_is_written_in_the_order_of_the_old_untyped_map() {
        let m = RunManifest {
            name: "demo".into(),
            tested: Some(TestModel::Best),
            tested_epoch: Some(2),
            ..Default::default()
        };
        let typed = serde_json::to_string_pretty(&m).unwrap();
        // serde_json's map without `preserve_order` is sorted: the old `json!` output.
        let value: serde_json::Value = serde_json::from_str(&typed).unwrap();
        assert_eq!(typed, serde_json::to_string_pretty(&value).unwrap());
        assert!(typed.contains("\"tested\": \"best\""));
    }

    #[test]
    fn old_manifests_load_and_say_which_epoch_was_tested() {
        let old: RunManifest =
            serde_json::from_str(r#"{"tested": "last", "epochs_run": 5, "best_epoch": 3}"#)
                .unwrap();
        assert_eq!(old.tested_epoch(), 5);
        let oldest: RunManifest = serde_json::from_str(r#"{"best_epoch": 3}"#).unwrap();
        assert_eq!(oldest.tested_epoch(), 3);
    }
}
