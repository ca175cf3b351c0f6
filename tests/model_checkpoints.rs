//! Checkpoint import policies and bad input: every failure is one clear error naming the file or
//! key, never a panic.

use std::path::{Path, PathBuf};

use crate::common::tempdir;
use burn::backend::Flex;
use burn::tensor::{Int, Tensor};
use scgenept_model::checkpoint::{
    import_checkpoint, load_checkpoint, read_state_dict, write_safetensors,
};
use scgenept_model::model_type::preset;
use scgenept_model::state_dict::model_state_dict;
use scgenept_model::{export_safetensors, ModelConfig, ScGenePT};

type B = Flex;

fn fixtures() -> PathBuf {
    crate::common::fixture("model")
}

fn config() -> ModelConfig {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("config.json")).unwrap()).unwrap()
}

fn fresh(cfg: &ModelConfig) -> ScGenePT<B> {
    ScGenePT::<B>::new(cfg, &Default::default()).unwrap()
}

#[test]
fn pretrained_import_loads_only_the_scgpt_prefixes() {
    let model = fresh(&config());
    let init = model_state_dict(&model);
    let prefixes: Vec<String> = preset("scgenept_ncbi_gpt", 24).unwrap().pretrained_prefixes;
    let ckpt = fixtures().join("state_dict_flash.pt");
    let (model, report) = import_checkpoint(model, &ckpt, Some(&prefixes)).unwrap();
    let sd = model_state_dict(&model);
    let torch = read_state_dict(&ckpt).unwrap();
    for k in sd.keys() {
        let loaded = ["encoder.", "value_encoder.", "transformer_encoder."]
            .iter()
            .any(|p| k.starts_with(p));
        let src = torch
            .get(k)
            .or_else(|| torch.get(&k.replace("self_attn.in_proj_", "self_attn.Wqkv.")))
            .unwrap();
        if loaded {
            assert_eq!(&sd[k], src, "{k} loaded");
            assert!(report.applied.contains(k));
        } else {
            assert_eq!(sd[k], init[k], "{k} keeps its fresh init");
            assert!(report.missing.contains(k));
        }
    }
    assert!(report.unused.iter().any(|k| k.starts_with("decoder.")));
    let text = report.to_string();
    assert!(
        text.contains("applied") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn vocabulary_extension_grows_gene_tables_from_the_pad_row() {
    let mut cfg = config();
    cfg.vocab_size = 203; // three out-of-vocabulary genes with rows of their own
    let (model, report) =
        import_checkpoint(fresh(&cfg), &fixtures().join("state_dict_torch.pt"), None).unwrap();
    assert_eq!(report.extended.len(), 3, "{:?}", report.extended);
    let sd = model_state_dict(&model);
    for k in [
        "encoder.embedding.weight",
        "genept_encoder.embedding.weight",
    ] {
        let t = &sd[k];
        let d = t.shape[1];
        assert_eq!(t.shape[0], 203);
        let pad = &t.data[cfg.pad_token_id * d..(cfg.pad_token_id + 1) * d];
        for r in 200..203 {
            assert_eq!(&t.data[r * d..(r + 1) * d], pad, "{k} row {r}");
        }
    }
}

#[test]
fn shape_mismatch_is_refused_naming_file_and_key() {
    let mut cfg = config();
    cfg.d_hid = 32;
    let ckpt = fixtures().join("state_dict_torch.pt");
    let e = import_checkpoint(fresh(&cfg), &ckpt, None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("state_dict_torch.pt"), "{e}");
    assert!(e.contains("transformer_encoder.layers.0.linear1"), "{e}");
    assert!(e.contains("[64, 64]") && e.contains("[32, 64]"), "{e}");
}

#[test]
fn corrupt_and_missing_checkpoints_are_clear_errors() {
    let dir = tempdir("ckpt-corrupt");
    let model = || fresh(&config());

    let e = import_checkpoint(model(), &dir.join("nope.pt"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nope.pt") && e.contains("No such file"), "{e}");

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a checkpoint at all").unwrap();
    let e = import_checkpoint(model(), &garbage, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("garbage.safetensors") && e.contains("cannot read checkpoint"),
        "{e}"
    );

    let pt = std::fs::read(fixtures().join("state_dict_torch.pt")).unwrap();
    let truncated = dir.join("truncated.pt");
    std::fs::write(&truncated, &pt[..pt.len() / 2]).unwrap();
    let e = import_checkpoint(model(), &truncated, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("truncated.pt") && e.contains("cannot read checkpoint"),
        "{e}"
    );

    let mut sd = read_state_dict(&fixtures().join("state_dict_torch.pt")).unwrap();
    sd.get_mut("ln.weight").unwrap().data[3] = f32::NAN;
    let nan = dir.join("nan.safetensors");
    write_safetensors(&sd, &nan).unwrap();
    let e = import_checkpoint(model(), &nan, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("nan.safetensors") && e.contains("'ln.weight'") && e.contains("NaN"),
        "{e}"
    );

    // A bundle whose config.json is damaged.
    let bundle = dir.join("bundle");
    export_safetensors(&model(), &bundle).unwrap();
    std::fs::write(
        bundle.join("config.json"),
        b"{\"d_model\": 64, \"colour\": 1}",
    )
    .unwrap();
    let e = load_checkpoint::<B>(&bundle, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("config.json") && e.contains("colour"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inconsistent_configs_and_inputs_are_refused() {
    let mut cfg = config();
    cfg.nhead = 5;
    let e = ScGenePT::<B>::new(&cfg, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("divisible by nhead"), "{e}");

    let mut cfg = config();
    cfg.knowledge_sources[1].state_prefix = "genept_encoder".into();
    let e = ScGenePT::<B>::new(&cfg, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("share the state prefix"), "{e}");

    let model = fresh(&config());
    let device = Default::default();
    let ids = Tensor::<B, 2, Int>::zeros([2, 5], &device);
    let e = model
        .try_forward(
            ids.clone(),
            Tensor::zeros([2, 4], &device),
            Tensor::zeros([2, 5], &device),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("[2, 4]"), "{e}");
    let big = Tensor::<B, 2, Int>::full([2, 5], 500, &device);
    let e = model
        .try_forward(
            big,
            Tensor::zeros([2, 5], &device),
            Tensor::zeros([2, 5], &device),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("outside the vocabulary of 200"), "{e}");
    let flags = Tensor::<B, 2, Int>::full([2, 5], 3, &device);
    let e = model
        .try_forward(ids, Tensor::zeros([2, 5], &device), flags)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("perturbation flags"), "{e}");
}

#[test]
fn unknown_model_type_lists_the_valid_ones() {
    let e = preset("scgenept_go_c_gpt", 1536).unwrap_err().to_string();
    assert!(e.contains("unknown model type 'scgenept_go_c_gpt'"));
    assert!(e.contains("scgenept_go_c_gpt_concat"));
}

/// The names and shapes of a real whole-human scGPT `best_model.pt` (from scgpt's own
/// `TransformerModel` at the `args.json` sizes, flash names) import into a full-size scGenePT
/// model exactly as the reference's `load_pretrained` would: all of `encoder`, `value_encoder` and
/// the 12 transformer layers, nothing else.
#[test]
fn real_scgpt_whole_human_key_set_imports_at_full_size() {
    use scgenept_model::state_dict::{apply_state_dict, ApplyOptions};
    use scgenept_model::HostTensor;

    let text = std::fs::read_to_string(fixtures().join("scgpt_whole_human_keys.json")).unwrap();
    let keys: std::collections::BTreeMap<String, Vec<usize>> = serde_json::from_str(&text).unwrap();
    let sd: scgenept_model::StateDict = keys
        .iter()
        .map(|(k, shape)| {
            let n = shape.iter().product();
            (k.clone(), HostTensor::new(shape.clone(), vec![0.01; n]))
        })
        .collect();
    // Full-size network; a narrow knowledge table keeps the test light (it is not in the file).
    let p = preset("scgenept_ncbi+uniprot_gpt", 8).unwrap();
    let model = fresh(&p.config);
    let opts = ApplyOptions {
        prefixes: Some(p.pretrained_prefixes.clone()),
    };
    let (_, report) = apply_state_dict(model, &sd, &opts, Path::new("best_model.pt")).unwrap();
    assert_eq!(report.applied.len(), 2 + 1 + 6 + 12 * 12, "{report}");
    assert!(report
        .applied
        .contains(&"transformer_encoder.layers.11.self_attn.in_proj_weight".to_string()));
    let missing: std::collections::BTreeSet<&str> = report
        .missing
        .iter()
        .map(|k| k.split('.').next().unwrap())
        .collect();
    assert_eq!(
        missing.into_iter().collect::<Vec<_>>(),
        ["decoder", "genept_encoder", "ln", "pert_encoder"],
        "fresh init for everything the reference does not load"
    );
    assert!(report.unused.iter().any(|k| k.starts_with("cls_decoder.")));
    assert!(report.unused.iter().any(|k| k.starts_with("mvc_decoder.")));
    assert!(report.mismatched.is_empty() && report.extended.is_empty());
}
