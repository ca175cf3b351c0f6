//! `benches/gpu.sh --dry-run BIN OUT_DIR`: the GPU slot's script run end to end on the CPU with
//! tiny shapes, so every branch it will take on a lent GPU has run before the slot (docs/gpu.md,
//! "A GPU slot"): results written as runs end, at most 8 files, failed runs recorded with their
//! one-line error, the PyTorch runs run or skipped with the reason, runs that cannot fit the
//! deadline skipped and listed, and the summary.

use std::path::Path;
use std::process::Command;

use crate::common::{bin, ok, root, tempdir};

fn dry_run(out: &Path, deadline: Option<u32>) -> String {
    let mut c = Command::new("bash");
    c.arg(root().join("benches/gpu.sh"))
        .args(["--dry-run", bin(), out.to_str().unwrap()]);
    if let Some(d) = deadline {
        c.env("DEADLINE", d.to_string());
    }
    ok(&c.output().expect("bash runs"))
}

fn runs(out: &Path) -> Vec<serde_json::Value> {
    (std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines())
    .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
    .collect()
}

#[test]
fn gpu_script_dry_run_returns_every_branch() {
    let dir = tempdir("gpu-dry");
    let out = dir.join("out");
    let log = dry_run(&out, None);
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert!(
        files.len() <= 8,
        "{} files come back at most 8: {files:?}",
        files.len()
    );
    for f in [
        "meta.json",
        "plan.txt",
        "results.jsonl",
        "summary.md",
        "logs.tar.gz",
    ] {
        assert!(
            out.join(f).is_file(),
            "{f} missing; the script said:\n{log}"
        );
    }
    let all = runs(&out);
    assert_eq!(all.len(), 20, "one line per planned run:\n{log}");
    let status = |name: &str| -> String {
        let r = all.iter().find(|r| r["name"] == name).expect(name);
        r["status"].as_str().unwrap().to_string()
    };
    // Ours in f32 ran; bf16 on the CPU fails in one line, and is recorded, not fatal.
    assert_eq!(status("ours-f32-b64"), "ok");
    assert_eq!(status("predict-ours-f32"), "ok");
    for bf16 in ["ours-bf16-b64", "ours-bf16-b64-portable"] {
        assert!(status(bf16).starts_with("failed (exit 1): error: bf16 runs on a GPU"));
    }
    // The kernel checks need a GPU backend; the CPU binary refuses them in one line.
    let kernels = status("kernels");
    assert!(
        kernels.starts_with("failed (exit 1): error: bench kernels checks the GPU kernels"),
        "{kernels}"
    );
    // PyTorch ran, or is skipped with the reason where python3 has no torch.
    let torch = status("torch-off-b64");
    assert!(
        torch == "ok" || torch.contains("cannot import torch"),
        "{torch}"
    );
    // The last run's estimate never fits a dry run: the deadline's skip branch.
    assert!(status("ours-f32-b16-materialised").starts_with("skipped: needs"));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| ours-f32-b64 | ok |"), "{summary}");
    assert!(
        summary.contains("- ours-f32-b16-materialised: skipped"),
        "{summary}"
    );
    assert!(summary.contains("predicted peak:"), "{summary}");
    // The kernel checks failed (the CPU refuses them), so the steps ran the portable kernels,
    // and the summary says so.
    assert!(
        summary.contains("SCGENEPT_FUSED_KERNELS): ours-f32-b64 portable"),
        "{summary}"
    );
    assert!(
        summary.contains("## Fused kernels against their references"),
        "{summary}"
    );

    // A deadline nothing fits in: every run is skipped and listed, and the files still come.
    let out = dir.join("late");
    dry_run(&out, Some(1));
    let all = runs(&out);
    assert_eq!(all.len(), 20);
    assert!(all
        .iter()
        .all(|r| r["status"].as_str().unwrap().starts_with("skipped")));
    assert!(out.join("summary.md").is_file() && out.join("logs.tar.gz").is_file());
}
