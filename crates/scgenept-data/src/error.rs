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
