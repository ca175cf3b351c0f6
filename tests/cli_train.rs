//! `scgenept train` end to end: a run killed with SIGKILL mid-training and resumed with `--resume`
//! ends with exactly the metrics of an uninterrupted run (CPU).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{tempdir, tiny_config as config, tiny_run_config, train, wait_for};

fn metrics(dir: &Path, name: &str) -> serde_json::Value {
    let p = dir.join(format!("runs/{name}/seed_42/metrics.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn killed_and_resumed_equals_uninterrupted() {
    let dir = tempdir("resume");
    let whole = config(&dir, "whole");
    let o = train(&whole, &[]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cut = config(&dir, "cut");
    let state = dir.join("runs/cut/seed_42/checkpoints/resume/state.json");
    let mut child = train(&cut, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&state, "an epoch checkpoint");
    // Into the next epoch, then SIGKILL.
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = dir.join("runs/cut/seed_42/metrics.json").exists();
    assert!(!finished, "the run was killed before it finished");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    println!("killed after epoch {} had been saved", saved["epoch"]);

    let o = train(&cut, &["--resume"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming after epoch"), "{err}");
    assert_eq!(
        metrics(&dir, "cut"),
        metrics(&dir, "whole"),
        "resumed run = uninterrupted run"
    );
    let log = |n: &str| {
        std::fs::read_to_string(dir.join(format!("runs/{n}/seed_42/train_log.csv"))).unwrap()
    };
    let losses = |s: String| {
        s.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        losses(log("cut")),
        losses(log("whole")),
        "same per-epoch losses"
    );

    // A finished run is not trained over.
    let o = train(&cut, &[]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--overwrite"));

    // Cells streamed from the disk cache train exactly as cells in memory; the cache is built
    // once next to the data and reused while the file is unchanged.
    let streamed = tiny_run_config(
        &dir.join("streamed.toml"),
        "streamed",
        "scgenept_random",
        &[("data.cells", "\"disk\"")],
    );
    let o = train(&streamed, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("converting X"), "the cache is built: {err}");
    assert!(dir.join("tiny.h5ad.scgenept-cells/meta.json").exists());
    assert_eq!(
        metrics(&dir, "streamed"),
        metrics(&dir, "whole"),
        "streamed = in memory"
    );
    assert_eq!(losses(log("streamed")), losses(log("whole")));
    let o = train(&streamed, &["--overwrite"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !err.contains("converting X"),
        "the cache is reused: {err}"
    );
}

/// The divergence guard: a step whose loss or gradient norm is not finite stops the run with one
/// line naming epoch and batch, before the optimiser steps, and the last epoch's checkpoint stays
/// (a later `--resume` with a sane learning rate continues from it). The NaN is injected with a
/// learning rate of 1e30: the first update makes every weight astronomically large.
#[test]
fn a_diverging_run_stops_in_one_line_and_keeps_the_last_good_checkpoint() {
    let dir = tempdir("diverge");
    let cfg = config(&dir, "nan");
    let run = dir.join("runs/nan/seed_42");
    let o = train(&cfg, &["--set", "train.epochs=1"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let good = std::fs::read(run.join("checkpoints/resume/state.json")).unwrap();
    std::fs::remove_file(run.join("metrics.json")).unwrap();

    let o = train(
        &cfg,
        &[
            "--set",
            "train.epochs=2",
            "--set",
            "train.lr=1e30",
            "--allow-changed",
            "train.lr",
            "--resume",
        ],
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("training diverged at epoch 2/2, batch ")
            && errors[0].contains("lower train.lr")
            && errors[0].contains("the checkpoints of epoch 1"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run.join("checkpoints/resume/state.json")).unwrap(),
        good,
        "the epoch-1 checkpoint is untouched"
    );
    assert!(!run.join("metrics.json").exists());

    // From scratch, the guard fires in epoch 1 and says nothing was saved.
    let o = train(&cfg, &["--set", "train.lr=1e30", "--overwrite"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("at epoch 1/4, batch ") && err.contains("no epoch"),
        "{err}"
    );
}

#[test]
fn export_then_predict_known_and_unseen_perturbations() {
    let dir = tempdir("predict");
    let cfg = config(&dir, "p");
    let o = train(&cfg, &["--set", "train.epochs=1"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bin = env!("CARGO_BIN_EXE_scgenept");
    let bundle = dir.join("bundle");
    let run = dir.join("runs/p/seed_42");
    let o = Command::new(bin)
        .args([
            "export",
            "--run",
            run.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
            "--pool-size",
            "50",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "model.safetensors",
        "config.json",
        "meta.json",
        "controls.h5ad",
    ] {
        assert!(bundle.join(f).exists(), "{f}");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("meta.json")).unwrap()).unwrap();
    let genes: Vec<String> = meta["genes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    // A single and a pair of genes, whatever the synthetic gene list holds.
    let perts = format!("{},{}+{}", genes[0], genes[1], genes[2]);
    let csv = dir.join("pred.csv");
    let predict = |out: &Path, perts: &str| {
        Command::new(bin)
            .args([
                "predict",
                "--checkpoint",
                bundle.to_str().unwrap(),
                "--perturbations",
                perts,
                "--pool-size",
                "20",
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let o = predict(&csv, &perts);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("gene,{}+ctrl,{}+{}", genes[0], genes[1], genes[2])
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), genes.len());
    assert!(rows.iter().all(|r| r
        .split(',')
        .skip(1)
        .all(|v| v.parse::<f64>().unwrap().is_finite())));
    let h5 = dir.join("pred.h5ad");
    assert!(predict(&h5, &perts).status.success());
    let d = scgenept_data::h5ad::H5ad::open(&h5).unwrap();
    assert_eq!(d.read_matrix("X").unwrap().n_rows, 2);
    check_per_cell(bin, &bundle, &dir, &perts, &text);
    check_gears_eval(bin, &run, &dir.join("tiny.h5ad"));
    check_order_independence(&predict, &dir, &genes);
    check_provenance(bin, &run, &bundle, &dir, &predict, &genes[0]);
    // Unknown genes are refused with their names, and nothing is written.
    let bad = dir.join("bad.csv");
    let o = predict(&bad, "NOT_A_GENE,ALSO_NOT");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("NOT_A_GENE, ALSO_NOT"),
        "{err}"
    );
    assert!(!bad.exists());
}

/// Provenance travels (issue 27, case 5): the bundle records the run's data, its synthetic mark,
/// config, state and the files' sums; a prediction's sidecar carries the bundle's id and the
/// mark; a changed weight file is refused in one line naming it; a bundle is not replaced without
/// --overwrite; an unfinished run exports with a warning and says so in the bundle.
fn check_provenance(
    bin: &str,
    run: &Path,
    bundle: &Path,
    dir: &Path,
    predict: &dyn Fn(&Path, &str) -> std::process::Output,
    gene: &str,
) {
    use crate::common::{json, one_line_error};
    let meta = json(&bundle.join("meta.json"));
    let p = &meta["provenance"];
    assert!(
        p["synthetic"].as_str().unwrap().contains("--preset tiny"),
        "{p}"
    );
    assert_eq!(p["finished"], true);
    assert!(p["config"].as_str().unwrap().contains("[train]"));
    assert_eq!(p["data_sha256"].as_str().unwrap().len(), 64);
    let weights = p["sha256"]["model.safetensors"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(p["sha256"].as_object().unwrap().len(), 3);
    let out = dir.join("stamped.csv");
    let o = predict(&out, gene);
    assert!(String::from_utf8_lossy(&o.stdout).contains("SYNTHETIC"));
    let side = json(&dir.join("stamped.csv.provenance.json"));
    assert_eq!(side["bundle_id"], weights[..12]);
    assert!(side["synthetic"].as_str().unwrap().starts_with("SYNTHETIC"));

    // --draws 3: the spread over three control draws, and the same output as one draw.
    let drawn = dir.join("drawn.csv");
    let o = Command::new(bin)
        .args([
            "predict",
            "--checkpoint",
            bundle.to_str().unwrap(),
            "--perturbations",
            gene,
        ])
        .args([
            "--pool-size",
            "20",
            "--draws",
            "3",
            "--out",
            drawn.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = crate::common::ok(&o);
    assert!(
        said.contains("over 3 draws of 20 controls, per-gene SD"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&drawn).unwrap(),
        std::fs::read_to_string(&out).unwrap()
    );

    let export = |out: &Path, extra: &[&str]| {
        Command::new(bin)
            .args(["export", "--run", run.to_str().unwrap()])
            .args(["--out", out.to_str().unwrap(), "--pool-size", "50"])
            .args(extra)
            .output()
            .unwrap()
    };
    one_line_error(
        &export(bundle, &[]),
        &["already holds files", "--overwrite"],
    );
    let copy = dir.join("bundle_copy");
    assert!(export(&copy, &[]).status.success());
    assert!(export(&copy, &["--overwrite"]).status.success());

    // 64 bytes of the weights flipped: refused, naming the file.
    let file = copy.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 64..].iter_mut().for_each(|b| *b ^= 0xff);
    std::fs::write(&file, bytes).unwrap();
    let o = Command::new(bin)
        .args([
            "predict",
            "--checkpoint",
            copy.to_str().unwrap(),
            "--perturbations",
            gene,
        ])
        .args(["--out", dir.join("never.csv").to_str().unwrap()])
        .output()
        .unwrap();
    one_line_error(
        &o,
        &["model.safetensors", "SHA-256", "export the bundle again"],
    );
    assert!(!dir.join("never.csv").exists());

    // An unfinished run: a warning, and the bundle says so.
    std::fs::remove_file(run.join("metrics.json")).unwrap();
    let o = export(&dir.join("bundle_unfinished"), &[]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning:"));
    let meta = json(&dir.join("bundle_unfinished/meta.json"));
    assert_eq!(meta["provenance"]["finished"], false);
}

/// A perturbation's prediction does not depend on the list it stands in (its controls are drawn
/// from the seed and its canonical name): a single alone equals its column beside another, a
/// pair equals itself in the other order, bit for bit; a pair listed twice is refused.
fn check_order_independence(
    predict: &dyn Fn(&Path, &str) -> std::process::Output,
    dir: &Path,
    genes: &[String],
) {
    let columns = |name: &str, perts: &str| -> Vec<Vec<String>> {
        let out = dir.join(format!("{name}.csv"));
        let o = predict(&out, perts);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        let rows: Vec<Vec<String>> = (text.lines().skip(1))
            .map(|l| l.split(',').skip(1).map(str::to_string).collect())
            .collect();
        (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].clone()).collect())
            .collect()
    };
    let (a, b, c) = (&genes[0], &genes[1], &genes[2]);
    let alone = columns("alone", a);
    let beside = columns("beside", &format!("{b}+{c},{a}"));
    assert_eq!(alone[0], beside[1], "{a} alone and after {b}+{c}");
    let reversed = columns("reversed", &format!("{c}+{b}"));
    assert_eq!(beside[0], reversed[0], "{b}+{c} and {c}+{b}");
    let o = predict(&dir.join("twice.csv"), &format!("{b}+{c},{c}+{b}"));
    let err = crate::common::one_line_error(&o, &["the same perturbation", "list it once"]);
    assert!(err.contains(&format!("{b}+{c}")), "{err}");
    assert!(!dir.join("twice.csv").exists());
}

/// `scgenept eval --profile gears` on the run's own predictions.h5ad gives the model's
/// per-condition metrics of its results.csv (within 1e-6: the file keeps the means in float32).
fn check_gears_eval(bin: &str, run: &Path, data: &Path) {
    let out = run.join("gears_eval");
    let o = Command::new(bin)
        .args(["eval", "--profile", "gears", "--pert-col", "condition"])
        .args(["--control-pert", "ctrl", "--pred"])
        .arg(run.join("predictions.h5ad"))
        .arg("--real")
        .arg(data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut want = std::collections::BTreeMap::new();
    let results = std::fs::read_to_string(run.join("results.csv")).unwrap();
    for line in results.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[2] == "model" {
            want.insert(
                (f[0].to_string(), f[3].to_string()),
                f[4].parse::<f64>().unwrap(),
            );
        }
    }
    let ours = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = ours.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut compared = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        for (m, v) in header[1..].iter().zip(&f[1..]) {
            let w = want[&(f[0].to_string(), m.to_string())];
            let v: f64 = v.parse().unwrap();
            assert!(
                (v - w).abs() < 1e-6 || (v.is_nan() && w.is_nan()),
                "{} {m}: {v} vs {w}",
                f[0]
            );
            compared += 1;
        }
    }
    assert_eq!(
        compared,
        want.len(),
        "every model metric of results.csv compared"
    );
}

/// `predict --per-cell`: the layout cell-eval scores (checked for real by
/// scripts/check_cell_eval.sh): the bundle's control cells labelled `ctrl`, then `pool_size`
/// cells per perturbation, the bundle's genes as var, nothing negative. Where no predicted cell
/// was clamped, the cells average to the mean output of the same seed.
fn check_per_cell(bin: &str, bundle: &Path, dir: &Path, perts: &str, mean_csv: &str) {
    use scgenept_data::h5ad::{column_strings, H5ad};
    let out = dir.join("cells.h5ad");
    let o = Command::new(bin)
        .args(["predict", "--checkpoint", bundle.to_str().unwrap()])
        .args(["--perturbations", perts, "--pool-size", "20", "--per-cell"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cells = H5ad::open(&out).unwrap();
    let controls = H5ad::open(&bundle.join("controls.h5ad")).unwrap();
    let n_ctrl = controls.read_matrix("X").unwrap().n_rows;
    let x = cells.read_matrix("X").unwrap();
    assert_eq!(x.n_rows, n_ctrl + 2 * 20);
    assert!(x.data.iter().all(|v| *v >= 0.0 && v.is_finite()));
    assert_eq!(cells.index("var").unwrap(), controls.index("var").unwrap());
    let labels = column_strings(
        cells.column("obs", "condition").unwrap(),
        &out,
        "obs/condition",
    )
    .unwrap();
    let names: Vec<&str> = mean_csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .collect();
    assert!(labels[..n_ctrl].iter().all(|l| l == "ctrl"));
    assert!(labels[n_ctrl..n_ctrl + 20].iter().all(|l| l == names[0]));
    assert!(labels[n_ctrl + 20..].iter().all(|l| l == names[1]));
    // Per gene of the first perturbation: mean over its cells vs the mean output.
    let g = x.n_cols;
    let mut row = vec![0f32; g];
    let mut sum = vec![0f64; g];
    let mut zero = vec![false; g];
    for r in n_ctrl..n_ctrl + 20 {
        x.row_into(r, &mut row);
        for j in 0..g {
            sum[j] += row[j] as f64 / 20.0;
            zero[j] |= row[j] == 0.0;
        }
    }
    let mut compared = 0;
    for (j, line) in mean_csv.lines().skip(1).enumerate() {
        let mean: f64 = line.split(',').nth(1).unwrap().parse().unwrap();
        if !zero[j] {
            assert!(
                (sum[j] - mean).abs() < 1e-5,
                "gene {j}: {} vs {mean}",
                sum[j]
            );
            compared += 1;
        }
    }
    assert!(
        compared > g / 2,
        "only {compared} of {g} genes never clamped"
    );
    let bad = dir.join("cells.csv");
    let o = Command::new(bin)
        .args(["predict", "--checkpoint", bundle.to_str().unwrap()])
        .args(["--perturbations", perts, "--per-cell"])
        .args(["--out", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(".h5ad"));
    assert!(!bad.exists());
}

/// A transfer run (docs/data.md): trained on one dataset, tested on every perturbation of
/// another, genes aligned by symbol; scored like every run, with the alignment in `run.json` and
/// the test subgroups saying what training saw.
#[test]
fn a_transfer_run_trains_on_one_dataset_and_is_scored_on_another() {
    let dir = tempdir("transfer");
    let target = dir.join("target.h5ad");
    let o = crate::common::scgenept(&[
        "data",
        "synth",
        "--preset",
        "tiny",
        "--seed",
        "0",
        "--cells",
        "900",
        "--predictability",
        "0.3",
        "--out",
        target.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = tiny_run_config(
        &dir.join("transfer.toml"),
        "transfer",
        "scgenept_random",
        &[
            ("data.transfer_to", "{ path = \"target.h5ad\" }"),
            ("train.epochs", "2"),
        ],
    );
    let o = train(&cfg, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("genes aligned by symbol: 64 kept"), "{err}");
    let run = dir.join("runs/transfer/seed_42");
    let manifest = crate::common::json(&run.join("run.json"));
    assert_eq!(manifest["transfer"]["alignment"]["genes_kept"], 64);
    assert!(manifest["transfer"]["data"]
        .as_str()
        .unwrap()
        .ends_with("target.h5ad"));
    let results = std::fs::read_to_string(run.join("results.csv")).unwrap();
    // Same genes and perturbations on both sides: every single and both genes of every pair
    // were perturbed in training (on the source).
    for group in ["seen_single", "combo_seen2"] {
        assert!(
            results.contains(group),
            "{group} in results.csv:\n{results}"
        );
    }
    let metrics = metrics(&dir, "transfer");
    assert!(metrics.to_string().contains("pearson_delta"), "{metrics}");
    // A transfer with a profile that cannot score it is refused before anything runs.
    let o = train(
        &cfg,
        &[
            "--set",
            "eval.profiles=[\"gears\",\"systema\"]",
            "--overwrite",
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("does not score transfer runs"),
        "{err}"
    );
}

/// `eval.max_cells_per_condition`: test predictions from a seeded subsample of each condition's
/// cells, the truths from every cell. A cap above every condition's count changes nothing; a cap
/// of 1 changes the model's scores and none of the baselines' (scored against the same truths).
#[test]
fn test_predictions_from_a_subsample_keep_every_cells_truth() {
    let dir = tempdir("subsample");
    let run = |name: &str, cap: Option<&str>| {
        let cfg = tiny_run_config(
            &dir.join(format!("{name}.toml")),
            name,
            "scgenept_random",
            &[],
        );
        let mut sets = vec!["--set".to_string(), "train.epochs=1".to_string()];
        if let Some(c) = cap {
            sets.extend(["--set".into(), format!("eval.max_cells_per_condition={c}")]);
        }
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let o = train(&cfg, &sets).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        (metrics(&dir, name), err)
    };
    let (every, _) = run("every", None);
    let (above, _) = run("above", Some("1000000"));
    assert_eq!(every, above, "a cap no condition reaches changes nothing");
    let (one, err) = run("one", Some("1"));
    assert!(err.contains("at most 1 per condition"), "{err}");
    assert_ne!(
        every["model"], one["model"],
        "the model's means come from fewer cells"
    );
    let baselines = |m: &serde_json::Value| {
        let mut m = m.clone();
        m.as_object_mut().unwrap().remove("model");
        m
    };
    assert_eq!(
        baselines(&every),
        baselines(&one),
        "the truths are every cell's"
    );
}
