//! GenePT / scGenePT embedding pickles written by real pickle + numpy
//! (`scripts/make_knowledge_fixtures.py`) read natively.

use std::path::PathBuf;

use scgenept_data::pickle::read_embedding_pickle;

fn fixtures() -> PathBuf {
    crate::common::fixture("knowledge")
}

fn expected() -> (Vec<String>, serde_json::Map<String, serde_json::Value>) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let order = v["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    (order, v["vectors"].as_object().unwrap().clone())
}

#[test]
fn every_protocol_and_dtype_reads_exactly() {
    let (order, vectors) = expected();
    for file in [
        "embeddings_p2.pkl",
        "embeddings_p4.pkl",
        "embeddings_p5.pkl",
        "embeddings_lists.pkl",
    ] {
        let got = read_embedding_pickle(&fixtures().join(file)).unwrap();
        let genes: Vec<&str> = got.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(genes, order, "{file}: keys in file order");
        for (gene, v) in &got {
            let want: Vec<f32> = vectors[gene]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(v, &want, "{file}: {gene}");
        }
    }
}

#[test]
fn wrong_pickles_are_clear_errors() {
    let e = read_embedding_pickle(&fixtures().join("not_a_dict.pkl"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not_a_dict.pkl") && e.contains("not a dict"),
        "{e}"
    );
    let e = read_embedding_pickle(&fixtures().join("strings.pkl"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'FOSB'") && e.contains("not an array"), "{e}");
    let e = read_embedding_pickle(&fixtures().join("missing.pkl"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pkl"), "{e}");
    let bytes = std::fs::read(fixtures().join("embeddings_p4.pkl")).unwrap();
    let cut = std::env::temp_dir().join(format!("scgenept-cut-{}.pkl", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_embedding_pickle(&cut).unwrap_err().to_string();
    assert!(
        e.contains("not a readable pickle") && e.contains("truncated"),
        "{e}"
    );
    std::fs::remove_file(&cut).unwrap();
}

mod tables {
    use super::*;
    use scgenept_knowledge::KnowledgeTable;

    fn want(gene: &str) -> Vec<f32> {
        expected().1[gene]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    }

    #[test]
    fn pickle_csv_and_npy_import_to_the_same_table() {
        let genes = fixtures().join("embeddings_genes.txt");
        let tables = [
            KnowledgeTable::import(&fixtures().join("embeddings_p4.pkl"), None, None).unwrap(),
            KnowledgeTable::import(&fixtures().join("embeddings.csv"), None, None).unwrap(),
            KnowledgeTable::import(&fixtures().join("embeddings_f8.npy"), Some(&genes), None)
                .unwrap(),
            KnowledgeTable::import(&fixtures().join("embeddings_f4.npy"), Some(&genes), None)
                .unwrap(),
        ];
        for t in &tables {
            assert_eq!(t.dim(), 6);
            assert_eq!(t.genes(), expected().0.as_slice());
            for g in t.genes() {
                assert_eq!(t.get(g).unwrap(), want(g).as_slice(), "{g}");
            }
            assert!(t.get("NOT_A_GENE").is_none());
        }
    }

    /// Files written by real pandas `DataFrame.to_csv` (scripts/make_knowledge_fixtures.py).
    #[test]
    fn pandas_csv_and_tsv_layouts_import_to_the_same_table() {
        use scgenept_knowledge::TableFormat;
        let check = |t: KnowledgeTable, file: &str| {
            assert_eq!(t.dim(), 6, "{file}");
            assert_eq!(t.genes(), expected().0.as_slice(), "{file}");
            for g in t.genes() {
                assert_eq!(t.get(g).unwrap(), want(g).as_slice(), "{file}: {g}");
            }
        };
        for (file, format) in [
            ("pandas_index.csv", None),
            ("pandas_index.tsv", None),
            ("pandas_named_index.csv", None),
            ("pandas_range_index.csv", None),
            ("pandas_no_header.csv", None),
            ("pandas_no_header.txt", None),
            ("pandas_index.tsv", Some(TableFormat::Tsv)),
        ] {
            let t = KnowledgeTable::import(&fixtures().join(file), None, format)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            check(t, file);
        }
        // An extension that says nothing, with the format given.
        let dir = std::env::temp_dir().join(format!("scgenept-fmt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dat = dir.join("table.dat");
        std::fs::copy(fixtures().join("pandas_index.tsv"), &dat).unwrap();
        let e = KnowledgeTable::import(&dat, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("table.dat") && e.contains("--format"), "{e}");
        check(
            KnowledgeTable::import(&dat, None, Some(TableFormat::Tsv)).unwrap(),
            "table.dat",
        );
        // A TSV read as CSV says which flag fixes it.
        let e = KnowledgeTable::import(&dat, None, Some(TableFormat::Csv))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--format tsv"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_load_round_trip_keeps_genes_values_and_provenance() {
        let mut t =
            KnowledgeTable::import(&fixtures().join("embeddings_p2.pkl"), None, None).unwrap();
        t.provenance.insert("source".into(), "ncbi_uniprot".into());
        let path = std::env::temp_dir().join(format!(
            "scgenept-table-{}/t.safetensors",
            std::process::id()
        ));
        t.save(&path).unwrap();
        let back = KnowledgeTable::load(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.provenance["source"], "ncbi_uniprot");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn random_source_is_seeded_and_unit_norm() {
        let genes: Vec<String> = ["FOSB", "KLF1", "SET"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = KnowledgeTable::random(&genes, 16, 42).unwrap();
        let b = KnowledgeTable::random(&genes, 16, 42).unwrap();
        let c = KnowledgeTable::random(&genes, 16, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.get("FOSB"), c.get("FOSB"));
        for g in &genes {
            let n: f32 = a.get(g).unwrap().iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        assert_eq!(a.provenance["source"], "random");
    }

    #[test]
    fn bad_tables_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("scgenept-badtable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let check = |name: &str, body: &str, needle: &str| {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            let e = KnowledgeTable::import(&p, None, None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(name) && e.contains(needle), "{e}");
        };
        check("dup.csv", "A,1,2\nA,3,4\n", "appears twice");
        check("ragged.csv", "A,1,2\nB,3\n", "has 1 values");
        check("nan.csv", "A,1,NaN\n", "NaN");
        check("text.csv", "A,1,2\nB,x,y\n", "line 2");
        check("t.parquet", "", "unknown table format");
        let e = KnowledgeTable::import(&fixtures().join("embeddings_f8.npy"), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--genes"), "{e}");
        let short = dir.join("short.txt");
        std::fs::write(&short, "FOSB\n").unwrap();
        let e = KnowledgeTable::import(&fixtures().join("embeddings_f8.npy"), Some(&short), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 genes listed but the array has 6 rows"), "{e}");
        let e = KnowledgeTable::load(&fixtures().join("embeddings.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a knowledge table"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
