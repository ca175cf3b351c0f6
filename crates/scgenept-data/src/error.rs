//! One error type for dataset work: every message names the file (or thing) it is about and,
//! where there is one, the fix — it is printed to the user as a single line.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("{context}: {reason}")]
pub struct DataError {
    pub context: String,
    pub reason: String,
}

impl DataError {
    pub fn new(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            reason: reason.into(),
        }
    }

    pub fn at(path: &Path, reason: impl Into<String>) -> Self {
        Self::new(path.display().to_string(), reason)
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// A knowledge table that cannot be read or written: the file and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TableError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

pub(crate) fn table_err(path: &Path, reason: impl Into<String>) -> TableError {
    TableError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
