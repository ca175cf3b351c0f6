//! cell-eval's `clustering_agreement`, natively: `tests/fixtures/cell_eval/clustering/*` were
//! written by cell-eval 0.8.2 with scanpy 1.11, UMAP 0.5 and python-igraph 1.0
//! (`scripts/make_clustering_fixtures.py`); on each pair the Leiden memberships must be the same
//! partitions as scanpy's, at every resolution, and the score equal within 1e-12.

use scgenept_eval::clustering::{clustering_agreement, memberships};
use scgenept_eval::pair::{Cells, ControlSource, Pair};

use crate::common::fixture;

/// A membership renumbered by first appearance: equal partitions give equal vectors.
fn canonical(m: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::HashMap::new();
    m.iter()
        .map(|c| {
            let next = seen.len();
            *seen.entry(*c).or_insert(next)
        })
        .collect()
}

fn expected_membership(want: &serde_json::Value, key: &str) -> Vec<usize> {
    let v = want["memberships"][key].as_array().expect(key);
    v.iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

#[test]
fn clustering_agreement_equals_cell_eval() {
    for case in ["small", "medium", "large", "diffuse"] {
        let dir = fixture("cell_eval/clustering").join(case);
        let read = |side: &str| Cells::read(&dir.join(format!("{side}.h5ad")), "target").unwrap();
        let pair = Pair::new(
            read("real"),
            read("pred"),
            "non-targeting",
            false,
            ControlSource::Pred,
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (real, pred) = memberships(&pair);
        let real_want = expected_membership(&want, "real_1.0");
        assert_eq!(canonical(&real), canonical(&real_want), "{case}: real");
        for (m, r) in pred
            .iter()
            .zip(["0.2", "0.4", "0.6", "0.8", "1.0", "1.5", "2.0"])
        {
            let w = expected_membership(&want, &format!("pred_{r}"));
            assert_eq!(canonical(m), canonical(&w), "{case}: pred at {r}");
        }
        let score = clustering_agreement(&pair);
        let expected = want["clustering_agreement"].as_f64().unwrap();
        assert!(
            (score - expected).abs() < 1e-12,
            "{case}: {score} vs {expected}"
        );
    }
}
