//! pdex's DE tables, natively: `tests/fixtures/cell_eval/de/{real,pred}_de.csv` were written by
//! cell-eval 0.8.2 through pdex 0.3.0 (`scripts/make_cell_eval_fixtures.py`); ours must have the
//! same rows in the same order, p-values and FDR within 1e-9 relative, U exactly, means and fold
//! changes within 1e-6 relative.

use scgenept_eval::de::{benjamini_hochberg, de_table, FdrScope};
use scgenept_eval::pair::Cells;

use crate::common::fixture;

fn close(got: f64, want: f64, rel: f64) -> bool {
    got == want || (got - want).abs() <= rel * want.abs().max(1e-300)
}

#[test]
fn de_tables_equal_pdex() {
    let dir = fixture("cell_eval");
    let mut worst_p = 0f64;
    for side in ["real", "pred"] {
        let cells = Cells::read(&dir.join(format!("{side}.h5ad")), "target").unwrap();
        let ours = de_table(&cells, "non-targeting", FdrScope::Perturbation);
        let text = std::fs::read_to_string(dir.join(format!("de/{side}_de.csv"))).unwrap();
        let want: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(ours.len(), want.len(), "{side}: rows");
        for (o, w) in ours.iter().zip(&want) {
            let num = |i: usize| w[i].parse::<f64>().unwrap();
            let at = format!("{side} {} {}", w[0], w[1]);
            assert_eq!(
                (o.target.as_str(), o.feature.as_str()),
                (w[0], w[1]),
                "{at}: order"
            );
            assert_eq!(o.target_membership as f64, num(4), "{at}");
            assert_eq!(o.ref_membership as f64, num(5), "{at}");
            assert_eq!(o.statistic, num(9), "{at}: U");
            for (name, g, wv, rel) in [
                ("target_mean", o.target_mean as f64, num(2), 1e-6),
                ("ref_mean", o.ref_mean as f64, num(3), 1e-6),
                ("log2_fold_change", o.log2_fold_change, num(6), 1e-6),
                ("percent_change", o.percent_change, num(7), 1e-6),
                ("p_value", o.p_value, num(8), 1e-9),
                ("fdr", o.fdr, num(10), 1e-9),
            ] {
                assert!(close(g, wv, rel), "{at}: {name} {g} vs pdex's {wv}");
            }
            worst_p = worst_p.max((o.p_value / num(8) - 1.0).abs());
        }
    }
    eprintln!("largest relative p-value difference from pdex: {worst_p:e}");
}

/// `--fdr-scope all`: one correction over every test of the table; the tests themselves and the
/// per-perturbation default are unchanged.
#[test]
fn fdr_over_all_tests_corrects_the_table_at_once() {
    let cells = Cells::read(&fixture("cell_eval").join("real.h5ad"), "target").unwrap();
    let per = de_table(&cells, "non-targeting", FdrScope::Perturbation);
    let all = de_table(&cells, "non-targeting", FdrScope::All);
    let p: Vec<f64> = per.iter().map(|r| r.p_value).collect();
    let want = benjamini_hochberg(&p);
    assert_eq!(all.iter().map(|r| r.fdr).collect::<Vec<_>>(), want);
    assert!(per
        .iter()
        .zip(&all)
        .all(|(a, b)| a.p_value == b.p_value && a.statistic == b.statistic));
    // The two scopes give other q-values (cell-eval#217's observation).
    assert!(per.iter().zip(&all).any(|(a, b)| b.fdr != a.fdr));
}
