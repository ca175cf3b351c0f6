//! File helpers every crate uses: atomic writes (a temporary sibling renamed into place, removed
//! on interrupt) and SHA-256 of bytes and files.

use std::path::Path;

pub use crate::tempfiles::temp_sibling;

/// Writes `bytes` to `path` atomically: a temporary sibling, then a rename, so a reader (or a
/// crash) never sees a half-written file. Creates the parent directory. The temporary is
/// registered for removal on interrupt, and stale ones of earlier, killed writers go first
/// (`tempfiles.rs`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::tempfiles::remove_stale_siblings(path);
    let tmp = crate::tempfiles::temp_sibling(path);
    let _guard = crate::tempfiles::TempGuard::new(&tmp);
    let written = std::fs::write(&tmp, bytes)
        .inspect(|()| pause_for_tests())
        .and_then(|()| std::fs::rename(&tmp, path));
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A test hook: `SCGENEPT_PAUSE_WRITES=MS` holds every atomic write open for MS milliseconds
/// between writing its temporary and renaming it, so a test can interrupt a write in progress
/// (tests/cli_edges.rs).
fn pause_for_tests() {
    if let Some(ms) = std::env::var("SCGENEPT_PAUSE_WRITES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// SHA-256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
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
    Ok(format!("{:x}", h.finalize()))
}
