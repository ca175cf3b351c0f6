//! `scgenept eval` against the reference package: the committed fixture
//! (`tests/fixtures/cell_eval/`, written by `scripts/make_cell_eval_fixtures.py` with cell-eval
//! 0.8.2) scored here must give cell-eval's `results.csv` and `agg_results.csv`, same columns,
//! same rows, every value within 1e-6. Then bad inputs: one line each, nothing written.

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
    scgenept(&[
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
    ])
}

/// Our `results.csv` and `agg_results.csv` against cell-eval's: same columns and rows, nulls and
/// NaNs where it has them, every value within 1e-6. Returns the largest difference.
fn same_as_cell_eval(ours: &Path, theirs: &Path) -> f64 {
    let mut worst = 0f64;
    for file in ["results.csv", "agg_results.csv"] {
        let (want_h, want) = table(&theirs.join(file));
        let (got_h, got) = table(&ours.join(file));
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
                        assert!(
                            (g - w).abs() <= 1e-6,
                            "{file}: {wk} {m}: {g} vs cell-eval's {w}"
                        );
                    }
                    _ => assert_eq!(g, w, "{file}: {wk} {m}: null on one side only"),
                }
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

/// A small pair in cell-eval's layout written by our own h5ad writer.
fn write(path: &Path, labels: &[&str], genes: &[&str], value: impl Fn(usize, usize) -> f32) {
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
                "target".into(),
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
