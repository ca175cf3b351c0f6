//! Helpers shared by the `scgenept` binary's end-to-end tests: temporary directories, a tiny run
//! config, running the binary, and reading what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty directory for one test (`tag` keeps tests apart; the pid keeps runs apart).
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scgenept-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scgenept")
}

/// `scgenept ARGS…` with NO_COLOR unset and RUST_BACKTRACE as the caller's environment has it.
pub fn scgenept(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
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
    let text = format!(
        r#"
name = "{name}"
[data]
path = "tiny.h5ad"
synth_preset_if_missing = "tiny"
[model]
model_type = "scgenept_random"
vocab = "dataset"
d_llm = 8
d_model = 16
nhead = 2
d_hid = 16
nlayers = 1
dropout = 0.2
[train]
epochs = 4
batch_size = 4
max_seq_len = 24
lr = 1e-3
[output]
dir = "{}"
"#,
        dir.join("runs").display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
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
