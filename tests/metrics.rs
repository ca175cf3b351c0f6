//! GEARS metrics against the real GEARS 0.0.2 functions (`scripts/make_metric_fixtures.py`), and
//! the baselines on data where their answers are known.

use crate::common::json_strings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::de::DeKeys;
use scgenept_data::{GearsSplit, PerturbData, Subgroups};
use scgenept_eval::baselines::{
    evaluate_baselines, predict, predict_with_embeddings, score_predictions, EmbeddingBaseline,
};
use scgenept_eval::method::{Baseline, Method};
use scgenept_eval::metric_key::to_strings;
use scgenept_eval::metrics::{condition_metrics, control_mean, rank_metric, summarize, DeGenes};
use serde_json::Value;

fn fixture() -> Value {
    let p = crate::common::fixture("metrics/gears_metrics.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// A dataset from parts: cells' conditions, dense rows, gene ids, DE keys.
fn dataset(
    cond: &[String],
    x: &[Vec<f64>],
    gene_ids: Vec<String>,
    names: BTreeMap<String, String>,
    de: DeKeys,
) -> PerturbData {
    let mut conditions: Vec<String> = Vec::new();
    for c in cond {
        if !conditions.contains(c) {
            conditions.push(c.clone());
        }
    }
    let flat: Vec<f32> = x.iter().flatten().map(|v| *v as f32).collect();
    PerturbData {
        source: PathBuf::from("<test>"),
        x: scgenept_data::cells::Cells::Memory(CsrMatrix::from_dense(
            x.len(),
            gene_ids.len(),
            &flat,
        )),
        gene_names: gene_ids.clone(),
        gene_ids,
        condition_names: conditions.iter().map(|c| names[c].clone()).collect(),
        cell_condition: cond
            .iter()
            .map(|c| conditions.iter().position(|x| x == c).unwrap() as u32)
            .collect(),
        conditions,
        de,
        de_computed: false,
        encoding: "test".into(),
        synthetic: None,
    }
}

#[test]
fn condition_metrics_equal_real_gears() {
    let fx = fixture();
    let uns = &fx["uns"];
    let lists = |key: &str| -> BTreeMap<String, Vec<String>> {
        uns[key]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json_strings(v)))
            .collect()
    };
    let de = DeKeys {
        rank_genes_groups_cov_all: lists("rank_genes_groups_cov_all"),
        top_non_dropout_de_20: lists("top_non_dropout_de_20"),
        ..DeKeys::default()
    };
    let names: BTreeMap<String, String> = fx["condition_name"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let data = dataset(
        &json_strings(&fx["conditions"]),
        &matrix(&fx["x"]),
        json_strings(&fx["gene_ids"]),
        names,
        de,
    );
    let ctrl = control_mean(&data);

    let cats = json_strings(&fx["test"]["pert_cat"]);
    let (pred, truth) = (matrix(&fx["test"]["pred"]), matrix(&fx["test"]["truth"]));
    let mean = |rows: &[Vec<f64>], c: &str| -> Vec<f64> {
        let sel: Vec<&Vec<f64>> = rows
            .iter()
            .zip(&cats)
            .filter(|(_, k)| *k == c)
            .map(|(r, _)| r)
            .collect();
        (0..rows[0].len())
            .map(|j| sel.iter().map(|r| r[j]).sum::<f64>() / sel.len() as f64)
            .collect()
    };
    let mut per = BTreeMap::new();
    let mut worst: f64 = 0.0;
    let mut compared = 0;
    for (c, want) in fx["per_condition"].as_object().unwrap() {
        let got = condition_metrics(
            &mean(&pred, c),
            &mean(&truth, c),
            &ctrl,
            &DeGenes::of(&data, c).unwrap(),
        );
        for (k, w) in want.as_object().unwrap() {
            let g = got
                .get(k)
                .unwrap_or_else(|| panic!("{c}: metric {k} missing"));
            worst = worst.max((g - w.as_f64().unwrap()).abs());
            compared += 1;
        }
        per.insert(c.clone(), got);
    }
    println!("{compared} per-condition values, max |ours - GEARS| = {worst:.2e}");
    assert!(worst < 1e-9, "{worst}");
    assert_eq!(compared, 5 * 12);
    // compute_metrics' overall means.
    let summary = to_strings(&summarize(&per, &Subgroups::default()));
    for (k, w) in fx["overall"].as_object().unwrap() {
        let g = summary[&format!("test_{k}")];
        assert!((g - w.as_f64().unwrap()).abs() < 1e-9, "{k}: {g} vs {w}");
    }
}

/// Four genes; the double's change is exactly the sum of the singles' changes.
fn additive_world() -> (PerturbData, GearsSplit) {
    let s = |v: &str| v.to_string();
    let rows = |n: usize, v: [f64; 4]| vec![v.to_vec(); n];
    let mut x = rows(4, [1.0, 1.0, 1.0, 1.0]);
    let mut cond = vec![s("ctrl"); 4];
    for (c, v) in [
        ("A+ctrl", [3.0, 1.0, 1.5, 1.0]),
        ("B+ctrl", [1.0, 0.5, 1.0, 2.0]),
        ("A+B", [3.0, 0.5, 1.5, 2.0]),
        ("C+ctrl", [1.0, 1.0, 0.25, 1.0]),
    ] {
        x.extend(rows(2, v));
        cond.extend(vec![s(c); 2]);
    }
    let ids: Vec<String> = ["A", "B", "C", "D"].iter().map(|g| s(g)).collect();
    let mut names = BTreeMap::new();
    let mut de = DeKeys::default();
    for c in ["ctrl", "A+ctrl", "B+ctrl", "A+B", "C+ctrl"] {
        names.insert(s(c), format!("K562_{c}"));
        de.rank_genes_groups_cov_all
            .insert(format!("K562_{c}"), ids.clone());
        de.top_non_dropout_de_20
            .insert(format!("K562_{c}"), ids.clone());
    }
    let data = dataset(&cond, &x, ids, names, de);
    let split = GearsSplit {
        train: vec![s("A+ctrl"), s("B+ctrl"), s("ctrl")],
        val: vec![],
        test: vec![s("A+B"), s("C+ctrl")],
        test_subgroup: Subgroups {
            combo_seen2: vec![s("A+B")],
            unseen_single: vec![s("C+ctrl")],
            ..Subgroups::default()
        },
        val_subgroup: Subgroups::default(),
    };
    (data, split)
}

#[test]
fn baselines_give_their_known_answers() {
    let (data, split) = additive_world();
    let reports = evaluate_baselines(&data, &split, 0, None);
    let add = &reports[&Method::Baseline(Baseline::Additive)];
    assert_eq!(
        add.per_condition.len(),
        1,
        "additive scores only seen pairs"
    );
    let m = &add.per_condition["A+B"];
    assert!(
        m["mse"] < 1e-12 && (m["pearson_delta"] - 1.0).abs() < 1e-12,
        "{m:?}"
    );
    assert_eq!(
        to_strings(&add.summary)["test_combo_seen2_pearson_delta"],
        m["pearson_delta"]
    );
    assert!(!to_strings(&add.summary).contains_key("test_unseen_single_pearson_delta"));

    // No change predicted: Δ is constant, so GEARS' Pearson is NaN → 0.
    let ctrl = &reports[&Method::Baseline(Baseline::ControlMean)];
    assert_eq!(to_strings(&ctrl.summary)["test_pearson_delta"], 0.0);
    assert_eq!(
        to_strings(&ctrl.summary)["test_unseen_single_pearson_delta_de"],
        0.0
    );
    // Identical predictions for every condition cannot discriminate: rank 0.5.
    assert_eq!(ctrl.per_condition["A+B"]["rank_l1_delta"], 0.5);

    // Non-ctrl-mean: average of the A and B means, the same for every test condition.
    let nc = predict(&data, &split, Baseline::NonCtrlMean, 0);
    assert_eq!(nc["A+B"], vec![2.0, 0.75, 1.25, 1.5]);
    assert_eq!(nc["A+B"], nc["C+ctrl"]);
    let rnd = predict(&data, &split, Baseline::RandomTrainPerturbation, 3);
    assert!(rnd
        .values()
        .all(|v| *v == vec![3.0, 1.0, 1.5, 1.0] || *v == vec![1.0, 0.5, 1.0, 2.0]));
    assert_eq!(
        rnd,
        predict(&data, &split, Baseline::RandomTrainPerturbation, 3),
        "seeded"
    );
    // Matching mean: the pair averages its two trained singles; the unseen single averages the
    // perturbed training cells twice (`C` untrained, `ctrl` never a single).
    let mm = predict(&data, &split, Baseline::MatchingMean, 0);
    assert_eq!(mm["A+B"], vec![2.0, 0.75, 1.25, 1.5]);
    assert_eq!(mm["C+ctrl"], vec![2.0, 0.75, 1.25, 1.5]);
    // The split-half replicate: identical cells in each condition, so each half is the other.
    let rep = &reports[&Method::Baseline(Baseline::SplitHalfReplicate)];
    assert_eq!(rep.per_condition["A+B"]["mse"], 0.0);
    assert_eq!(rep.per_condition["C+ctrl"]["pearson_delta"], 1.0);
    // Scoring the truth itself: perfect.
    let truth: BTreeMap<String, Vec<f64>> = [
        ("A+B".to_string(), vec![3.0, 0.5, 1.5, 2.0]),
        ("C+ctrl".to_string(), vec![1.0, 1.0, 0.25, 1.0]),
    ]
    .into();
    let perfect = score_predictions(&data, &split, &truth);
    assert_eq!(to_strings(&perfect.summary)["test_pearson_delta"], 1.0);
    assert_eq!(to_strings(&perfect.summary)["test_rank_l1_delta"], 0.0);
}

#[test]
fn rank_metric_orders_and_ties() {
    let v = |x: &[f64]| x.to_vec();
    let truth: BTreeMap<String, Vec<f64>> = [
        ("a".into(), v(&[1.0, 0.0])),
        ("b".into(), v(&[0.0, 1.0])),
        ("c".into(), v(&[-1.0, 0.0])),
    ]
    .into();
    assert!(rank_metric(&truth, &truth).values().all(|r| *r == 0.0));
    let swapped: BTreeMap<String, Vec<f64>> = [
        ("a".into(), v(&[-1.0, 0.0])),
        ("b".into(), v(&[0.0, 1.0])),
        ("c".into(), v(&[1.0, 0.0])),
    ]
    .into();
    let r = rank_metric(&swapped, &truth);
    // a's truth (1,0): c's prediction is at L1 0 (closer), b's at 2 (tie with a's own 2).
    assert_eq!(r["a"], (1.0 + 0.5) / 2.0);
    assert_eq!(r["b"], 0.0);
}

/// Δ is linear in the gene embedding: ridge (small λ) recovers it; kNN picks the nearest genes.
#[test]
fn embedding_baselines_recover_a_linear_world() {
    use scgenept_knowledge::KnowledgeTable;
    let s = |v: &str| v.to_string();
    // Genes A..F with 2-d embeddings; each single's Δ over 3 genes = M · e.
    let emb: Vec<(String, Vec<f32>)> = [
        ("A", [1.0, 0.0]),
        ("B", [0.0, 1.0]),
        ("C", [1.0, 1.0]),
        ("D", [2.0, 0.5]),
        ("E", [0.5, 2.0]),
        ("F", [0.9, 0.1]),
    ]
    .iter()
    .map(|(g, e)| (s(g), e.to_vec()))
    .collect();
    let m = [[0.5, -0.2], [0.1, 0.4], [-0.3, 0.3]];
    let delta = |e: &[f32]| -> Vec<f64> {
        m.iter()
            .map(|r| r[0] * e[0] as f64 + r[1] * e[1] as f64)
            .collect()
    };
    let ctrl = [2.0, 2.0, 2.0];
    let mut x = vec![ctrl.to_vec(); 4];
    let mut cond = vec![s("ctrl"); 4];
    for (g, e) in &emb {
        let row: Vec<f64> = delta(e).iter().zip(&ctrl).map(|(d, c)| d + c).collect();
        x.extend(vec![row; 2]);
        cond.extend(vec![format!("{g}+ctrl"); 2]);
    }
    let ids: Vec<String> = ["X", "Y", "Z"].iter().map(|g| s(g)).collect();
    let mut names = BTreeMap::new();
    let mut de = DeKeys::default();
    for c in cond.iter() {
        names.insert(c.clone(), format!("K562_{c}"));
        de.rank_genes_groups_cov_all
            .insert(format!("K562_{c}"), ids.clone());
    }
    let data = dataset(&cond, &x, ids, names, de);
    let split = GearsSplit {
        train: vec![
            s("A+ctrl"),
            s("B+ctrl"),
            s("C+ctrl"),
            s("D+ctrl"),
            s("E+ctrl"),
            s("ctrl"),
        ],
        val: vec![],
        test: vec![s("F+ctrl")],
        test_subgroup: Subgroups {
            unseen_single: vec![s("F+ctrl")],
            ..Subgroups::default()
        },
        val_subgroup: Subgroups::default(),
    };
    let table =
        KnowledgeTable::from_pairs(emb.clone(), BTreeMap::new(), Path::new("<test>")).unwrap();
    let ridge = predict_with_embeddings(
        &data,
        &split,
        &table,
        EmbeddingBaseline::Ridge { lambda: 1e-9 },
    );
    let want: Vec<f64> = delta(&[0.9, 0.1])
        .iter()
        .zip(&ctrl)
        .map(|(d, c)| d + c)
        .collect();
    for (a, b) in ridge["F+ctrl"].iter().zip(&want) {
        assert!(
            (a - b).abs() < 1e-5,
            "ridge {:?} vs {want:?}",
            ridge["F+ctrl"]
        );
    }
    // kNN with k = 1: F (0.9, 0.1) is closest in centred cosine to A (1, 0).
    let knn = predict_with_embeddings(&data, &split, &table, EmbeddingBaseline::Knn { k: 1 });
    let a: Vec<f64> = delta(&[1.0, 0.0])
        .iter()
        .zip(&ctrl)
        .map(|(d, c)| d + c)
        .collect();
    for (p, w) in knn["F+ctrl"].iter().zip(&a) {
        assert!((p - w).abs() < 1e-6, "knn {:?} vs A {a:?}", knn["F+ctrl"]);
    }
    let reports = evaluate_baselines(&data, &split, 0, Some(&table));
    assert!(
        reports.contains_key(&Method::RidgeEmbedding)
            && reports.contains_key(&Method::KnnEmbedding)
    );
    // A gene without a vector: not scored.
    let partial =
        KnowledgeTable::from_pairs(emb[..5].to_vec(), BTreeMap::new(), Path::new("<test>"))
            .unwrap();
    assert!(
        predict_with_embeddings(&data, &split, &partial, EmbeddingBaseline::Knn { k: 5 })
            .is_empty()
    );
}

/// Systema's matching-mean baseline on its fixture (`tests/fixtures/systema/matching_mean.csv`,
/// computed by the loop of Systema's `src/run_matching-mean.py`): every value within 1e-6.
#[test]
fn matching_mean_equals_systemas() {
    let dir = crate::common::fixture("systema");
    let data = PerturbData::load(&dir.join("real.h5ad"), &Default::default()).unwrap();
    let split =
        scgenept_data::split_file::load_split(&dir.join("split.json"), &data.conditions).unwrap();
    let ours = predict(&data, &split, Baseline::MatchingMean, 0);
    let text = std::fs::read_to_string(dir.join("matching_mean.csv")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let mut f = line.split(',');
        let condition = f.next().unwrap();
        let want: Vec<f64> = f.map(|v| v.parse().unwrap()).collect();
        let got = &ours[condition];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{condition}: {g} vs {w}");
        }
        rows += 1;
    }
    assert_eq!(rows, split.test.len());
}
