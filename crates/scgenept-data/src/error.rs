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

/// Writes `bytes` to `path` atomically: a temporary sibling, then a rename, so a reader (or a
/// crash) never sees a half-written file. Creates the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A hidden temporary name next to `path`, unique per call (process id + counter), so two
/// writers of the same file never share a temporary.
pub fn temp_sibling(path: &Path) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// SHA-256 of a file, hex (recorded in run manifests so a result names the exact data).
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
