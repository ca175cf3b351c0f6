//! A whole training run against the reference's, step for step (`scripts/make_training_fixtures.py`
//! runs scGPT's modules, GEARS' split, pairing, loaders and metrics, torch's Adam, StepLR and
//! clipping, in float32 and in float64): the same initial weights and batches go in; the per-step
//! losses and gradient norms, the best epoch, the final weights and the test metrics must come
//! out the same (docs/training-parity.md). Our trainer runs its own epoch code
//! (`TrainLoop::train_epoch`), fed the reference's batches.

use crate::common::json_strings;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use serde_json::Value;

use scgenept_data::batches::{condition_pert_genes, gather_batch, Batch};
use scgenept_data::pairing::{Example, PairedSet};
use scgenept_data::{GearsSplit, ObsColumns, PerturbData, SimulationSplitConfig, SplitName};
use scgenept_eval::baselines::{score_predictions, MethodReport};
use scgenept_eval::metric_key::to_strings;
use scgenept_model::checkpoint::read_state_dict;
use scgenept_model::state_dict::{apply_state_dict, model_state_dict, ApplyOptions};
use scgenept_model::vocab::{OovMode, VocabMapping};
use scgenept_model::{ModelConfig, ScGenePT, StateDict};
use scgenept_train::run::dir::RunDir;
use scgenept_train::train::evaluate::{mean_loss, predict_means};
use scgenept_train::train::train_loop::TrainLoop;
use scgenept_train::train_config::{TestModel, TrainSection};

type B = Autodiff<Flex>;

fn dir() -> PathBuf {
    crate::common::fixture("training")
}

/// The reference run's record, its data, and our view of its vocabulary.
struct Reference {
    run: Value,
    batches: StateDict,
    weights: StateDict,
    data: PerturbData,
    mapping: VocabMapping,
    config: ModelConfig,
}

fn reference() -> Reference {
    let read = |f: &str| std::fs::read_to_string(dir().join(f)).unwrap();
    let vocab: Value = serde_json::from_str(&read("vocab.json")).unwrap();
    let data = PerturbData::load(&dir().join("tiny.h5ad"), &ObsColumns::default()).unwrap();
    let pad_id = vocab["pad_id"].as_u64().unwrap() as usize;
    let ids: Vec<usize> = vocab["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let oov_genes = ids
        .iter()
        .zip(&data.gene_names)
        .filter(|(id, _)| **id == pad_id)
        .map(|(_, g)| g.clone())
        .collect();
    Reference {
        run: serde_json::from_str(&read("run.json")).unwrap(),
        batches: read_state_dict(&dir().join("batches.safetensors")).unwrap(),
        weights: read_state_dict(&dir().join("weights.safetensors")).unwrap(),
        mapping: VocabMapping {
            ids,
            vocab_size: vocab["vocab_size"].as_u64().unwrap() as usize,
            pad_id,
            oov_genes,
            mode: OovMode::SharedPad,
        },
        config: serde_json::from_str(&read("config.json")).unwrap(),
        data,
    }
}

impl Reference {
    /// The state dict stored under `prefix.` (`initial`, `last`, `best`).
    fn weights(&self, prefix: &str) -> StateDict {
        let p = format!("{prefix}.");
        self.weights
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&p)?.to_string(), v.clone())))
            .collect()
    }

    fn ints(&self, key: &str) -> Vec<u32> {
        self.batches[key].data.iter().map(|v| *v as u32).collect()
    }

    /// The examples of batch `key`, as GEARS paired them.
    fn examples(&self, key: &str) -> Vec<Example> {
        let (cells, controls) = (
            self.ints(&format!("{key}.cells")),
            self.ints(&format!("{key}.controls")),
        );
        cells
            .iter()
            .zip(controls)
            .map(|(&cell, control)| Example {
                cell,
                control,
                condition: self.data.cell_condition[cell as usize],
            })
            .collect()
    }

    /// Batch `key` built by our data code from the reference's examples and gene subset, checked
    /// against the reference's own arrays and vocabulary ids.
    fn batch(&self, key: &str) -> Batch {
        let genes = self.ints(&format!("{key}.genes"));
        let pert = condition_pert_genes(&self.data);
        let b = gather_batch(&self.data, &pert, self.examples(key), genes, (0, 0));
        let ids: Vec<u32> = b
            .genes
            .iter()
            .map(|j| self.mapping.ids[*j as usize] as u32)
            .collect();
        assert_eq!(
            ids,
            self.ints(&format!("{key}.gene_ids")),
            "{key}: vocabulary ids"
        );
        assert_eq!(
            b.values,
            self.batches[&format!("{key}.values")].data,
            "{key}: values"
        );
        assert_eq!(
            b.target,
            self.batches[&format!("{key}.target")].data,
            "{key}: targets"
        );
        let flags: Vec<f32> = b.flags.iter().map(|f| *f as f32).collect();
        assert_eq!(
            flags,
            self.batches[&format!("{key}.flags")].data,
            "{key}: flags"
        );
        b
    }

    /// Every batch `split.epoch.i` of an epoch, in order.
    fn batches(&self, split: &str, epoch: usize) -> Vec<Batch> {
        self.keys(&format!("{split}.{epoch}"))
            .map(|k| self.batch(&k))
            .collect()
    }

    /// The test examples, in the reference's test-loader order.
    fn test_examples(&self) -> Vec<Example> {
        self.keys("test").flat_map(|k| self.examples(&k)).collect()
    }

    /// `prefix.0`, `prefix.1`, … while the fixture has them.
    fn keys<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
        (0..)
            .map(move |i| format!("{prefix}.{i}"))
            .take_while(|k| self.batches.contains_key(&format!("{k}.cells")))
    }

    fn settings(&self) -> TrainSection {
        let s = &self.run["settings"];
        let f = |k: &str| s[k].as_f64().unwrap();
        let n = |k: &str| s[k].as_u64().unwrap() as usize;
        TrainSection {
            seed: n("seed") as u64,
            epochs: n("epochs"),
            batch_size: n("batch_size"),
            max_seq_len: n("max_seq_len"),
            lr: f("lr"),
            lr_gamma: f("lr_gamma"),
            clip_grad_norm: f("clip_grad_norm"),
            adam_eps: f("adam_eps"),
            test_model: TestModel::Last,
            ..TrainSection::default()
        }
    }
}

/// Largest |a - b| over every tensor of `ours`, with the tensor it is in.
fn weight_diff(ours: &StateDict, theirs: &StateDict) -> (f32, String) {
    let mut worst = (0.0f32, String::new());
    for (k, t) in theirs {
        let o = ours
            .get(k)
            .unwrap_or_else(|| panic!("our model has no '{k}'"));
        let d = o.max_abs_diff(t).unwrap_or_else(|| panic!("{k}: shape"));
        if d > worst.0 {
            worst = (d, k.clone());
        }
    }
    assert_eq!(ours.len(), theirs.len(), "parameter count");
    worst
}

/// Runs our trainer on the reference's batches; returns the loop after the last epoch.
fn train_like_the_reference(r: &Reference, run: &Path) -> TrainLoop<B> {
    let device = Default::default();
    let (model, report) = apply_state_dict(
        ScGenePT::<B>::new(&r.config, &device).unwrap(),
        &r.weights("initial"),
        &ApplyOptions::default(),
        Path::new("initial weights"),
    )
    .unwrap();
    assert!(
        report.missing.is_empty() && report.unused.is_empty(),
        "{report}"
    );
    let settings = r.settings();
    let run = RunDir::new(run);
    let mut lp = TrainLoop::new(model, &settings);
    for epoch in 1..=settings.epochs {
        let train = r.batches("train", epoch);
        let val = r.batches("val", epoch);
        let validate = |m: &ScGenePT<Flex>| mean_loss(m, val, &r.mapping, &device);
        lp = lp
            .train_epoch(
                epoch,
                train.into_iter(),
                &r.mapping,
                validate,
                &run,
                &device,
            )
            .unwrap();
    }
    lp
}

/// One run's results, as the test compares them: ours, or the reference's in float32 or float64.
struct Record {
    /// (loss, grad norm before clipping) per step.
    steps: Vec<(f64, f64)>,
    /// The learning rate of each step.
    lrs: Vec<f64>,
    val_losses: Vec<f64>,
    best_epoch: usize,
    /// `last` and `best`: weights, mean test predictions, and test metrics (`condition metric`
    /// or `overall metric` → value).
    models: BTreeMap<&'static str, (StateDict, Predictions, BTreeMap<String, f64>)>,
}

type Predictions = BTreeMap<String, Vec<f64>>;

const MODELS: [&str; 2] = ["last", "best"];

impl Record {
    /// The reference's record in `run.json` (`json` is the file or its `float64` part).
    fn reference(r: &Reference, json: &Value, weights: &str) -> Self {
        let num = |v: &Value| v.as_f64().unwrap();
        let steps = json["steps"].as_array().unwrap();
        let models = MODELS
            .map(|tag| {
                let t = &json["test"][tag];
                let preds = t["pred_means"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(c, v)| (c.clone(), v.as_array().unwrap().iter().map(num).collect()))
                    .collect();
                let mut metrics = BTreeMap::new();
                for (c, m) in t["per_condition"].as_object().unwrap() {
                    for (k, v) in m.as_object().unwrap() {
                        metrics.insert(format!("{c} {k}"), num(v));
                    }
                }
                for (k, v) in t["overall"].as_object().unwrap() {
                    metrics.insert(format!("overall {k}"), num(v));
                }
                (tag, (r.weights(&format!("{weights}{tag}")), preds, metrics))
            })
            .into_iter()
            .collect();
        Record {
            steps: steps
                .iter()
                .map(|s| (num(&s["loss"]), num(&s["grad_norm"])))
                .collect(),
            lrs: steps.iter().map(|s| num(&s["lr"])).collect(),
            val_losses: json["val_losses"]
                .as_array()
                .unwrap()
                .iter()
                .map(num)
                .collect(),
            best_epoch: json["best_epoch"].as_u64().unwrap() as usize,
            models,
        }
    }

    /// Our run: the loop's logs and models, each model's test predictions (the reference's test
    /// pairing, in its order) scored by our metrics under the names GEARS gave.
    fn ours(r: &Reference, lp: &TrainLoop<B>, split: &GearsSplit, names: &Record) -> Self {
        use burn::module::AutodiffModule;
        let rows = |log: &str| -> Vec<Vec<f64>> {
            let row = |l: &str| l.split(',').map(|v| v.parse().unwrap()).collect();
            log.lines().skip(1).map(row).collect()
        };
        let (steps, epochs) = (rows(&lp.state.batch_log), rows(&lp.state.log));
        let models = MODELS
            .map(|tag| {
                // `train.test_model = "last"` (set in `settings`): the model scGenePT's train.py
                // tests, through the switch that chooses it.
                let model = if tag == "last" {
                    let (tested, epoch) = lp.tested();
                    assert_eq!(
                        epoch, lp.state.epoch,
                        "the tested model is the last epoch's"
                    );
                    tested
                } else {
                    lp.best.valid()
                };
                let preds = predict(r, &model);
                let report = score_predictions(&r.data, split, &preds);
                let metrics = metric_values(&report, &names.models[tag].2);
                (tag, (model_state_dict(&model), preds, metrics))
            })
            .into_iter()
            .collect();
        Record {
            steps: steps.iter().map(|s| (s[2], s[3])).collect(),
            lrs: steps.iter().map(|s| epochs[s[0] as usize - 1][1]).collect(),
            val_losses: epochs.iter().map(|e| e[3]).collect(),
            best_epoch: lp.state.best_epoch,
            models,
        }
    }

    /// How far apart two records are.
    fn distance(&self, other: &Record) -> Distance {
        assert_eq!(self.steps.len(), other.steps.len(), "steps");
        let max = |v: &mut dyn Iterator<Item = f64>| v.fold(0.0, f64::max);
        let pairs = || self.steps.iter().zip(&other.steps);
        let mut d = Distance {
            loss: max(&mut pairs().map(|(a, b)| (a.0 - b.0).abs() / b.0)),
            grad_norm: max(&mut pairs().map(|(a, b)| (a.1 - b.1).abs())),
            lr: max(&mut self
                .lrs
                .iter()
                .zip(&other.lrs)
                .map(|(a, b)| (a - b).abs() / b)),
            val_loss: max(&mut self
                .val_losses
                .iter()
                .zip(&other.val_losses)
                .map(|(a, b)| (a - b).abs() / b)),
            same_best_epoch: self.best_epoch == other.best_epoch,
            weights: (0.0, String::new()),
            predictions: 0.0,
            metrics: (0.0, String::new()),
        };
        for tag in MODELS {
            let (w, p) = (&self.models[tag], &other.models[tag]);
            let wd = weight_diff(&w.0, &p.0);
            if wd.0 as f64 > d.weights.0 {
                d.weights = (wd.0 as f64, format!("{tag} {}", wd.1));
            }
            assert_eq!(
                w.1.keys().collect::<Vec<_>>(),
                p.1.keys().collect::<Vec<_>>()
            );
            for (c, v) in &w.1 {
                let pd = max(&mut v.iter().zip(&p.1[c]).map(|(a, b)| (a - b).abs()));
                d.predictions = d.predictions.max(pd);
            }
            for (k, v) in &p.2 {
                let md = (w.2[k] - v).abs();
                if md > d.metrics.0 {
                    d.metrics = (md, format!("{tag} {k}"));
                }
            }
        }
        d
    }
}

/// Largest differences between two records.
#[derive(Debug)]
struct Distance {
    /// Per-step loss, relative.
    loss: f64,
    /// Per-step gradient norm before clipping, absolute.
    grad_norm: f64,
    lr: f64,
    /// Per-epoch validation loss, relative.
    val_loss: f64,
    same_best_epoch: bool,
    /// Final weights (last and best), absolute, and where.
    weights: (f64, String),
    /// Mean test predictions, absolute.
    predictions: f64,
    /// Test metrics, absolute, and which.
    metrics: (f64, String),
}

impl std::fmt::Display for Distance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "loss {:.2e} (relative), grad norm {:.2e}, lr {:.1e}, val loss {:.2e} (relative), \
             same best epoch: {}, weights {:.2e} ({}), predictions {:.2e}, metrics {:.2e} ({})",
            self.loss,
            self.grad_norm,
            self.lr,
            self.val_loss,
            self.same_best_epoch,
            self.weights.0,
            self.weights.1,
            self.predictions,
            self.metrics.0,
            self.metrics.1
        )
    }
}

/// Mean test predictions of `model` over the reference's test examples, in its loader's order.
fn predict(r: &Reference, model: &ScGenePT<Flex>) -> Predictions {
    let set = PairedSet {
        split: SplitName::Test,
        examples: r.test_examples(),
    };
    let batch = r.settings().batch_size;
    predict_means(
        model,
        &r.data,
        &set,
        &r.mapping,
        batch,
        &Default::default(),
        None,
    )
}

/// Our metrics under the names of `like` (`condition metric`, `overall metric`).
fn metric_values(report: &MethodReport, like: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let summary = to_strings(&report.summary);
    like.keys()
        .map(|k| {
            let (c, m) = k.split_once(' ').unwrap();
            let v = match c {
                "overall" => summary[&format!("test_{m}")],
                _ => report.per_condition[c][m],
            };
            (k.clone(), v)
        })
        .collect()
}

#[test]
fn training_run_equals_the_reference_step_for_step() {
    let r = reference();
    let tmp = crate::common::tempdir("training-parity");
    // Same split as GEARS' DataSplitter on this data.
    let split = GearsSplit::simulation(&r.data.conditions, SimulationSplitConfig::default());
    for (name, ours) in [
        ("train", &split.train),
        ("val", &split.val),
        ("test", &split.test),
    ] {
        let (mut a, mut b) = (ours.clone(), json_strings(&r.run["split"][name]));
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name} conditions");
    }
    let torch32 = Record::reference(&r, &r.run, "");
    let exact = Record::reference(&r, &r.run["float64"], "float64.");
    let ours = Record::ours(&r, &train_like_the_reference(&r, &tmp), &split, &torch32);
    let clipped = ours
        .steps
        .iter()
        .filter(|s| s.1 > r.settings().clip_grad_norm)
        .count();
    assert_eq!(clipped, r.run["clipped_steps"].as_u64().unwrap() as usize);
    assert!(clipped > 0 && clipped < ours.steps.len());

    let to_exact = ours.distance(&exact);
    let to_torch32 = ours.distance(&torch32);
    let torch_noise = torch32.distance(&exact);
    println!(
        "{} steps, {clipped} clipped, best epoch {}",
        ours.steps.len(),
        ours.best_epoch
    );
    println!("ours against the reference in float64:  {to_exact}");
    println!("ours against the reference in float32:  {to_torch32}");
    println!("reference float32 against float64:      {torch_noise}");

    // The tolerances, against the recipe computed without rounding.
    let d = &to_exact;
    assert!(d.loss <= 1e-5, "per-step loss: {d}");
    assert!(d.grad_norm <= 1e-4, "gradient norm: {d}");
    assert!(
        d.lr <= 1e-12 && d.val_loss <= 1e-5,
        "lr or validation loss: {d}"
    );
    assert!(d.same_best_epoch, "best epoch: {d}");
    assert!(d.weights.0 <= 1e-4, "weights: {d}");
    assert!(d.metrics.0 <= 1e-6, "test metrics: {d}");
    // Against torch's own float32 run: no farther than torch's float32 rounding takes it from
    // the exact run, plus the tolerance.
    let (t, n) = (&to_torch32, &torch_noise);
    assert!(t.same_best_epoch, "best epoch against float32 torch");
    assert!(
        t.loss <= n.loss + 1e-5 && t.grad_norm <= n.grad_norm + 1e-4,
        "{t}"
    );
    assert!(
        t.weights.0 <= n.weights.0 + 1e-4 && t.metrics.0 <= n.metrics.0 + 1e-6,
        "{t}"
    );

    evaluation_alone_matches(&r, &split, &torch32);
}

/// The evaluation alone: the reference's trained weights in our model, and the reference's
/// predictions through our metrics. Only GEARS' float32 control mean (ours is float64) is left.
fn evaluation_alone_matches(r: &Reference, split: &GearsSplit, torch32: &Record) {
    for tag in MODELS {
        let device = Default::default();
        let (model, _) = apply_state_dict(
            ScGenePT::<Flex>::new(&r.config, &device).unwrap(),
            &r.weights(tag),
            &ApplyOptions::default(),
            Path::new("reference weights"),
        )
        .unwrap();
        let (_, theirs, want) = &torch32.models[tag];
        let preds = predict(r, &model);
        let pd = preds
            .iter()
            .flat_map(|(c, p)| p.iter().zip(&theirs[c]).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        let worst = |got: &BTreeMap<String, f64>| {
            want.iter()
                .map(|(k, v)| (got[k] - v).abs())
                .fold(0.0, f64::max)
        };
        let ours_m = worst(&metric_values(
            &score_predictions(&r.data, split, &preds),
            want,
        ));
        let chain = worst(&metric_values(
            &score_predictions(&r.data, split, theirs),
            want,
        ));
        println!(
            "{tag}: reference weights in our model: predictions {pd:.2e}, metrics {ours_m:.2e}; \
             the reference's predictions through our metrics: {chain:.2e}"
        );
        assert!(pd <= 1e-6 && ours_m <= 1e-6 && chain <= 1e-6);
    }
}
