//! GEARS-format h5ad files written by the real anndata 0.7.8, 0.8.0 and 0.12.19
//! (`scripts/make_h5ad_fixtures.sh`) read to exactly the data anndata held; DE keys computed by us
//! agree with the real GEARS + scanpy ones.

use crate::common::json_strings;
use std::path::{Path, PathBuf};

use scgenept_data::de::{group_stats, welch_scores};
use scgenept_data::h5ad::H5ad;
use scgenept_data::{ObsColumns, PerturbData};
use serde_json::Value;

fn fixtures() -> PathBuf {
    crate::common::fixture("h5ad")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
        .unwrap()
}

fn dense(d: &PerturbData) -> Vec<Vec<f32>> {
    (0..d.n_cells())
        .map(|r| {
            let mut row = vec![0.0; d.n_genes()];
            d.x.row_into(r, &mut row);
            row
        })
        .collect()
}

fn expected_x(exp: &Value) -> Vec<Vec<f32>> {
    exp["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn every_anndata_encoding_reads_exactly() {
    let exp = expected();
    let cond = json_strings(&exp["conditions"]);
    for file in [
        "ad07_gears.h5ad",
        "ad08_gears.h5ad",
        "ad08_dense.h5ad",
        "ad12_gears.h5ad",
        "ad12_csc.h5ad",
    ] {
        let d = PerturbData::load(&fixtures().join(file), &ObsColumns::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(dense(&d), expected_x(&exp), "{file}: X");
        assert_eq!(d.gene_names, json_strings(&exp["gene_names"]), "{file}");
        assert_eq!(d.gene_ids, json_strings(&exp["gene_ids"]), "{file}");
        let per_cell: Vec<String> = d
            .cell_condition
            .iter()
            .map(|k| d.conditions[*k as usize].clone())
            .collect();
        assert_eq!(per_cell, cond, "{file}: conditions");
        assert!(!d.de_computed, "{file}: DE keys are in the file");
        let uns = &exp["uns"];
        for (k, v) in uns["rank_genes_groups_cov_all"].as_object().unwrap() {
            assert_eq!(
                d.de.rank_genes_groups_cov_all[k],
                json_strings(v),
                "{file} {k}"
            );
            assert_eq!(
                d.de.top_non_dropout_de_20[k],
                json_strings(&uns["top_non_dropout_de_20"][k])
            );
            assert_eq!(
                d.de.top_non_zero_de_20[k],
                json_strings(&uns["top_non_zero_de_20"][k])
            );
            let ints = |key: &str| -> Vec<usize> {
                uns[key][k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect()
            };
            assert_eq!(d.de.non_dropout_gene_idx[k], ints("non_dropout_gene_idx"));
            assert_eq!(d.de.non_zeros_gene_idx[k], ints("non_zeros_gene_idx"));
        }
        let names = json_strings(&exp["condition_name"]);
        for (k, c) in d.conditions.iter().enumerate() {
            let row = cond.iter().position(|x| x == c).unwrap();
            assert_eq!(d.condition_names[k], names[row], "{file}: condition_name");
        }
        // counts layer too.
        let f = H5ad::open(&fixtures().join(file)).unwrap();
        if file != "ad08_dense.h5ad" {
            let counts = f.read_matrix("layers/counts").unwrap();
            assert_eq!(counts.n_rows, d.n_cells());
        }
        assert!(f.encoding().contains(if file.starts_with("ad07") {
            "0.7"
        } else {
            "≥0.8"
        }));
    }
}

/// Our t-test and DE lists against the real GEARS `get_DE_genes` / `get_dropout_non_zero_genes`
/// (scanpy 1.11) on the user-format file, which has no uns keys.
#[test]
fn computed_de_keys_match_gears_and_scanpy() {
    let exp = expected();
    let cols = ObsColumns {
        perturbation: "guide_target".into(),
        control_label: "NT".into(),
        gene_symbol: "symbol".into(),
        cell_type: "cell_type".into(),
    };
    let d = PerturbData::load(&fixtures().join("ad12_user.h5ad"), &cols).unwrap();
    assert!(d.de_computed);
    assert_eq!(dense(&d), expected_x(&exp));
    // Bare symbols became GEARS names; ctrl+CEBPB was written as plain CEBPB.
    assert!(d.conditions.contains(&"CEBPB+ctrl".to_string()));
    assert!(d.conditions.contains(&"FOSB+CEBPB".to_string()));

    // Scores: ours vs scanpy's for every condition and gene.
    let stats = group_stats(
        d.x.in_memory().expect("in memory"),
        &d.cell_condition,
        d.conditions.len(),
    );
    let ctrl = d.control_index();
    let uns = &exp["uns"];
    let mut worst: f64 = 0.0;
    for (k, c) in d.conditions.iter().enumerate() {
        if k == ctrl {
            continue;
        }
        let gears_name = gears_name_for(&exp, c);
        let scores = welch_scores(&stats, k, ctrl);
        let want = exp["scanpy_scores"][&gears_name].as_object().unwrap();
        for (j, id) in d.gene_ids.iter().enumerate() {
            let w = want[id].as_f64().unwrap();
            let diff = (scores[j] - w).abs() / w.abs().max(1.0);
            worst = worst.max(diff);
        }
        // Ranking: equal wherever scanpy's scores are not tied.
        let ours = &d.de.rank_genes_groups_cov_all[&d.condition_names[k]];
        let theirs = json_strings(&uns["rank_genes_groups_cov_all"][&gears_name]);
        for (pos, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            let sa = want[a].as_f64().unwrap().abs();
            let sb = want[b].as_f64().unwrap().abs();
            assert!(
                a == b || (sa - sb).abs() < 1e-6,
                "{c}: rank {pos}: ours {a} ({sa}) vs GEARS {b} ({sb})"
            );
        }
        for key in ["top_non_dropout_de_20", "top_non_zero_de_20"] {
            let ours = match key {
                "top_non_dropout_de_20" => &d.de.top_non_dropout_de_20,
                _ => &d.de.top_non_zero_de_20,
            }[&d.condition_names[k]]
                .clone();
            let theirs = json_strings(&uns[key][&gears_name]);
            let tied_tail = ours.iter().zip(&theirs).all(|(a, b)| {
                a == b
                    || (want[a].as_f64().unwrap().abs() - want[b].as_f64().unwrap().abs()).abs()
                        < 1e-6
            });
            assert!(tied_tail, "{c} {key}: {ours:?} vs {theirs:?}");
        }
        let ints = |key: &str| -> Vec<usize> {
            uns[key][&gears_name]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        };
        assert_eq!(
            d.de.non_dropout_gene_idx[&d.condition_names[k]],
            ints("non_dropout_gene_idx")
        );
        assert_eq!(
            d.de.non_zeros_gene_idx[&d.condition_names[k]],
            ints("non_zeros_gene_idx")
        );
    }
    println!("t-test scores: max relative difference to scanpy {worst:.3e}");
    assert!(worst < 1e-5, "{worst}");
}

/// The GEARS `condition_name` of the fixture condition that the user file spells as `c`.
fn gears_name_for(exp: &Value, c: &str) -> String {
    let conds = json_strings(&exp["conditions"]);
    let names = json_strings(&exp["condition_name"]);
    let canon = |s: &str| -> Vec<String> {
        let mut g: Vec<String> = s
            .split('+')
            .filter(|g| *g != "ctrl")
            .map(String::from)
            .collect();
        g.sort();
        g
    };
    let row = conds.iter().position(|x| canon(x) == canon(c)).unwrap();
    names[row].clone()
}

#[test]
fn bad_files_get_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("scgenept_h5ad_bad_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cols = ObsColumns::default();
    let check = |path: &Path, cols: &ObsColumns, needle: &str| {
        let e = PerturbData::load(path, cols).unwrap_err().to_string();
        assert!(e.contains(needle), "expected '{needle}' in: {e}");
        assert!(
            e.contains(&path.display().to_string()),
            "names the file: {e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    };
    check(&dir.join("missing.h5ad"), &cols, "cannot open");
    let text = dir.join("text.h5ad");
    std::fs::write(&text, "cell,gene\n1,2\n").unwrap();
    check(&text, &cols, "not an HDF5");
    let good = std::fs::read(fixtures().join("ad08_gears.h5ad")).unwrap();
    let truncated = dir.join("truncated.h5ad");
    std::fs::write(&truncated, &good[..good.len() / 3]).unwrap();
    let e = PerturbData::load(&truncated, &cols)
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated.h5ad"), "{e}");
    // Found by `cargo fuzz run h5ad`: a header declaring petabytes of X. Declared that large, X
    // would be streamed, and a cache is built only after obs and var pass, which this file's
    // obs does not: refused before anything is allocated or converted. In memory, X itself is
    // refused.
    check(
        &fixtures().join("fuzz_huge_declared_size.h5ad"),
        &cols,
        "obs has no column 'condition'",
    );
    let e = PerturbData::load_with(
        &fixtures().join("fuzz_huge_declared_size.h5ad"),
        &cols,
        scgenept_data::cells::CellStorage::Memory,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("X/data"), "{e}");
    let user = fixtures().join("ad12_user.h5ad");
    check(&user, &cols, "no column 'condition'");
    let wrong_ctrl = ObsColumns {
        perturbation: "guide_target".into(),
        control_label: "non-targeting".into(),
        gene_symbol: "symbol".into(),
        cell_type: "cell_type".into(),
    };
    check(&user, &wrong_ctrl, "no control cells");
    let no_symbols = ObsColumns {
        gene_symbol: String::new(),
        ..wrong_ctrl.clone()
    };
    let no_symbols = ObsColumns {
        control_label: "NT".into(),
        ..no_symbols
    };
    check(&user, &no_symbols, "not among the 40 genes");
}

/// Files that are valid h5ad but bad data, written with our own writer.
#[test]
fn bad_data_is_refused_with_the_fix() {
    use scgenept_data::csr::CsrMatrix;
    use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};

    let dir = std::env::temp_dir().join(format!("scgenept_h5ad_baddata_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, values: &[f32], conds: &[&str], genes: &[&str]| -> PathBuf {
        let x = CsrMatrix::from_dense(conds.len(), genes.len(), values);
        let path = dir.join(name);
        AnnData {
            x: &x,
            layers: vec![],
            obs: Frame {
                index_name: "_index".into(),
                index: (0..conds.len()).map(|i| format!("c{i}")).collect(),
                columns: vec![(
                    "condition".into(),
                    FrameColumn::Categorical(conds.iter().map(|s| s.to_string()).collect()),
                )],
            },
            var: Frame {
                index_name: "gene_id".into(),
                index: (0..genes.len()).map(|i| format!("G{i}")).collect(),
                columns: vec![(
                    "gene_name".into(),
                    FrameColumn::Strings(genes.iter().map(|s| s.to_string()).collect()),
                )],
            },
            uns: vec![],
        }
        .write(&path)
        .unwrap();
        path
    };
    let cols = ObsColumns::default();
    let genes = ["A", "B", "C"];
    let conds = ["ctrl", "ctrl", "A+ctrl", "A+B"];
    let good = [1.0, 0.0, 2.0, 0.5, 0.0, 1.0, 3.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let ok = PerturbData::load(&write("good.h5ad", &good, &conds, &genes), &cols).unwrap();
    assert!(ok.de_computed && ok.conditions == ["ctrl", "A+ctrl", "A+B"]);

    let mut neg = good;
    neg[4] = -1.0;
    let neg_file = write("neg.h5ad", &neg, &conds, &genes);
    let e = PerturbData::load(&neg_file, &cols).unwrap_err().to_string();
    assert!(
        e.contains("X[1, 1] = -1") && e.contains("non-negative"),
        "{e}"
    );
    // Streamed, the same value is refused while the cache is built, and no cache is left.
    let e = PerturbData::load_with(&neg_file, &cols, scgenept_data::cells::CellStorage::Disk)
        .unwrap_err()
        .to_string();
    assert!(e.contains("X[1, 1] = -1") && e.contains("neg.h5ad"), "{e}");
    let left: Vec<_> = std::fs::read_dir(neg_file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("scgenept-cells"))
        .collect();
    assert!(left.is_empty(), "no cache or temporary left: {left:?}");
    let mut nan = good;
    nan[7] = f32::NAN;
    let e = PerturbData::load(&write("nan.h5ad", &nan, &conds, &genes), &cols)
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN") && e.contains("finite"), "{e}");
    let e = PerturbData::load(
        &write("empty.h5ad", &good, &["ctrl", "", "A+ctrl", "A+B"], &genes),
        &cols,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("obs row 1") && e.contains("empty"), "{e}");
    let e = PerturbData::load(
        &write(
            "triple.h5ad",
            &good,
            &["ctrl", "ctrl", "A+B+C", "A+B"],
            &genes,
        ),
        &cols,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("at most two genes"), "{e}");
    let e = PerturbData::load(&write("dup.h5ad", &good, &conds, &["A", "B", "A"]), &cols)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'A' appears twice"), "{e}");
    let e = PerturbData::load(
        &write(
            "unknown.h5ad",
            &good,
            &["ctrl", "ctrl", "Z+ctrl", "A+B"],
            &genes,
        ),
        &cols,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("perturbs 'Z'"), "{e}");
}
