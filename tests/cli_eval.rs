//! `scgenept eval` against the reference package: the committed fixture
//! (`tests/fixtures/cell_eval/`, written by `scripts/make_cell_eval_fixtures.py` with cell-eval
//! 0.8.2) scored here must give cell-eval's `results.csv` and `agg_results.csv`, same columns,
//! same rows, every value within 1e-6; the same for the `systema` profile against Systema's own
//! code (`tests/fixtures/systema/`, `scripts/make_systema_fixtures.sh`). Then bad inputs: one
//! line each, nothing written.

use std::path::{Path, PathBuf};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};

use crate::common::{fixture, ok, one_line_error, scgenept, tempdir};

/// A CSV as (header, rows of (first field, values)); an empty cell is polars' null (`None`).
type Table = (Vec<String>, Vec<(String, Vec<Option<f64>>)>);

fn table(path: &Path) -> Table {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            let mut f = l.split(',');
            let key = f.next().unwrap().to_string();
            let nums = f
                .map(|v| (!v.is_empty()).then(|| v.parse::<f64>().unwrap()))
                .collect();
            (key, nums)
        })
        .collect();
    (header, rows)
}

fn eval(pred: &Path, real: &Path, profile: &str, out: &Path) -> std::process::Output {
    eval_with(pred, real, profile, out, &[])
}

fn eval_with(
    pred: &Path,
    real: &Path,
    profile: &str,
    out: &Path,
    more: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "eval",
        "--pred",
        pred.to_str().unwrap(),
        "--real",
        real.to_str().unwrap(),
        "--pert-col",
        "target",
        "--control-pert",
        "non-targeting",
        "--profile",
        profile,
        "--out",
        out.to_str().unwrap(),
        "--write-de",
    ];
    args.extend(more);
    scgenept(&args)
}

/// Our `results.csv` and `agg_results.csv` against cell-eval's: same columns and rows, nulls and
/// NaNs where it has them, every value within 1e-6. Returns the largest difference.
fn same_as_cell_eval(ours: &Path, theirs: &Path) -> f64 {
    ["results.csv", "agg_results.csv"]
        .iter()
        .map(|file| same_table(&ours.join(file), &theirs.join(file)))
        .fold(0f64, f64::max)
}

/// One of our tables against the reference's: same columns and rows, nulls and NaNs where it
/// has them, every value within 1e-6. Returns the largest difference.
fn same_table(ours: &Path, theirs: &Path) -> f64 {
    let file = theirs.display();
    let mut worst = 0f64;
    let (want_h, want) = table(theirs);
    let (got_h, got) = table(ours);
    assert_eq!(got_h, want_h, "{file}: columns");
    assert_eq!(got.len(), want.len(), "{file}: rows");
    for ((gk, gv), (wk, wv)) in got.iter().zip(&want) {
        assert_eq!(gk, wk, "{file}: row order");
        for ((g, w), m) in gv.iter().zip(wv).zip(&want_h[1..]) {
            match (g, w) {
                (Some(g), Some(w)) if g.is_nan() || w.is_nan() => {
                    assert!(g.is_nan() && w.is_nan(), "{file}: {wk} {m}: {g} vs {w}")
                }
                (Some(g), Some(w)) => {
                    worst = worst.max((g - w).abs());
                    assert!((g - w).abs() <= 1e-6, "{file}: {wk} {m}: {g} vs {w}");
                }
                _ => assert_eq!(g, w, "{file}: {wk} {m}: null on one side only"),
            }
        }
    }
    worst
}

#[test]
fn every_profile_equals_cell_eval() {
    let dir = fixture("cell_eval");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    for (profile, reference) in [
        ("cell-eval", "full"),
        ("cell-eval-de", "de"),
        ("cell-eval-anndata", "anndata"),
    ] {
        let out = tempdir(&format!("eval-{profile}"));
        ok(&eval(&pred, &real, profile, &out));
        let worst = same_as_cell_eval(&out, &dir.join(reference));
        eprintln!("{profile}: largest difference from cell-eval 0.8.2: {worst:e}");
        // The DE tables (their values: tests/eval_de.rs) in pdex's columns and rows.
        for side in ["real_de.csv", "pred_de.csv"] {
            let ours = std::fs::read_to_string(out.join(side)).unwrap();
            let theirs = std::fs::read_to_string(dir.join("de").join(side)).unwrap();
            assert_eq!(
                ours.lines().next(),
                theirs.lines().next(),
                "{side}: columns"
            );
            assert_eq!(ours.lines().count(), theirs.lines().count(), "{side}: rows");
        }
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(summary.contains(&format!("# {profile} scores (6 perturbations)")));
        if profile == "cell-eval" {
            let both =
                summary.contains("| mse | ↓ lower |") && summary.contains("| pr_auc | ↑ higher |");
            assert!(both, "{summary}");
        }
    }
}

/// cell-eval#183/#196: with `--control-source real` the predicted file's control cells play no
/// part. The fixture's `control_real/` is cell-eval 0.8.2's `full` profile on the prediction with
/// its control cells replaced by the real ones; ours on the untouched prediction must equal it,
/// and stay the same when the predicted control cells are scaled (which moves the default
/// scores: the effects are measured from them).
#[test]
fn control_source_real_ignores_the_predicted_control_cells() {
    let dir = fixture("cell_eval");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    let flag = ["--control-source", "real"];
    let out = tempdir("eval-control-real");
    ok(&eval_with(&pred, &real, "cell-eval", &out, &flag));
    let worst = same_as_cell_eval(&out, &dir.join("control_real"));
    eprintln!("--control-source real: largest difference from cell-eval 0.8.2: {worst:e}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("--control-source real"), "{summary}");
    // The same prediction with its control cells tripled.
    let cells = scgenept_eval::pair::Cells::read(&pred, "target").unwrap();
    let scaled = out.join("scaled_controls.h5ad");
    let labels: Vec<&str> = cells.labels.iter().map(String::as_str).collect();
    let genes: Vec<&str> = cells.genes.iter().map(String::as_str).collect();
    let dense = |r: usize, c: usize| {
        let mut row = vec![0f32; genes.len()];
        cells.x.row_into(r, &mut row);
        row[c]
            * if labels[r] == "non-targeting" {
                3.0
            } else {
                1.0
            }
    };
    write(&scaled, &labels, &genes, dense);
    let results = |pred: &Path, more: &[&str], name: &str| {
        let out = tempdir(name);
        ok(&eval_with(pred, &real, "cell-eval-anndata", &out, more));
        std::fs::read_to_string(out.join("results.csv")).unwrap()
    };
    assert_eq!(
        results(&pred, &flag, "eval-ctrl-a"),
        results(&scaled, &flag, "eval-ctrl-b")
    );
    assert_ne!(
        results(&pred, &[], "eval-ctrl-c"),
        results(&scaled, &[], "eval-ctrl-d")
    );
}

/// cell-eval#189: `--discrimination-effect abs` ranks the absolute effects, as cell-eval 0.5.45
/// did (`discrimination_abs/`, written by that release without `clustering_agreement`); every
/// column equals it.
#[test]
fn abs_discrimination_equals_cell_eval_0_5() {
    let dir = fixture("cell_eval");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    let out = tempdir("eval-abs");
    let flag = [
        "--discrimination-effect",
        "abs",
        "--skip-metrics",
        "clustering_agreement",
    ];
    ok(&eval_with(&pred, &real, "cell-eval-anndata", &out, &flag));
    let worst = same_as_cell_eval(&out, &dir.join("discrimination_abs"));
    eprintln!("--discrimination-effect abs: largest difference from cell-eval 0.5.45: {worst:e}");
}

/// `clustering_agreement` through `scgenept eval`: on the pair whose Leiden clusters hang on
/// igraph's random choices (`clustering/diffuse`, scripts/make_clustering_fixtures.py), every
/// row carries cell-eval's value.
#[test]
fn clustering_agreement_in_results_equals_cell_eval() {
    let dir = fixture("cell_eval/clustering/diffuse");
    let out = tempdir("eval-clustering");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    ok(&eval_with(&pred, &real, "cell-eval-anndata", &out, &[]));
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = want["clustering_agreement"].as_f64().unwrap();
    let (header, rows) = table(&out.join("results.csv"));
    let c = header
        .iter()
        .position(|h| h == "clustering_agreement")
        .unwrap()
        - 1;
    assert_eq!(rows.len(), 150);
    for (pert, values) in &rows {
        let got = values[c].unwrap();
        assert!((got - want).abs() < 1e-12, "{pert}: {got} vs {want}");
    }
}

/// With two perturbations cell-eval fails on `clustering_agreement` and leaves its column out;
/// so do we. With three it is there.
#[test]
fn clustering_agreement_needs_three_perturbations() {
    let dir = tempdir("eval-clustering-few");
    let header = |labels: &[&str], name: &str| {
        let (real, pred) = (
            dir.join(format!("{name}_r.h5ad")),
            dir.join(format!("{name}_p.h5ad")),
        );
        write(&real, labels, &GENES, lognorm);
        write(&pred, labels, &GENES, |r, c| lognorm(r, c) * 1.1);
        let out = dir.join(name);
        ok(&eval_with(&pred, &real, "cell-eval-anndata", &out, &[]));
        table(&out.join("results.csv")).0
    };
    let two = header(&LABELS, "two");
    assert!(two.iter().any(|h| h == "pearson_edistance"), "{two:?}");
    assert!(!two.iter().any(|h| h == "clustering_agreement"), "{two:?}");
    let three = [&LABELS[..], &["C", "C"]].concat();
    let three = header(&three, "three");
    assert!(
        three.iter().any(|h| h == "clustering_agreement"),
        "{three:?}"
    );
}

/// `--skip-metrics` (as `cell-eval run --skip-metrics`): the named columns are not computed or
/// written, the others equal cell-eval's; an unknown name is refused with the known ones.
#[test]
fn skip_metrics_leaves_out_what_it_names() {
    let dir = fixture("cell_eval");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    let out = tempdir("eval-skip");
    let skip = [
        "--skip-metrics",
        "pearson_edistance,de_nsig_counts,clustering_agreement",
    ];
    ok(&eval_with(&pred, &real, "cell-eval", &out, &skip));
    for file in ["results.csv", "agg_results.csv"] {
        let (got_h, got) = table(&out.join(file));
        let (want_h, want) = table(&dir.join("full").join(file));
        let gone = [
            "pearson_edistance",
            "de_nsig_counts_real",
            "de_nsig_counts_pred",
            "clustering_agreement",
        ];
        assert!(
            gone.iter().all(|g| !got_h.iter().any(|h| h == g)),
            "{got_h:?}"
        );
        assert_eq!(got_h.len(), want_h.len() - 4);
        for (c, name) in got_h.iter().enumerate().skip(1) {
            let w = want_h.iter().position(|h| h == name).unwrap();
            for (g, wr) in got.iter().zip(&want) {
                let (a, b) = (g.1[c - 1], wr.1[w - 1]);
                let same = match (a, b) {
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-6 || (a.is_nan() && b.is_nan()),
                    (a, b) => a == b,
                };
                assert!(same, "{file} {name}: {a:?} vs {b:?}");
            }
        }
    }
    one_line_error(
        &eval_with(
            &pred,
            &real,
            "cell-eval",
            &tempdir("eval-skip-bad"),
            &["--skip-metrics", "pearson"],
        ),
        &["'pearson' is not a cell-eval metric", "pearson_edistance"],
    );
}

/// `--edistance-dots f32` (float32 products, docs/evaluation.md "Energy distance") reaches the
/// energy distances: `pearson_edistance` moves from the float64 value, which equals cell-eval's
/// (above), and on this small pair stays within 1e-6 of it, as every other metric does.
#[test]
fn float32_dots_move_only_the_energy_distance_and_little() {
    let dir = fixture("cell_eval");
    let (pred, real) = (dir.join("pred.h5ad"), dir.join("real.h5ad"));
    let edistance = |out: &Path| -> f64 {
        let (h, rows) = table(&out.join("results.csv"));
        let c = h.iter().position(|n| n == "pearson_edistance").unwrap();
        rows[0].1[c - 1].unwrap()
    };
    let (f64s, f32s) = (tempdir("eval-dots-f64"), tempdir("eval-dots-f32"));
    let dots = |d: &'static str| ["--edistance-dots", d];
    ok(&eval_with(
        &pred,
        &real,
        "cell-eval-anndata",
        &f64s,
        &dots("f64"),
    ));
    ok(&eval_with(
        &pred,
        &real,
        "cell-eval-anndata",
        &f32s,
        &dots("f32"),
    ));
    same_as_cell_eval(&f32s, &dir.join("anndata"));
    let (a, b) = (edistance(&f64s), edistance(&f32s));
    assert!(a != b && (a - b).abs() < 1e-6, "float64 {a}, float32 {b}");
    let summary = |out: &Path| std::fs::read_to_string(out.join("summary.md")).unwrap();
    let note = "pearson_edistance from float32 dot products (--edistance-dots f32)";
    assert!(summary(&f32s).contains(note) && !summary(&f64s).contains(note));
    // A profile without the energy distance refuses the switch, writing nothing.
    let de = tempdir("eval-dots-de");
    one_line_error(
        &eval_with(&pred, &real, "cell-eval-de", &de, &dots("f32")),
        &["--edistance-dots", "cell-eval-de profile does not compute"],
    );
    assert!(!de.join("results.csv").exists());
}

/// A small pair in cell-eval's layout written by our own h5ad writer.
fn write(path: &Path, labels: &[&str], genes: &[&str], value: impl Fn(usize, usize) -> f32) {
    write_with_col(path, "target", labels, genes, value)
}

/// The same, the labels in obs column `col`.
fn write_with_col(
    path: &Path,
    col: &str,
    labels: &[&str],
    genes: &[&str],
    value: impl Fn(usize, usize) -> f32,
) {
    let mut x = CsrMatrix::with_cols(genes.len());
    for r in 0..labels.len() {
        let row: Vec<f32> = (0..genes.len()).map(|c| value(r, c)).collect();
        x.push_dense_row(&row);
    }
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "cell".into(),
            index: (0..labels.len()).map(|i| format!("c{i}")).collect(),
            columns: vec![(
                col.into(),
                FrameColumn::Categorical(labels.iter().map(|l| l.to_string()).collect()),
            )],
        },
        var: Frame {
            index_name: "gene".into(),
            index: genes.iter().map(|g| g.to_string()).collect(),
            columns: vec![],
        },
        uns: vec![],
    }
    .write(path)
    .unwrap();
}

const LABELS: [&str; 6] = ["non-targeting", "non-targeting", "A", "A", "B", "B"];
const GENES: [&str; 3] = ["A", "B", "C"];

fn lognorm(r: usize, c: usize) -> f32 {
    0.3 + 0.17 * r as f32 + 0.05 * c as f32
}

/// A bad predicted file: its name, cell labels, genes, values, and what the error must say.
type BadCase<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
    fn(usize, usize) -> f32,
    &'a [&'a str],
);

#[test]
fn eval_refuses_bad_pairs_in_one_line_and_writes_nothing() {
    let dir = tempdir("eval-bad");
    let real = dir.join("real.h5ad");
    write(&real, &LABELS, &GENES, lognorm);
    let case = |name: &str, labels: &[&str], genes: &[&str], f: fn(usize, usize) -> f32| {
        let p: PathBuf = dir.join(format!("{name}.h5ad"));
        write(&p, labels, genes, f);
        let out = dir.join(format!("out_{name}"));
        (eval(&p, &real, "cell-eval", &out), out)
    };
    let checks: [BadCase; 5] = [
        (
            "genes",
            &LABELS,
            &["A", "C", "B"],
            lognorm,
            &["different genes", "position 1"],
        ),
        (
            "nocontrol",
            &["A", "A", "A", "A", "B", "B"],
            &GENES,
            lognorm,
            &[
                "no control cells labelled 'non-targeting'",
                "--control-pert",
            ],
        ),
        (
            "missing",
            &["non-targeting", "non-targeting", "A", "A", "A", "A"],
            &GENES,
            lognorm,
            &["[\"B\"]", "score the same perturbations on both sides"],
        ),
        (
            "nan",
            &LABELS,
            &GENES,
            |r, c| if (r, c) == (3, 2) { f32::NAN } else { 0.5 },
            &["X[3, 2] is NaN", "gene C"],
        ),
        (
            "counts",
            &LABELS,
            &GENES,
            |r, c| ((r + 1) * (c + 5)) as f32,
            &["raw counts", "log1p"],
        ),
    ];
    for (name, labels, genes, f, needles) in checks {
        let (o, out) = case(name, labels, genes, f);
        one_line_error(&o, needles);
        assert!(
            !out.join("results.csv").exists(),
            "{name}: a result was written"
        );
    }
}

#[test]
fn only_predicted_scores_the_predicted_perturbations_of_a_larger_real_file() {
    let dir = tempdir("eval-subset");
    let (real, pred, out) = (
        dir.join("real.h5ad"),
        dir.join("pred.h5ad"),
        dir.join("out"),
    );
    write(&real, &LABELS, &GENES, lognorm);
    let fewer = ["non-targeting", "non-targeting", "A", "A"];
    write(&pred, &fewer, &GENES, |r, c| {
        0.2 + 0.11 * r as f32 + 0.07 * c as f32
    });
    one_line_error(&eval(&pred, &real, "cell-eval", &out), &["[\"B\"]"]);
    let o = scgenept(&[
        "eval",
        "--pred",
        pred.to_str().unwrap(),
        "--real",
        real.to_str().unwrap(),
        "--only-predicted",
        "--profile",
        "cell-eval-anndata",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    let (_, rows) = table(&out.join("results.csv"));
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["A"]);
}

fn systema(pred: &Path, split: &[&str], out: &Path) -> std::process::Output {
    let dir = fixture("systema");
    let mut args = vec!["eval", "--pred", pred.to_str().unwrap(), "--real"];
    let real = dir.join("real.h5ad");
    args.push(real.to_str().unwrap());
    args.extend(["--pert-col", "condition", "--control-pert", "ctrl"]);
    args.extend(["--profile", "systema", "--out", out.to_str().unwrap()]);
    args.extend(split);
    scgenept(&args)
}

#[test]
fn systema_profile_equals_systemas_code() {
    let dir = fixture("systema");
    let split = dir.join("split.json");
    let out = tempdir("eval-systema");
    ok(&systema(
        &dir.join("pred.h5ad"),
        &["--split", split.to_str().unwrap()],
        &out,
    ));
    let worst = same_table(&out.join("results.csv"), &dir.join("expected.csv"));
    eprintln!("systema: largest difference from Systema's code: {worst:e}");
    // GEARS' simulation split with seed 1 is the committed split: the same scores.
    let by_seed = tempdir("eval-systema-seed");
    ok(&systema(
        &dir.join("pred.h5ad"),
        &["--split-seed", "1"],
        &by_seed,
    ));
    let read = |d: &Path| std::fs::read_to_string(d.join("results.csv")).unwrap();
    assert_eq!(read(&by_seed), read(&out));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let directions = summary.contains("| corr_all_allpert | ↑ higher |")
        && summary.contains("| rmse_20de | ↓ lower |");
    assert!(directions && summary.contains("SYNTHETIC"), "{summary}");
}

#[test]
fn systema_refuses_a_missing_split_and_scored_training_perturbations() {
    let dir = fixture("systema");
    let out = tempdir("eval-systema-bad");
    one_line_error(
        &systema(&dir.join("pred.h5ad"), &[], &out),
        &["--split FILE", "--split-seed"],
    );
    // Predictions for a training perturbation: its centroid is part of the reference.
    let pred = out.join("train_pred.h5ad");
    let genes: Vec<String> = scgenept_data::h5ad::H5ad::open(&dir.join("real.h5ad"))
        .unwrap()
        .index("var")
        .unwrap();
    let genes: Vec<&str> = genes.iter().map(String::as_str).collect();
    write_with_col(&pred, "condition", &["ctrl", "FOXF1+ctrl"], &genes, lognorm);
    let split = dir.join("split.json");
    one_line_error(
        &systema(&pred, &["--split", split.to_str().unwrap()], &out),
        &["FOXF1+ctrl", "training perturbations"],
    );
    assert!(!out.join("results.csv").exists());
}

/// `--profile vcc2026` through the CLI on cell-eval2's fixture (`tests/fixtures/vcc2026/`): the
/// long `results.csv`, the competition score and each member's place on the scale as cell-eval2's
/// `run`, `prep-real-bundle` and `score` wrote them (the library tests, tests/eval_vcc2026.rs,
/// check every table in full).
#[test]
fn vcc2026_profile_scores_as_cell_eval2() {
    let dir = tempdir("eval-vcc2026");
    let (pred, real) = (fixture("vcc2026/pred.h5ad"), fixture("vcc2026/real.h5ad"));
    let out = dir.join("out");
    ok(&eval(&pred, &real, "vcc2026", &out));
    let (_, ours) = table(&out.join("scored.csv"));
    let (_, theirs) = table(&fixture("vcc2026/scored.csv"));
    let value = |rows: &[(String, Vec<Option<f64>>)], m: &str, col: usize| {
        rows.iter().find(|r| r.0 == m).unwrap().1[col]
    };
    for (metric, want) in &theirs {
        let got = value(&ours, metric, 1).unwrap();
        assert!(
            (got - want[1].unwrap()).abs() < 1e-9,
            "{metric}: {got} vs {want:?}"
        );
    }
    let text = |p: &Path| std::fs::read_to_string(p).unwrap();
    let results = text(&out.join("results.csv"));
    let reference = text(&fixture("vcc2026/run/results.csv"));
    assert_eq!(
        results.lines().count(),
        reference.lines().count(),
        "results.csv rows"
    );
    for f in [
        "agg_results.csv",
        "scale.csv",
        "anchor_splits.csv",
        "de_real.csv",
        "de_pred.csv",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let summary = text(&out.join("summary.md"));
    let avg = value(&theirs, "avg_score", 1).unwrap();
    let line = format!("Competition score (avg of from_replicate): {avg:.4}");
    assert!(summary.contains(&line), "{summary}");
}

/// vcc2026 reads raw counts: log-normalised values, negative values, the predicted control cells,
/// and real data the scale cannot be built on are refused in one line, nothing written.
#[test]
fn vcc2026_refuses_what_it_cannot_score() {
    let dir = tempdir("eval-vcc2026-bad");
    let real = fixture("vcc2026/real.h5ad");
    let lognormed = dir.join("lognorm.h5ad");
    write(&lognormed, &LABELS, &GENES, lognorm);
    let negative = dir.join("negative.h5ad");
    write(&negative, &LABELS, &GENES, |r, c| {
        if (r, c) == (2, 1) {
            -3.0
        } else {
            4.0
        }
    });
    let cases: [(&Path, &[&str], &[&str]); 3] = [
        (
            &lognormed,
            &[],
            &["lognorm.h5ad", "X[0, 0] is 0.3", "raw counts"],
        ),
        (
            &negative,
            &[],
            &["negative.h5ad", "X[2, 1] is -3", "raw counts"],
        ),
        (
            &fixture("vcc2026/pred.h5ad"),
            &["--control-source", "pred"],
            &["real control cells", "--control-source pred"],
        ),
    ];
    for (i, (pred, more, needles)) in cases.iter().enumerate() {
        let out = dir.join(format!("out{i}"));
        one_line_error(&eval_with(pred, &real, "vcc2026", &out, more), needles);
        assert!(
            !out.join("results.csv").exists(),
            "case {i}: a result was written"
        );
    }
}
