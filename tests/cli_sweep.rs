//! `scgenept sweep` end to end on the tiny synthetic dataset: emitted jobs run on their own, the
//! table collects whatever has finished, a rerun skips finished runs, a changed config is refused,
//! and the intervals are the t-intervals of the per-seed metrics. Also `scgenept plot`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{ok, scgenept, tempdir, tiny_run_config};

fn run_config(dir: &Path, model_type: &str) {
    let path = dir.join(format!("{model_type}.toml"));
    let name = format!("tiny_{model_type}");
    tiny_run_config(&path, &name, model_type, &[("train.epochs", "1")]);
}

fn setup(tag: &str) -> (PathBuf, PathBuf) {
    let dir = tempdir(&format!("sweep-{tag}"));
    run_config(&dir, "scgenept_random");
    run_config(&dir, "scgpt");
    let sweep = dir.join("sweep.toml");
    std::fs::write(
        &sweep,
        format!(
            "name = \"tiny\"\nseeds = [42, 23]\nruns = [\"scgenept_random.toml\", \"scgpt.toml\"]\nout = \"{}\"\n",
            dir.join("table").display()
        ),
    )
    .unwrap();
    (dir, sweep)
}

fn model_metric(dir: &Path, run: &str, seed: u64, key: &str) -> f64 {
    let p = dir.join(format!("runs/{run}/seed_{seed}/metrics.json"));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    m["model"][key].as_f64().unwrap()
}

#[test]
fn emitted_jobs_collect_and_resume_into_one_table() {
    let (dir, sweep) = setup("flow");
    let s = sweep.to_str().unwrap();

    let jobs = scgenept(&["sweep", "--config", s, "--emit-jobs"]);
    let text = String::from_utf8_lossy(&jobs.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains(" train --config ") && lines[0].contains("--set train.seed=42"));
    assert!(lines[1].contains("--set train.seed=23"));

    // One emitted command, run by "the scheduler" from another directory.
    let o = Command::new("sh")
        .args(["-c", lines[0]])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    ok(&o);
    let again = scgenept(&["sweep", "--config", s, "--emit-jobs"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().count(), 3);

    let collected = ok(&scgenept(&["sweep", "--config", s, "--collect"]));
    assert!(collected.contains("1 of 4 runs finished"), "{collected}");
    assert!(collected.contains("(n=1)"), "{collected}");

    let swept = ok(&scgenept(&["sweep", "--config", s]));
    assert!(swept.contains("(1 finished, 3 to train)"), "{swept}");
    assert!(swept.contains("4 of 4 runs finished"), "{swept}");

    // The interval is the t-interval over the two seeds' metrics.
    let key = "test_pearson_delta_de";
    let v = [42, 23].map(|seed| model_metric(&dir, "tiny_scgpt", seed, key));
    let mean = (v[0] + v[1]) / 2.0;
    let sd = ((v[0] - mean).powi(2) + (v[1] - mean).powi(2)).sqrt();
    let half = 12.706204736174698 * sd / 2f64.sqrt();
    let csv = std::fs::read_to_string(dir.join("table/sweep.csv")).unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with("scgpt,model,all,pearson_delta_de,"))
        .expect("scgpt row");
    let f: Vec<f64> = row.split(',').skip(4).map(|x| x.parse().unwrap()).collect();
    assert_eq!(f[0], 2.0);
    assert!((f[1] - mean).abs() < 1e-12);
    assert!((f[2] - (mean - half)).abs() < 1e-9 && (f[3] - (mean + half)).abs() < 1e-9);
    assert!(csv.contains("\nnon_ctrl_mean,baseline,all,pearson_delta_de,2,"));
    let md = std::fs::read_to_string(dir.join("table/sweep.md")).unwrap();
    assert!(
        md.contains(&format!("| scgpt | {mean:.4} ± {half:.4} |")),
        "{md}"
    );
    assert!(md.contains("by test subgroup"), "{md}");
    let png = std::fs::read(dir.join("table/bars.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    let rerun = ok(&scgenept(&["sweep", "--config", s]));
    assert!(rerun.contains("(4 finished, 0 to train)"), "{rerun}");

    // A different recipe in the same directories is refused, naming the key.
    let changed = scgenept(&["sweep", "--config", s, "--set", "train.epochs=2"]);
    assert!(!changed.status.success());
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(err.contains("train.epochs: 1 → 2"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sweep_configs_fail_before_training() {
    let (dir, _) = setup("bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nruns = [\"scgpt.toml\"]\nseeds = [1]\nepochs = 3\n",
    )
    .unwrap();
    let o = scgenept(&["sweep", "--config", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("unknown field `epochs`"),
        "{err}"
    );

    std::fs::write(
        &bad,
        "name = \"x\"\nruns = [\"scgpt.toml\", \"missing.toml\"]\n",
    )
    .unwrap();
    let o = scgenept(&["sweep", "--config", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("missing.toml: cannot read"),
        "{err}"
    );
    assert!(
        !dir.join("runs").exists(),
        "nothing may train before every config loads"
    );

    std::fs::write(
        &bad,
        "name = \"x\"\nruns = [\"scgpt.toml\"]\nseeds = [1, 1]\n",
    )
    .unwrap();
    let o = scgenept(&["sweep", "--config", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("seed 1 is listed twice"));

    let o = scgenept(&["sweep", "--config", bad.to_str().unwrap(), "--collect"]);
    assert!(!o.status.success());

    // One run config twice, under two spellings (issue 27, case 3): refused before anything runs.
    std::fs::write(
        &bad,
        "name = \"x\"\nruns = [\"scgpt.toml\", \"./scgpt.toml\"]\nseeds = [1]\n",
    )
    .unwrap();
    let o = scgenept(&["sweep", "--config", bad.to_str().unwrap()]);
    crate::common::one_line_error(&o, &["scgpt.toml twice", "list each run config once"]);
    assert!(!dir.join("runs").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plot_draws_a_test_perturbation_and_the_learning_curve() {
    let (dir, _) = setup("plot");
    let cfg = dir.join("scgpt.toml");
    ok(&scgenept(&["train", "--config", cfg.to_str().unwrap()]));
    let run = dir.join("runs/tiny_scgpt/seed_42");
    assert!(run.join("plots/learning_curve.png").exists());
    let results = std::fs::read_to_string(run.join("results.csv")).unwrap();
    let condition = results
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let out = dir.join("fig.png");
    let r = run.to_str().unwrap();
    let said = ok(&scgenept(&[
        "plot",
        "--run",
        r,
        "--perturbation",
        &condition,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(said.contains("DE genes"), "{said}");
    assert_eq!(&std::fs::read(&out).unwrap()[1..4], b"PNG");

    let o = scgenept(&["plot", "--run", r, "--perturbation", "NOT_A_GENE"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("NOT_A_GENE"), "{err}");
    let o = scgenept(&[
        "plot",
        "--run",
        r,
        "--out",
        dir.join("x.svg").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("PNG"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sweep --slurm --dry-run` writes one array task per (config, seed) with the resources asked
/// for and submits nothing; `--status` says every run is not submitted yet. (The real scheduler:
/// scripts/slurm_smoke.sh, run by .ci/run.)
#[test]
fn slurm_dry_run_writes_the_array_script() {
    let dir = crate::common::tempdir("slurm");
    let cfg = crate::common::tiny_config(&dir, "s");
    let sweep = dir.join("sweep.toml");
    let out = dir.join("table");
    std::fs::write(
        &sweep,
        format!(
            "name = \"s\"\nseeds = [1, 2]\nruns = [\"{}\"]\nout = \"{}\"\n[slurm]\npartition = \"cpu\"\n",
            cfg.display(),
            out.display()
        ),
    )
    .unwrap();
    let s = sweep.to_str().unwrap();
    let text = crate::common::ok(&crate::common::scgenept(&[
        "sweep",
        "--config",
        s,
        "--slurm",
        "--dry-run",
        "--time",
        "00:10:00",
    ]));
    assert!(text.contains("(2 tasks); not submitted"), "{text}");
    let script = std::fs::read_to_string(out.join("slurm/array.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0,1",
        "#SBATCH --partition=cpu",
        "#SBATCH --time=00:10:00",
        "--set train.seed=2 --device cpu --resume",
    ] {
        assert!(script.contains(want), "{want} missing:\n{script}");
    }
    let status = crate::common::ok(&crate::common::scgenept(&[
        "sweep", "--config", s, "--status",
    ]));
    assert_eq!(status.matches(": not submitted").count(), 2, "{status}");
}
