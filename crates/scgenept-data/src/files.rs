//! File helpers every crate uses: atomic writes (a temporary sibling renamed into place, removed
//! on interrupt) and SHA-256 of bytes and files.

use std::path::{Path, PathBuf};

pub use crate::tempfiles::temp_sibling;

/// Where a write of `path` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A regular file, or nothing yet: a temporary sibling of this path, renamed over it (a
    /// symbolic link is followed, so the file it points to is replaced, not the link).
    Replace(PathBuf),
    /// A character device or a named pipe (`/dev/null`, `/dev/stdout`, a FIFO): written in
    /// place, since writing to it is the point, and renaming over it would destroy it.
    InPlace,
}

/// How `path` can be written, or a one-line refusal when it exists and is neither a regular
/// file nor a device or pipe to write into (a directory, a block device, a socket): a rename
/// over it would replace it with a file.
pub fn destination(path: &Path) -> std::io::Result<Destination> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Destination::Replace(path.to_path_buf()))
        }
        Err(e) => return Err(e),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        // A link to a regular file: replace what it points to.
        return Ok(Destination::Replace(
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        ));
    }
    if kind.is_char_device() || kind.is_fifo() {
        return Ok(Destination::InPlace);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it exists and is {what}; give a file path instead"),
    ))
}

/// Writes `bytes` to `path` atomically: a temporary sibling, then a rename, so a reader (or a
/// crash) never sees a half-written file. Creates the parent directory. The temporary is
/// registered for removal on interrupt, and stale ones of earlier, killed writers go first
/// (`tempfiles.rs`). A device or pipe is written in place and anything else that is not a
/// regular file is refused ([`destination`]): nothing is ever renamed over them.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = match destination(path)? {
        Destination::InPlace => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            return f.write_all(bytes).and_then(|()| f.flush());
        }
        Destination::Replace(target) => target,
    };
    let path = path.as_path();
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

/// Writes `path` atomically through `fill`, which writes the whole file at the temporary path it
/// is given (a file too large to build in memory: a streamed h5ad, the cells cache). The same
/// guarantees as [`write_atomic`]: the temporary is registered for removal on interrupt, removed
/// when `fill` fails, and renamed over `path` only when it succeeds. A device or pipe gets the
/// finished file copied into it (from a temporary in the system's temporary folder).
pub fn write_atomic_with<T>(
    path: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let path = match destination(path)? {
        Destination::InPlace => return write_into_device(path, fill),
        Destination::Replace(target) => target,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::tempfiles::remove_stale_siblings(&path);
    let tmp = crate::tempfiles::temp_sibling(&path);
    let _guard = crate::tempfiles::TempGuard::new(&tmp);
    let written = fill(&tmp)
        .inspect(|_| pause_for_tests())
        .and_then(|t| std::fs::rename(&tmp, &path).map(|()| t));
    written.inspect_err(|_| crate::tempfiles::remove(&tmp))
}

/// [`write_atomic_with`] into a device or pipe: `fill` writes a temporary file, which is then
/// copied into `device` and removed.
fn write_into_device<T>(
    device: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let tmp = crate::tempfiles::temp_sibling(&std::env::temp_dir().join("scgenept-device-write"));
    let _guard = crate::tempfiles::TempGuard::new(&tmp);
    let written = fill(&tmp).and_then(|t| {
        let mut out = std::fs::OpenOptions::new().write(true).open(device)?;
        std::io::copy(&mut std::fs::File::open(&tmp)?, &mut out)?;
        Ok(t)
    });
    crate::tempfiles::remove(&tmp);
    written
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
