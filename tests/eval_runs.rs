//! cell-eval's metrics inside a run (`run_cells.rs`) are `scgenept eval`'s (which equal
//! cell-eval 0.8.2's, tests/cli_eval.rs): on the Systema fixture, whose predicted file holds
//! predicted cells for the test perturbations and the real control cells, the in-run scores of
//! those cells equal `scgenept eval --profile cell-eval --only-predicted` on the files, metric by
//! metric (but `pearson_delta` and `mse`, which a run keeps as GEARS computes them).

use scgenept_data::{ObsColumns, PerturbData};
use scgenept_eval::cell_eval::WholeSet;
use scgenept_eval::judge::{evaluate, CellEvalSet, EvalRequest, Profile};
use scgenept_eval::pair::Cells;
use scgenept_eval::run_cells::{PredictedCells, RealSide, SAME_AS_GEARS};

use crate::common::fixture;

#[test]
fn in_run_cell_eval_metrics_equal_the_eval_command() {
    let dir = fixture("systema");
    let (real, pred) = (dir.join("real.h5ad"), dir.join("pred.h5ad"));
    let out = std::env::temp_dir().join(format!("scgenept-eval-runs-{}", std::process::id()));
    let req = EvalRequest {
        pred: pred.clone(),
        real: real.clone(),
        pert_col: "condition".into(),
        control_pert: "ctrl".into(),
        profile: Profile::CellEval(CellEvalSet::Full),
        out: out.clone(),
        write_de: false,
        only_predicted: true,
        fdr_scope: Default::default(),
        split: None,
        controls: Default::default(),
        controls_given: false,
        discrimination: Default::default(),
        skip: vec![],
        edistance_dots: Default::default(),
    };
    let want = evaluate(&req).unwrap();
    std::fs::remove_dir_all(&out).unwrap();

    let data = PerturbData::load(&real, &ObsColumns::default()).unwrap();
    let cells = Cells::read(&pred, "condition").unwrap();
    let rows: Vec<usize> = (0..cells.labels.len())
        .filter(|&i| cells.labels[i] != "ctrl")
        .collect();
    let predicted = PredictedCells {
        x: cells.x.select_rows(&rows),
        labels: rows.iter().map(|&i| cells.labels[i].clone()).collect(),
    };
    let whole = WholeSet {
        edistance: Some(Default::default()),
        clustering: true,
    };
    let got = RealSide::new(&data, &want.perts).score(&predicted, whole);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.perts.iter().collect::<Vec<_>>()
    );
    let mut compared = 0;
    for (p, row) in want.perts.iter().zip(&want.values) {
        for (m, v) in want.metrics.iter().zip(row) {
            let (Some(v), false) = (v, SAME_AS_GEARS.contains(m)) else {
                continue;
            };
            match got[p].get(*m) {
                Some(g) => assert!((g - v).abs() <= 1e-9, "{p} {m}: {g} vs {v}"),
                None => assert!(!v.is_finite(), "{p} {m}: missing, eval has {v}"),
            }
            compared += 1;
        }
    }
    assert!(compared >= 7 * 25, "{compared}");
}
