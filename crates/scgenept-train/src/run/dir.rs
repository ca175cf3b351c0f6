//! The layout of one run's directory (`OUTPUT/NAME/seed_S/`): every file a run writes or reads
//! back is named here and nowhere else (ARCHITECTURE.md, "A run directory").

use std::fmt;
use std::path::{Path, PathBuf};

/// Which exported model of a run: the best by validation loss or the last epoch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointKind {
    Best,
    Last,
}

impl CheckpointKind {
    /// The folder name under `checkpoints/`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::Best => "best",
            CheckpointKind::Last => "last",
        }
    }
}

impl std::str::FromStr for CheckpointKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "best" => Ok(CheckpointKind::Best),
            "last" => Ok(CheckpointKind::Last),
            _ => Err(format!("'{s}' is not a checkpoint: use best or last")),
        }
    }
}

impl fmt::Display for CheckpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run's directory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RunDir(path.into())
    }

    /// `output/name/seed_S`, where a config's runs go.
    pub fn of(output: &Path, name: &str, seed: u64) -> Self {
        RunDir(output.join(name).join(format!("seed_{seed}")))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.0.display()
    }

    /// The config the run was started with.
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    /// Method → metric → value; written last, so its presence means the run finished.
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.json")
    }

    /// What ran where and from what (`RunManifest`).
    pub fn manifest(&self) -> PathBuf {
        self.0.join("run.json")
    }

    /// Per condition, subgroup, method and metric (`condition,subgroup,method,metric,value`).
    pub fn results(&self) -> PathBuf {
        self.0.join("results.csv")
    }

    /// Mean predicted expression per test condition.
    pub fn predictions(&self) -> PathBuf {
        self.0.join("predictions.h5ad")
    }

    /// Per epoch: lr, train and validation loss, seconds.
    pub fn train_log(&self) -> PathBuf {
        self.0.join("train_log.csv")
    }

    /// Per optimiser step: the loss.
    pub fn batch_log(&self) -> PathBuf {
        self.0.join("train_batches.csv")
    }

    /// The output of a run trained as a sweep's child process.
    pub fn job_log(&self) -> PathBuf {
        self.0.join("train.log")
    }

    pub fn plots(&self) -> PathBuf {
        self.0.join("plots")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.0.join("checkpoints")
    }

    /// An exported model (`checkpoints/best`, `checkpoints/last`).
    pub fn checkpoint(&self, kind: CheckpointKind) -> PathBuf {
        self.checkpoints().join(kind.as_str())
    }

    /// The epoch checkpoint `--resume` continues from.
    pub fn resume(&self) -> PathBuf {
        self.checkpoints().join("resume")
    }

    /// The loop state inside the epoch checkpoint; written last, so it marks a whole checkpoint.
    pub fn resume_state(&self) -> PathBuf {
        self.resume().join(Self::RESUME_STATE)
    }

    /// The loop state's file name inside an epoch checkpoint (`resume.rs` writes it last).
    pub const RESUME_STATE: &'static str = "state.json";

    /// The run wrote its metrics.
    pub fn is_finished(&self) -> bool {
        self.metrics().exists()
    }

    /// The run stopped after at least one epoch and before its metrics.
    pub fn is_interrupted(&self) -> bool {
        !self.is_finished() && self.resume_state().exists()
    }
}

impl AsRef<Path> for RunDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for RunDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_one_runs_have_always_had() {
        let r = RunDir::of(Path::new("runs"), "demo", 7);
        assert_eq!(r.path(), Path::new("runs/demo/seed_7"));
        assert_eq!(r.metrics(), Path::new("runs/demo/seed_7/metrics.json"));
        assert_eq!(r.manifest(), Path::new("runs/demo/seed_7/run.json"));
        assert_eq!(
            r.checkpoint(CheckpointKind::Best),
            Path::new("runs/demo/seed_7/checkpoints/best")
        );
        assert_eq!(
            r.resume_state(),
            Path::new("runs/demo/seed_7/checkpoints/resume/state.json")
        );
        assert_eq!(
            r.batch_log(),
            Path::new("runs/demo/seed_7/train_batches.csv")
        );
        assert_eq!(r.to_string(), "runs/demo/seed_7");
    }
}
