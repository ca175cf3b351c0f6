//! GenePT / scGenePT embedding pickles written by real pickle + numpy
//! (`scripts/make_knowledge_fixtures.py`) read natively.

use std::path::{Path, PathBuf};

use scgenept_data::pickle::read_embedding_pickle;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/knowledge")
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
