//! One error type for the model crate. Every variant names the file or key at fault and says what
//! to do, because these messages end up in front of users who passed a bad config or checkpoint.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model type '{name}'; valid types: {valid}")]
    UnknownModelType { name: String, valid: String },

    #[error("invalid model config: {0}")]
    InvalidConfig(String),

    /// The io error is part of the message, not a `source`: the CLI prints error chains, which
    /// would repeat it.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{path}: cannot read checkpoint ({reason}); is it a torch state dict (.pt) or a safetensors file written by `scgenept export`?")]
    CorruptCheckpoint { path: PathBuf, reason: String },

    #[error("{path}: tensor '{key}' has shape {found:?} but the model expects {expected:?}; the checkpoint was trained with a different config (check d_model / nlayers / vocab size / d_llm)")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{path}: tensor '{key}' contains NaN or infinite values; the checkpoint is damaged")]
    NonFinite { path: PathBuf, key: String },

    #[error("{path}: {reason}")]
    BadConfigFile { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    BadVocab { path: PathBuf, reason: String },

    #[error("knowledge table for source '{source_name}' has width {found}, but the model config says d_llm = {expected}; rebuild the table or set d_llm = {found} for this source")]
    EmbeddingWidth {
        source_name: String,
        expected: usize,
        found: usize,
    },

    #[error("knowledge table for source '{source_name}': row {row} is out of range for a vocabulary of {vocab_size} rows")]
    EmbeddingRow {
        source_name: String,
        row: usize,
        vocab_size: usize,
    },

    #[error("input shapes disagree: {0}")]
    InputShape(String),

    /// A model file that had to be downloaded and could not be (the message says what to do).
    #[error("{0}")]
    Fetch(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl ModelError {
    /// An io error on `path` (the message names the file).
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            cause,
        }
    }
}
