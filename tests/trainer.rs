//! The trainer: micro-batch accumulation equals the unsplit batch, global-norm clipping, a tiny
//! end-to-end run with its outputs, and config errors.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::optim::{Optimizer, SgdConfig};
use scgenept_data::batches::{
    build_batch, condition_pert_genes, epoch_plan, BatchConfig, GeneSampling,
};
use scgenept_model::state_dict::model_state_dict;
use scgenept_model::ScGenePT;
use scgenept_train::train::grad_clip::{clip_global_norm, global_grad_norm};
use scgenept_train::train::prepare::prepare;
use scgenept_train::train::step::batch_grads;
use scgenept_train::train::trainer::TrainJob;
use scgenept_train::train_config::TrainConfig;
use scgenept_train::Device;

use crate::common::{tempdir, tiny_run_config};

type B = Autodiff<Flex>;

fn tiny_config(dir: &std::path::Path, extra: &str) -> PathBuf {
    let sets = [
        ("model.dropout", "0.0"),
        ("train.epochs", "1"),
        ("train.batch_size", "16"),
        ("train.eval_batch_size", "32"),
    ];
    let path = tiny_run_config(&dir.join("tiny.toml"), "tiny", "scgenept_random", &sets);
    let text = std::fs::read_to_string(&path).unwrap() + extra;
    std::fs::write(&path, text).unwrap();
    path
}

/// A tiny prepared run, a fresh model and the first 16-cell batch of epoch 1.
fn first_batch(
    tag: &str,
    sampling: GeneSampling,
    shuffle: bool,
) -> (
    scgenept_train::train::prepare::Prepared,
    ScGenePT<B>,
    scgenept_data::batches::Batch,
) {
    let dir = tempdir(&format!("trainer-{tag}"));
    let cfg = TrainConfig::load(&tiny_config(&dir, ""), &[]).unwrap();
    let p = prepare(&cfg).unwrap();
    let model = ScGenePT::<B>::new(&p.model, &Default::default()).unwrap();
    let bc = BatchConfig {
        batch_size: 16,
        max_seq_len: 24,
        sampling,
        shuffle,
        drop_last: true,
        seed: 1,
    };
    let examples = epoch_plan(&p.train, &bc, 1)[0].clone();
    let batch = build_batch(&p.data, &condition_pert_genes(&p.data), examples, &bc, 1, 0);
    (p, model, batch)
}

#[test]
fn micro_batches_give_the_unsplit_batch_gradient() {
    let (p, model, batch) = first_batch("micro", GeneSampling::IncludePerturbed, true);
    let device = Default::default();

    // One plain SGD step with lr 1: parameter differences are gradient differences. (Adam's
    // first step is sign-like, which would amplify f32 rounding in near-zero gradients.)
    let step = |micro: usize| {
        let (loss, grads) = batch_grads(&model, &batch, micro, &p.mapping, &device);
        let mut optim = SgdConfig::new().init::<B, ScGenePT<B>>();
        let stepped = optim.step(1.0, model.clone(), grads);
        (loss, model_state_dict(&stepped))
    };
    let (loss_full, full) = step(16);
    for micro in [5, 8, 1] {
        let (loss, split) = step(micro);
        assert!(
            (loss - loss_full).abs() < 1e-6,
            "micro {micro}: loss {loss} vs {loss_full}"
        );
        let mut worst = 0f32;
        for (k, v) in full.iter() {
            worst = worst.max(v.max_abs_diff(&split[k]).unwrap());
        }
        println!("micro-batch {micro}: max |gradient difference| = {worst:.2e}");
        assert!(worst < 1e-6, "micro {micro}: {worst}");
    }
}

#[test]
fn clipping_uses_one_global_norm() {
    let (p, model, batch) = first_batch("clip", GeneSampling::Reference, false);
    let device = Default::default();
    let (_, mut grads) = batch_grads(&model, &batch, 16, &p.mapping, &device);
    let before = global_grad_norm::<B, _>(&model, &grads);
    let max = before / 4.0;
    let reported = clip_global_norm::<B, _>(&model, &mut grads, max);
    let after = global_grad_norm::<B, _>(&model, &grads);
    assert_eq!(reported, before);
    assert!((after - max).abs() / max < 1e-4, "after {after}, max {max}");
    let untouched = clip_global_norm::<B, _>(&model, &mut grads, after * 10.0);
    assert!(
        (global_grad_norm::<B, _>(&model, &grads) - untouched).abs() < 1e-9,
        "below the limit: unchanged"
    );
}

#[test]
fn a_tiny_run_writes_its_outputs_and_refuses_to_overwrite() {
    let dir = tempdir("trainer-run");
    let path = tiny_config(&dir, "");
    let cfg = TrainConfig::load(&path, &[]).unwrap();
    let out = Device::cpu()
        .dispatch(TrainJob {
            config: cfg.clone(),
            overwrite: false,
            resume: false,
            allow_changed: Vec::new(),
        })
        .unwrap();
    let run = out.run_dir.clone();
    for f in [
        "config.toml",
        "run.json",
        "metrics.json",
        "train_log.csv",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/config.json",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    for method in ["model", "non_ctrl_mean", "control_mean", "additive"] {
        assert!(metrics[method].is_object(), "{method} in metrics.json");
    }
    assert!(metrics["model"]["test_pearson_delta_de"].is_number());
    let pred = scgenept_data::h5ad::H5ad::open(&run.join("predictions.h5ad")).unwrap();
    let m = pred.read_matrix("X").unwrap();
    assert!(
        m.n_rows > 0 && m.n_cols == 64,
        "{} × {}",
        m.n_rows,
        m.n_cols
    );
    let csv = std::fs::read_to_string(run.join("results.csv")).unwrap();
    assert!(csv.starts_with("condition,subgroup,method,metric,value\n"));
    assert!(
        csv.lines().any(|l| l.contains(",model,pearson_delta_de,"))
            && csv.lines().any(|l| l.contains(",non_ctrl_mean,mse,"))
    );
    assert!(out.best_val_loss.is_finite());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["data_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["seed"], 42);
    let e = Device::cpu()
        .dispatch(TrainJob {
            config: cfg,
            overwrite: false,
            resume: false,
            allow_changed: Vec::new(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("finished run") && e.contains("--overwrite"),
        "{e}"
    );
}

#[test]
fn config_errors_are_clear() {
    let dir = tempdir("trainer-cfg");
    let e = TrainConfig::load(&tiny_config(&dir, "[extra]\nkey = 1"), &[]).unwrap_err();
    assert!(format!("{e:#}").contains("unknown field `extra`"), "{e:#}");
    let path = tiny_config(&dir, "");
    let e = TrainConfig::load(&path, &["model.model_type=\"scgpt_nonsense\"".into()]).unwrap_err();
    assert!(format!("{e:#}").contains("scgpt_nonsense"), "{e:#}");
    let cfg = TrainConfig::load(&path, &["train.epochs=7".into(), "train.lr=0.5".into()]).unwrap();
    assert_eq!((cfg.train.epochs, cfg.train.lr), (7, 0.5));
    let cfg = TrainConfig::load(
        &path,
        &["model.model_type=scgenept_ncbi+uniprot_gpt".into()],
    )
    .unwrap();
    let e = prepare(&cfg).err().unwrap().to_string();
    assert!(e.contains("knowledge.ncbi_uniprot"), "{e}");
    let e = TrainConfig::load(&path, &["train.micro_batch_size=99".into()]).unwrap_err();
    assert!(format!("{e:#}").contains("micro_batch_size"), "{e:#}");
}

#[test]
fn knowledge_tables_fill_the_rows_of_dataset_genes() {
    use scgenept_knowledge::KnowledgeTable;
    let dir = tempdir("trainer-knowledge");
    let path = tiny_config(&dir, "");
    // Make the dataset, then a table over part of its genes (plus one it lacks).
    let cfg = TrainConfig::load(&path, &[]).unwrap();
    let p = prepare(&cfg).unwrap();
    let mut genes: Vec<String> = p.data.gene_names.iter().take(10).cloned().collect();
    genes.push("NOT_A_DATASET_GENE".into());
    let table = KnowledgeTable::random(&genes, 12, 7).unwrap();
    let table_path = dir.join("go_c.safetensors");
    table.save(&table_path).unwrap();
    let set = [
        "model.model_type=scgenept_go_c_gpt_concat".to_string(),
        format!("model.knowledge.go_c_concat=\"{}\"", table_path.display()),
    ];
    let cfg = TrainConfig::load(&path, &set).unwrap();
    let p = prepare(&cfg).unwrap();
    assert_eq!(
        p.model.knowledge_sources[0].d_llm, 12,
        "width from the table"
    );
    let knowledge = p.knowledge_rows();
    let (source, rows) = &knowledge[0];
    assert_eq!(source.to_string(), "go_c_concat");
    assert_eq!(rows.len(), 10, "the 10 dataset genes the table knows");
    let device = Default::default();
    let mut model = ScGenePT::<B>::new(&p.model, &device).unwrap();
    let written = model
        .set_knowledge_rows(*source, rows.iter().map(|(i, v)| (*i, v.as_slice())))
        .unwrap();
    assert_eq!(written, 10);
    // A source the model type does not have, and a missing file.
    let wrong = [
        set[0].clone(),
        format!("model.knowledge.ncbi=\"{}\"", table_path.display()),
    ];
    let e = prepare(&TrainConfig::load(&path, &wrong).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("knowledge.ncbi") && e.contains("no such source"),
        "{e}"
    );
    let missing = [
        set[0].clone(),
        "model.knowledge.go_c_concat=\"nope.safetensors\"".to_string(),
    ];
    let e = prepare(&TrainConfig::load(&path, &missing).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nope.safetensors"), "{e}");
}

#[test]
fn every_shipped_run_config_parses_and_names_a_real_model_type() {
    let root = crate::common::root().join("configs");
    let mut n = 0;
    let mut paths = vec![root.join("demo.toml"), root.join("demo_scgpt.toml")];
    for ds in ["norman", "adamson", "replogle_k562", "replogle_rpe1"] {
        for e in std::fs::read_dir(root.join(ds)).unwrap() {
            paths.push(e.unwrap().path());
        }
    }
    for path in paths {
        let cfg =
            TrainConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(
            cfg.name.starts_with("demo") || cfg.name.ends_with(cfg.model.model_type.name()),
            "{}",
            path.display()
        );
        n += 1;
    }
    assert_eq!(n, 43);
}

#[test]
fn every_shipped_sweep_plans_distinct_runs_of_its_dataset() {
    use scgenept_train::sweep::{plan, SweepConfig};
    let dir = crate::common::root().join("configs/sweeps");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let sweep =
            SweepConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        let runs = plan(&sweep, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert_eq!(runs.len(), sweep.runs.len() * sweep.seeds.len());
        let dirs: std::collections::HashSet<_> = runs.iter().map(|r| r.dir()).collect();
        assert_eq!(
            dirs.len(),
            runs.len(),
            "{}: two runs share a directory",
            path.display()
        );
        let dataset = (sweep.name.strip_suffix("_knowledge_sources"))
            .unwrap_or_else(|| sweep.name.split('_').next().unwrap());
        for r in &runs {
            assert!(
                r.config.name.starts_with(dataset),
                "{}: {} is not a {dataset} run",
                path.display(),
                r.config.name
            );
        }
        n += 1;
    }
    assert_eq!(n, 5);
}
