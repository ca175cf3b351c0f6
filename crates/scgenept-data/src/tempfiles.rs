//! Temporary files that must not outlive an interrupted command. Every atomic write registers its
//! hidden temporary sibling while it exists; an interrupt handler removes what is registered
//! before the process exits ([`remove_registered`]). Temporaries left by a process that was
//! killed outright (SIGKILL, power loss) are removed by the next write of the same file
//! ([`remove_stale_siblings`]): their names carry the writer's process id.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers `path` as a temporary of this process until the guard is dropped.
pub struct TempGuard(PathBuf);

impl TempGuard {
    pub fn new(path: &Path) -> Self {
        lock().push(path.to_path_buf());
        Self(path.to_path_buf())
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        let mut r = lock();
        if let Some(i) = r.iter().position(|p| p == &self.0) {
            r.swap_remove(i);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every registered temporary (called on interrupt, just before exiting).
pub fn remove_registered() {
    for p in lock().drain(..) {
        remove(&p);
    }
}

/// A temporary file, or a directory written as a whole and renamed (a checkpoint).
pub(crate) fn remove(p: &Path) {
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

/// The hidden temporary name of a write of `path` by this process: `.NAME.tmp-PID-N`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(
        ".{}.tmp-{}-{n}",
        file_name(path),
        std::process::id()
    ))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes `.NAME.tmp-PID-N` siblings of `path` whose process no longer runs (Linux: no
/// `/proc/PID`; elsewhere nothing is removed, as liveness cannot be told).
pub fn remove_stale_siblings(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}.tmp-", file_name(path));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            remove(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_dead_processes_go_and_live_ones_stay() {
        let dir = std::env::temp_dir().join(format!("scgenept-temps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.h5ad");
        // pid 4194304 is above Linux's pid_max: never a live process.
        let dead = dir.join(".x.h5ad.tmp-4194304-0");
        let mine = temp_sibling(&target);
        let other = dir.join(".y.h5ad.tmp-4194304-0");
        for p in [&dead, &mine, &other] {
            std::fs::write(p, b"partial").unwrap();
        }
        remove_stale_siblings(&target);
        assert!(!dead.exists() && mine.exists() && other.exists());
        {
            let _g = TempGuard::new(&mine);
            remove_registered();
        }
        assert!(!mine.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
