//! GEARS genetic-interaction scores against the real cell-gears 0.0.2 `get_coeffs`
//! (`scripts/make_gi_fixtures.py`: sklearn's Theil–Sen, dcor's distance correlation).

use scgenept_eval::gi::{gi_scores, GiScores, Subsets};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn gi_scores_equal_gears_get_coeffs() {
    let path = crate::common::fixture("gi/gi_scores.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut worst = (0.0f64, String::new());
    for case in fixture["cases"].as_array().unwrap() {
        let (a, b, ab) = (
            floats(&case["first"]),
            floats(&case["second"]),
            floats(&case["double"]),
        );
        let ours = gi_scores(&Subsets::new(ab.len()), &a, &b, &ab);
        for (name, value) in GiScores::NAMES.iter().zip(ours.values()) {
            let want = case["scores"][*name].as_f64().unwrap();
            let diff = (value - want).abs();
            assert!(
                diff <= 1e-9 * want.abs().max(1.0),
                "{} {name}: ours {value}, GEARS {want}",
                case["name"]
            );
            if diff > worst.0 {
                worst = (diff, format!("{} {name}", case["name"]));
            }
        }
    }
    eprintln!(
        "largest difference from GEARS: {:.3e} ({})",
        worst.0, worst.1
    );
}
