//! Helpers shared by every test binary: temporary directories, fixture paths, the tiny run
//! config, running the `scgenept` binary (CLI tests only), and reading what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty directory for one test (`tag` keeps tests apart; the pid keeps runs apart).
/// It stays after the run, for a failure to be looked at; the next run of the test removes the
/// ones whose process has ended.
pub fn tempdir(tag: &str) -> PathBuf {
    remove_ended_runs(tag);
    let d = std::env::temp_dir().join(format!("scgenept-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes `scgenept-test-{tag}-{pid}` directories of processes that no longer run (Linux: no
/// `/proc/{pid}`; elsewhere nothing is removed).
fn remove_ended_runs(tag: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let prefix = format!("scgenept-test-{tag}-");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The workspace root (where `configs/` and `tests/fixtures/` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/fixtures/SUB`.
pub fn fixture(sub: &str) -> PathBuf {
    root().join("tests/fixtures").join(sub)
}

/// The binary under test: only the CLI package's tests have it.
pub fn bin() -> &'static str {
    match option_env!("CARGO_BIN_EXE_scgenept") {
        Some(bin) => bin,
        None => panic!("only the CLI's tests run the binary"),
    }
}

/// `scgenept ARGS…` with the caller's environment.
pub fn scgenept(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("binary runs")
}

/// `scgenept ARGS…` run from the workspace root (shipped configs by their relative paths).
pub fn scgenept_at_root(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .output()
        .expect("binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts success and returns stdout + stderr.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    stdout(o) + &stderr(o)
}

/// Asserts failure with exactly one `error:` line on stderr, containing every one of `needles`;
/// returns that line.
pub fn one_line_error(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a failure; stderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {}", lines[0]);
    }
    lines[0].to_string()
}

/// A tiny CPU run config in `dir` (synthetic `tiny` data made on first use): 4 epochs unless
/// `--set` says otherwise. Outputs go to `dir/runs/<name>/seed_42`.
pub fn tiny_config(dir: &Path, name: &str) -> PathBuf {
    tiny_run_config(
        &dir.join(format!("{name}.toml")),
        name,
        "scgenept_random",
        &[],
    )
}

/// The tiny run config at `path` for `model_type`, with `sets` (`("train.epochs", "1")`, values
/// as TOML) replacing or adding keys: a 1-layer d 16 network on the synthetic `tiny` data, made
/// on first use. Runs go to `runs/` beside `path`.
pub fn tiny_run_config(
    path: &Path,
    name: &str,
    model_type: &str,
    sets: &[(&str, &str)],
) -> PathBuf {
    let runs = path.parent().unwrap().join("runs");
    let quoted = |v: &str| format!("\"{v}\"");
    let mut sections: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "data",
            vec![
                ("path".into(), quoted("tiny.h5ad")),
                ("synth_preset_if_missing".into(), quoted("tiny")),
            ],
        ),
        (
            "model",
            [
                ("model_type", quoted(model_type)),
                ("vocab", quoted("dataset")),
                ("d_llm", "8".into()),
                ("d_model", "16".into()),
                ("nhead", "2".into()),
                ("d_hid", "16".into()),
                ("nlayers", "1".into()),
                ("dropout", "0.2".into()),
            ]
            .map(|(k, v)| (k.to_string(), v))
            .to_vec(),
        ),
        (
            "train",
            [
                ("epochs", "4"),
                ("batch_size", "4"),
                ("max_seq_len", "24"),
                ("lr", "1e-3"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        ),
        (
            "output",
            vec![("dir".into(), quoted(&runs.display().to_string()))],
        ),
    ];
    for (dotted, value) in sets {
        let (section, key) = dotted.split_once('.').expect("section.key");
        let keys = &mut sections.iter_mut().find(|(s, _)| *s == section).unwrap().1;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => keys.push((key.to_string(), value.to_string())),
        }
    }
    let mut text = format!("name = \"{name}\"\n");
    for (section, keys) in sections {
        text.push_str(&format!("[{section}]\n"));
        for (k, v) in keys {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// The run directory of `tiny_config(dir, name)`.
pub fn run_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("runs/{name}/seed_42"))
}

/// `scgenept train --config CFG EXTRA…`.
pub fn train(cfg: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["train", "--config", cfg.to_str().unwrap()])
        .args(extra);
    c
}

/// A JSON array of strings (fixtures written by the Python tools).
pub fn json_strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Hidden temporaries (`.NAME.tmp-…`) anywhere under `dir`.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().contains(".tmp-") {
                out.push(p.clone());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// Waits (up to two minutes) until `path` exists; `what` names it in the failure.
pub fn wait_for(path: &Path, what: &str) {
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "{what} did not appear: {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Sends SIGINT to `pid` (as Ctrl-C in a terminal does).
pub fn interrupt(pid: u32) {
    let s = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

/// `scgenept data synth --preset tiny --out OUT`, to run as the caller needs.
pub fn synth_tiny_command(out: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(["data", "synth", "--preset", "tiny", "--out"])
        .arg(out);
    c
}

/// `scgenept data synth --preset tiny --out OUT`, run.
pub fn synth_tiny(out: &Path) -> Output {
    synth_tiny_command(out).output().expect("binary runs")
}
