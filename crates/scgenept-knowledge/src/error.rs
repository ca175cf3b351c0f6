//! Errors of knowledge tables: the file and why, in one line.

use std::path::Path;

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
