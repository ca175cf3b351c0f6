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

    /// The error of a write of `path` through [`crate::files::write_atomic_with`]: a `DataError`
    /// the writer raised (carried inside the `io::Error`) as it was, else the I/O failure.
    pub fn from_write(path: &Path, e: std::io::Error) -> Self {
        e.downcast::<DataError>()
            .unwrap_or_else(|e| Self::at(path, format!("cannot write ({e})")))
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
