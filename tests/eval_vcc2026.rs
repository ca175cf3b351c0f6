//! The vcc2026 profile against cell-eval2 0.20.0 (`tests/fixtures/vcc2026/`, written by
//! `scripts/make_vcc2026_fixtures.py`): both DE tables, every per-perturbation value of
//! `results.csv` and every aggregate.

use std::collections::BTreeMap;

use scgenept_eval::pair::Cells;
use scgenept_eval::vcc2026::de::DeTable;
use scgenept_eval::vcc2026::{score_pair, table, Reference};

use crate::common::fixture;

const CONTROL: &str = "non-targeting";

fn read_csv(path: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(fixture("vcc2026").join(path)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn value(s: &str) -> f64 {
    match s {
        "NaN" | "" => f64::NAN,
        s => s.parse().unwrap(),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * b.abs().max(1e-300) || a == b
}

fn pair() -> (Cells, Cells) {
    let real = Cells::read_counts(&fixture("vcc2026/real.h5ad"), "target").unwrap();
    let pred = Cells::read_counts(&fixture("vcc2026/pred.h5ad"), "target").unwrap();
    let pred = pred.with_controls_of(&real, CONTROL);
    (real, pred)
}

/// Every row of cell-eval2's table is ours: the same kept genes, fold changes within 1e-12,
/// p-values within 1e-9 relative, adjusted p-values within 1e-9 relative.
fn check_de(ours: &DeTable, file: &str) {
    let (header, rows) = read_csv(file);
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (t, f) = (col("target"), col("feature"));
    let (lfc, p, q) = (col("log2_fold_change"), col("p_value"), col("p_adj"));
    let mut n = 0;
    let mut worst = (0f64, 0f64);
    for r in &rows {
        let ti = ours.targets.iter().position(|x| *x == r[t]).unwrap();
        let g = ours.genes.iter().position(|x| *x == r[f]).unwrap();
        let cell = ours
            .get(ti, g)
            .unwrap_or_else(|| panic!("{file}: {} {} not kept", r[t], r[f]));
        assert!(
            (cell.lfc - value(&r[lfc])).abs() < 1e-12,
            "{file} {r:?}: lfc {}",
            cell.lfc
        );
        for (ours, theirs) in [(cell.p_value, value(&r[p])), (cell.p_adj, value(&r[q]))] {
            let rel = (ours - theirs).abs() / theirs.abs().max(1e-300);
            worst.0 = worst.0.max(rel);
            assert!(
                close(ours, theirs, 1e-9),
                "{file} {r:?}: p {ours} vs {theirs}"
            );
        }
        n += 1;
    }
    assert_eq!(n, ours.targets.len() * ours.kept.len(), "{file}: row count");
    eprintln!(
        "{file}: {n} rows, worst p relative difference {:.2e}",
        worst.0
    );
    let _ = worst.1;
}

#[test]
fn vcc2026_de_tables_equal_cell_eval2() {
    let (real, pred) = pair();
    let reference = Reference::of(&real, CONTROL);
    let scored = score_pair(&reference, &pred, CONTROL).unwrap();
    check_de(&reference.de, "run/de_real.csv");
    check_de(&scored.de_pred, "run/de_pred.csv");
}

#[test]
fn vcc2026_results_equal_cell_eval2() {
    let (real, pred) = pair();
    let s = score_pair(&Reference::of(&real, CONTROL), &pred, CONTROL)
        .unwrap()
        .scores;
    let ours: BTreeMap<(String, String), f64> = (s.perts.iter().zip(&s.values))
        .flat_map(|(p, row)| {
            (s.metrics.iter().zip(row))
                .filter_map(move |(m, v)| v.map(|v| ((p.clone(), m.to_string()), v)))
        })
        .collect();
    let (_, rows) = read_csv("run/results.csv");
    let theirs: BTreeMap<(String, String), f64> = rows
        .iter()
        .map(|r| ((r[0].clone(), r[1].clone()), value(&r[2])))
        .collect();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same (perturbation, metric) rows"
    );
    let mut worst = 0f64;
    for (k, v) in &theirs {
        let d = (ours[k] - v).abs();
        worst = worst.max(if d.is_nan() { 0.0 } else { d });
        assert!(
            close(ours[k], *v, 1e-9) || d < 1e-9,
            "{k:?}: ours {} cell-eval2 {v}",
            ours[k]
        );
    }
    eprintln!(
        "results.csv: {} values, largest difference {worst:.2e}",
        theirs.len()
    );
    let (header, rows) = read_csv("run/agg_results.csv");
    let mean = rows.iter().find(|r| r[0] == "mean").unwrap();
    for (name, v) in table::aggregate(&s).unwrap() {
        let i = header.iter().position(|h| h == name).unwrap();
        assert!(
            (v - value(&mean[i])).abs() < 1e-9,
            "{name}: {v} vs {}",
            mean[i]
        );
    }
}

/// numpy's PCG64 draws the scale rests on (`numpy_rng.json`, printed by numpy): the anchor's
/// derived seeds, `integers` over several ranges (the baseline's resampling), `permutation`
/// (the anchor's splits).
#[test]
fn vcc2026_numpy_generator_equals_numpys() {
    use scgenept_data::numpy_pcg64::{Pcg64, SeedSequence};
    let text = std::fs::read_to_string(fixture("vcc2026/numpy_rng.json")).unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    let u64s = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    };
    let seeds: Vec<u64> = (SeedSequence::new(0).generate_state(5).into_iter())
        .map(u64::from)
        .collect();
    assert_eq!(seeds, u64s(&want["seed_sequence_0_5"]));
    let mut g = Pcg64::seed(0);
    let ranges = [1u64, 7, 80, 1000, (1 << 31) + 11];
    for (n, drawn) in ranges
        .iter()
        .zip(want["integers_seed0"].as_array().unwrap())
    {
        let ours: Vec<u64> = (0..4).map(|_| g.integers(*n)).collect();
        assert_eq!(ours, u64s(drawn), "integers(0, {n})");
    }
    let mut g = Pcg64::seed(want["permutation_seed"].as_u64().unwrap());
    for drawn in want["permutations"].as_array().unwrap() {
        let n = drawn.as_array().unwrap().len();
        let ours = g.permutation(&(0..n as u64).collect::<Vec<u64>>());
        assert_eq!(ours, u64s(drawn), "permutation of {n}");
    }
}

/// The scale's two ends and the score: the baseline arm's aggregates (`baseline_agg.csv`), each
/// anchor split's values (`anchor_splits.csv`), and `from_baseline`, `from_replicate` and
/// `avg_score` (`scored.csv`), as cell-eval2's `baseline`, `prep-real-bundle` and `score` wrote
/// them.
#[test]
fn vcc2026_scale_and_score_equal_cell_eval2() {
    let (real, pred) = pair();
    let c = scgenept_eval::vcc2026::competition(&real, &pred, CONTROL).unwrap();
    let (header, rows) = read_csv("bundle/baseline_agg.csv");
    let mean = rows.iter().find(|r| r[0] == "mean").unwrap();
    let mut worst = 0f64;
    for (name, v) in &c.baseline {
        let i = header.iter().position(|h| h == name).unwrap();
        let want = value(&mean[i]);
        worst = worst.max((v - want).abs());
        assert!(
            (v - want).abs() < 1e-9,
            "baseline {name}: ours {v} cell-eval2 {want}"
        );
    }
    eprintln!("baseline_agg: largest difference {worst:.2e}");
    let (header, rows) = read_csv("bundle/anchor_splits.csv");
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let mut worst = 0f64;
    for r in &rows {
        let split: usize = r[col("split_index")].parse().unwrap();
        assert_eq!(c.anchor.seeds[split].to_string(), r[col("seed")]);
        let m = &r[col("metric")];
        let ours = c.anchor.splits[split].iter().find(|v| v.0 == m).unwrap().1;
        let want = value(&r[col("value")]);
        worst = worst.max((ours - want).abs());
        assert!(
            (ours - want).abs() < 1e-9,
            "split {split} {m}: ours {ours} cell-eval2 {want}"
        );
    }
    eprintln!(
        "anchor_splits: {} values, largest difference {worst:.2e}",
        rows.len()
    );
    let (header, rows) = read_csv("scored.csv");
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    for r in &rows {
        let (m, base, rep) = (
            &r[col("metric")],
            &r[col("from_baseline")],
            &r[col("from_replicate")],
        );
        if m == "avg_score" {
            assert!(
                (c.avg_score - value(rep)).abs() < 1e-9,
                "avg_score {}",
                c.avg_score
            );
            continue;
        }
        let ours = c.scores.iter().find(|s| s.metric == m).unwrap();
        assert!(
            (ours.from_replicate - value(rep)).abs() < 1e-9,
            "{m}: from_replicate"
        );
        let b = ours.from_baseline.unwrap();
        assert!(
            (b - value(base)).abs() < 1e-9,
            "{m}: from_baseline {b} vs {base}"
        );
    }
    eprintln!(
        "scored.csv: avg_score {} (cell-eval2 {})",
        c.avg_score,
        rows.last().unwrap()[2]
    );
}
