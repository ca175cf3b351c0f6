//! The training run: data → split → paired examples → model (+ knowledge tables, + pretrained
//! scGPT) → epochs of Adam with StepLR, global-norm clipping and micro-batch accumulation →
//! early stopping on validation MSE → test metrics beside the baselines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use scgenept_data::batches::{
    build_batch, condition_pert_genes, Batch, BatchConfig, BatchLoader, GeneSampling,
};
use scgenept_data::pairing::{pair_controls, PairedSet};
use scgenept_data::split_file::load_split;
use scgenept_data::{GearsSplit, KnowledgeTable, PerturbData, SimulationSplitConfig, SplitName};
use scgenept_model::vocab::{GeneVocab, VocabMapping};
use scgenept_model::{export_safetensors, ModelConfig, ScGenePT};

use crate::baselines::{evaluate_baselines, score_predictions, MethodReport};
use crate::device::WithBackend;
use crate::grad_clip::clip_global_norm;
use crate::run_outputs::{git_commit, write_predictions, write_results_csv, write_run_plots};
use crate::train_config::{TestModel, TrainConfig, VocabKind};

/// Knowledge vectors of the dataset's genes, by table row.
pub type KnowledgeRows = Vec<(usize, Vec<f32>)>;

/// Everything the loop needs that does not depend on the backend.
pub struct Prepared {
    pub data: Arc<PerturbData>,
    pub split: GearsSplit,
    pub train: Arc<PairedSet>,
    pub val: Arc<PairedSet>,
    pub test: PairedSet,
    pub mapping: VocabMapping,
    pub model: ModelConfig,
    pub pretrained_prefixes: Vec<String>,
    /// (source name, dataset-gene vectors by row) for each knowledge table given.
    pub knowledge: Vec<(String, KnowledgeRows)>,
    /// The knowledge tables themselves (the ridge and kNN baselines read the first).
    pub tables: Vec<(String, KnowledgeTable)>,
}

/// Makes the inputs a config asks to be made when absent: the synthetic dataset
/// (`data.synth_preset_if_missing`) and knowledge tables (`model.build_missing_knowledge`).
/// A sweep calls this once per config before its runs start side by side.
pub fn ensure_inputs(cfg: &TrainConfig) -> Result<()> {
    if !cfg.data.path.exists() {
        if let Some(preset) = &cfg.data.synth_preset_if_missing {
            tracing::info!(
                "{} is absent: generating the synthetic '{preset}' dataset",
                cfg.data.path.display()
            );
            let sc = scgenept_data::synth::SynthConfig::preset(preset)?;
            scgenept_data::synth::write_synthetic(&sc, 0, &cfg.data.path)?;
        }
    }
    let missing: Vec<_> = cfg
        .model
        .knowledge
        .iter()
        .filter(|(_, path)| cfg.model.build_missing_knowledge && !path.exists())
        .collect();
    if !missing.is_empty() {
        let data = PerturbData::load(&cfg.data.path, &cfg.data.columns)?;
        for (source, path) in missing {
            build_missing_table(source, path, &data.gene_names)?;
        }
    }
    Ok(())
}

/// Reads the data and builds split, pairs, vocabulary mapping and model config.
pub fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    ensure_inputs(cfg)?;
    let data = PerturbData::load(&cfg.data.path, &cfg.data.columns)?;
    let split = match &cfg.data.split {
        Some(p) => load_split(p, &data.conditions)?,
        None => GearsSplit::simulation(
            &data.conditions,
            SimulationSplitConfig {
                seed: cfg.data.split_seed,
                ..Default::default()
            },
        ),
    };
    if split.test.is_empty() || split.val.is_empty() {
        bail!(
            "{}: the split has no test or no validation conditions; a run needs both",
            cfg.data.path.display()
        );
    }
    let seed = cfg.train.pairing_seed;
    let train = pair_controls(&data, &split, SplitName::Train, seed);
    let val = pair_controls(&data, &split, SplitName::Val, seed);
    let test = pair_controls(&data, &split, SplitName::Test, seed);
    if train.examples.len() < cfg.train.batch_size {
        bail!(
            "{} training cells, fewer than one batch of {}",
            train.examples.len(),
            cfg.train.batch_size
        );
    }
    let mapping = match cfg.model.vocab {
        VocabKind::Scgpt => GeneVocab::scgpt().map_genes(&data.gene_names, cfg.model.oov_mode),
        VocabKind::Dataset => VocabMapping {
            ids: (0..data.n_genes()).collect(),
            vocab_size: data.n_genes() + 1,
            pad_id: data.n_genes(),
            oov_genes: vec![],
            mode: cfg.model.oov_mode,
        },
    };

    let mut tables = Vec::new();
    for (source, path) in &cfg.model.knowledge {
        let t = KnowledgeTable::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        tables.push((source.clone(), t));
    }
    let d_llm = tables.first().map_or(cfg.model.d_llm, |(_, t)| t.dim());
    let preset = scgenept_model::preset(&cfg.model.model_type, d_llm)?;
    let mut model = preset.config;
    model.vocab_size = mapping.vocab_size;
    model.pad_token_id = mapping.pad_id;
    model.dropout = cfg.model.dropout;
    model.d_model = cfg.model.d_model.unwrap_or(model.d_model);
    model.nhead = cfg.model.nhead.unwrap_or(model.nhead);
    model.d_hid = cfg.model.d_hid.unwrap_or(model.d_hid);
    model.nlayers = cfg.model.nlayers.unwrap_or(model.nlayers);
    let mut knowledge = Vec::new();
    for (source, table) in &tables {
        let Some(s) = model
            .language_sources
            .iter_mut()
            .find(|s| &s.name == source)
        else {
            let names: Vec<&str> = model
                .language_sources
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            bail!(
                "knowledge.{source}: model type '{}' has no such source (it has: {})",
                cfg.model.model_type,
                names.join(", ")
            );
        };
        s.d_llm = table.dim();
        let rows: KnowledgeRows = data
            .gene_names
            .iter()
            .zip(&mapping.ids)
            .filter(|(_, id)| **id != mapping.pad_id)
            .filter_map(|(g, id)| table.get(g).map(|v| (*id, v.to_vec())))
            .collect();
        tracing::info!(
            "knowledge '{source}': {} of {} dataset genes have a vector",
            rows.len(),
            data.n_genes()
        );
        knowledge.push((source.clone(), rows));
    }
    for s in &model.language_sources {
        if s.name != "random" && !cfg.model.knowledge.contains_key(&s.name) {
            bail!("model type '{}' needs a knowledge table for source '{}': set knowledge.{} = \"FILE.safetensors\" (build one with `scgenept knowledge build`)", cfg.model.model_type, s.name, s.name);
        }
    }
    model.validate()?;
    Ok(Prepared {
        data: Arc::new(data),
        split,
        train: Arc::new(train),
        val: Arc::new(val),
        test,
        mapping,
        model,
        pretrained_prefixes: preset.pretrained_prefixes,
        knowledge,
        tables,
    })
}

/// `model.build_missing_knowledge`: embeds the shipped text of `source` for the dataset's genes
/// and saves the table at `path`.
fn build_missing_table(source: &str, path: &std::path::Path, genes: &[String]) -> Result<()> {
    let Some((text_source, mode)) = crate::knowledge::text_source_of(source) else {
        bail!(
            "knowledge.{source}: {} is absent and '{source}' has no gene text to build it from; \
             give an existing table",
            path.display()
        );
    };
    tracing::info!(
        "{} is absent: embedding the shipped {text_source} text of {} genes with all-MiniLM-L6-v2",
        path.display(),
        genes.len()
    );
    let text = scgenept_data::GeneText::embedded();
    let (table, r) =
        crate::knowledge::embed_source(&text, text_source, mode, genes, None, None, 32)?;
    table.save(path)?;
    tracing::info!(
        "wrote {}: {}/{} genes with {text_source} text, {} texts embedded in {:.1} s",
        path.display(),
        r.with_text,
        r.asked,
        r.texts - r.texts_from_cache,
        r.seconds
    );
    Ok(())
}

/// One batch as tensors.
pub fn batch_tensors<B: Backend>(
    b: &Batch,
    examples: std::ops::Range<usize>,
    device: &B::Device,
) -> [Tensor<B, 2>; 2] {
    let l = b.seq_len();
    let n = examples.len();
    let rows = examples.start * l..examples.end * l;
    let values = Tensor::<B, 2>::from_data(
        TensorData::new(b.values[rows.clone()].to_vec(), [n, l]),
        device,
    );
    let target =
        Tensor::<B, 2>::from_data(TensorData::new(b.target[rows].to_vec(), [n, l]), device);
    [values, target]
}

fn ids_and_flags<B: Backend>(
    b: &Batch,
    examples: std::ops::Range<usize>,
    mapping: &VocabMapping,
    device: &B::Device,
) -> [Tensor<B, 2, Int>; 2] {
    let l = b.seq_len();
    let n = examples.len();
    let ids: Vec<i64> = (0..n)
        .flat_map(|_| b.genes.iter().map(|g| mapping.ids[*g as usize] as i64))
        .collect();
    let flags: Vec<i64> = b.flags[examples.start * l..examples.end * l]
        .iter()
        .map(|f| *f as i64)
        .collect();
    [
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n, l]), device),
        Tensor::<B, 2, Int>::from_data(TensorData::new(flags, [n, l]), device),
    ]
}

/// Loss and gradients of one batch, split into micro-batches whose gradients are accumulated with
/// weights n_i / n, so the result equals the unsplit batch's (mean over all positions).
pub fn batch_grads<B: AutodiffBackend>(
    model: &ScGenePT<B>,
    b: &Batch,
    micro: usize,
    mapping: &VocabMapping,
    device: &B::Device,
) -> (f64, GradientsParams) {
    let n = b.len();
    let mut acc = GradientsAccumulator::<ScGenePT<B>>::new();
    let mut loss_sum = 0.0;
    for start in (0..n).step_by(micro.max(1)) {
        let range = start..(start + micro).min(n);
        let w = range.len() as f64 / n as f64;
        let [ids, flags] = ids_and_flags::<B>(b, range.clone(), mapping, device);
        let [values, target] = batch_tensors::<B>(b, range, device);
        let out = model.forward(ids, values, flags);
        let loss = (out - target).powf_scalar(2.0).mean();
        let l: f64 = loss.clone().into_scalar().elem::<f64>();
        loss_sum += l * w;
        let grads = GradientsParams::from_grads(loss.mul_scalar(w).backward(), model);
        acc.accumulate(model, grads);
    }
    (loss_sum, acc.grads())
}

/// Mean MSE over a split's batches (same gene sampling as training; no gradients).
fn eval_loss<B: Backend>(
    model: &ScGenePT<B>,
    data: &Arc<PerturbData>,
    set: &Arc<PairedSet>,
    cfg: BatchConfig,
    epoch: usize,
    mapping: &VocabMapping,
    device: &B::Device,
) -> f64 {
    let mut losses = Vec::new();
    for b in BatchLoader::spawn(data.clone(), set.clone(), cfg, epoch, 0, 2) {
        let [ids, flags] = ids_and_flags::<B>(&b, 0..b.len(), mapping, device);
        let [values, target] = batch_tensors::<B>(&b, 0..b.len(), device);
        let loss: f64 = (model.forward(ids, values, flags) - target)
            .powf_scalar(2.0)
            .mean()
            .into_scalar()
            .elem::<f64>();
        losses.push(loss);
    }
    losses.iter().sum::<f64>() / losses.len().max(1) as f64
}

/// Mean predicted expression per test condition over all genes (each cell from its paired control).
pub fn predict_test<B: Backend>(
    model: &ScGenePT<B>,
    p: &Prepared,
    eval_batch: usize,
    device: &B::Device,
) -> BTreeMap<String, Vec<f64>> {
    let pert = condition_pert_genes(&p.data);
    let cfg = BatchConfig {
        batch_size: eval_batch,
        max_seq_len: usize::MAX,
        sampling: GeneSampling::All,
        shuffle: false,
        drop_last: false,
        seed: 0,
    };
    let g = p.data.n_genes();
    let mut sums: BTreeMap<u32, (Vec<f64>, usize)> = BTreeMap::new();
    for (i, chunk) in p.test.examples.chunks(eval_batch).enumerate() {
        let b = build_batch(&p.data, &pert, chunk.to_vec(), &cfg, 0, i);
        let [ids, flags] = ids_and_flags::<B>(&b, 0..b.len(), &p.mapping, device);
        let [values, _] = batch_tensors::<B>(&b, 0..b.len(), device);
        let out: Vec<f32> = model
            .forward(ids, values, flags)
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("f32 output");
        for (r, e) in b.examples.iter().enumerate() {
            let entry = sums.entry(e.condition).or_insert_with(|| (vec![0.0; g], 0));
            entry
                .0
                .iter_mut()
                .zip(&out[r * g..(r + 1) * g])
                .for_each(|(s, v)| *s += *v as f64);
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| {
            (
                p.data.conditions[k as usize].clone(),
                s.into_iter().map(|v| v / n as f64).collect(),
            )
        })
        .collect()
}

/// What a finished run reports.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run_dir: PathBuf,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub model: MethodReport,
    pub baselines: BTreeMap<&'static str, MethodReport>,
    pub split: GearsSplit,
    pub seconds: f64,
    /// `model.model_type` of the run (`scgenept_go_c`, …): how tables name the model.
    pub model_type: String,
    /// The data is synthetic (`uns/synthetic` in the file).
    pub synthetic: bool,
}

/// A training job for `Device::dispatch`.
pub struct TrainJob {
    pub config: TrainConfig,
    pub overwrite: bool,
    /// Continue from the run directory's last epoch checkpoint (if any).
    pub resume: bool,
    /// Config keys (dotted) that may differ from the interrupted run's when resuming.
    pub allow_changed: Vec<String>,
}

impl WithBackend for TrainJob {
    type Output = TrainOutcome;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<TrainOutcome> {
        let t0 = Instant::now();
        let cfg = &self.config;
        // Before any data is read: a precision this backend cannot run.
        let precision = cfg.train.precision;
        crate::device::check_precision::<B>(&device, label, precision)
            .map_err(|e| anyhow::anyhow!("train.precision = \"{precision}\": {e}"))?;
        let dir = cfg.run_dir();
        if dir.join("metrics.json").exists() && !self.overwrite {
            bail!(
                "{}: holds a finished run; use --overwrite to replace it",
                dir.display()
            );
        }
        let has_checkpoint = crate::resume::resume_dir(&dir).join("state.json").exists();
        if has_checkpoint && !self.resume && !self.overwrite {
            bail!(
                "{}: holds an interrupted run; continue it with --resume, or start over with \
                 --overwrite",
                dir.display()
            );
        }
        let accepted = if self.resume && has_checkpoint && !self.overwrite {
            crate::resume::check_config(&dir, cfg, &self.allow_changed)?
        } else {
            Vec::new()
        };
        if self.overwrite {
            // The old run stops counting as finished the moment its replacement starts.
            let _ = std::fs::remove_file(dir.join("metrics.json"));
            if !self.resume {
                let _ = std::fs::remove_dir_all(crate::resume::resume_dir(&dir));
            }
        }
        let p = prepare(cfg)?;
        B::seed(&device, cfg.train.seed);
        let mut model = ScGenePT::<B>::new(&p.model, &device)?;
        if let Some(ckpt) = &cfg.model.pretrained {
            let (m, report) = scgenept_model::checkpoint::import_checkpoint(
                model,
                ckpt,
                Some(&p.pretrained_prefixes),
            )?;
            tracing::info!("pretrained {}: {report}", ckpt.display());
            model = m;
        }
        for (source, rows) in &p.knowledge {
            model.set_language_rows(source, rows.iter().map(|(i, v)| (*i, v.as_slice())))?;
        }
        model.set_precision(precision)?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        std::fs::write(dir.join("config.toml"), toml::to_string_pretty(cfg)?)?;
        tracing::info!(
            "{label}: {} train / {} val / {} test cells, {} genes ({} outside the scGPT vocabulary), model {} ({} parameters)",
            p.train.examples.len(), p.val.examples.len(), p.test.examples.len(), p.data.n_genes(),
            p.mapping.oov_genes.len(), cfg.model.model_type, burn::module::Module::num_params(&model)
        );
        let t = &cfg.train;
        let mut optim = AdamConfig::new()
            .with_epsilon(t.adam_eps as f32)
            .init::<B, ScGenePT<B>>();
        let batch_cfg = BatchConfig {
            batch_size: t.batch_size,
            max_seq_len: t.max_seq_len,
            sampling: t.gene_sampling,
            shuffle: true,
            drop_last: true,
            seed: t.seed,
        };
        let val_cfg = BatchConfig {
            shuffle: false,
            drop_last: false,
            seed: t.seed ^ 0x76616c,
            ..batch_cfg.clone()
        };
        let micro = t.micro_batch_size.unwrap_or(t.batch_size);
        let (mut best, mut best_epoch, mut patience) = (f64::INFINITY, 0, 0);
        let mut best_model = model.clone();
        let mut log = String::from("epoch,lr,train_loss,val_loss,seconds\n");
        let mut batch_log = String::from(BATCH_LOG_HEADER);
        let mut epochs_run = 0;
        let mut first_epoch = 1;
        let mut resumes: Vec<String> = Vec::new();
        if self.resume {
            match crate::resume::load(&dir, model.clone(), optim, &device)? {
                Some((state, m, b, o)) => {
                    tracing::info!(
                        "resuming after epoch {} (best epoch {})",
                        state.epoch,
                        state.best_epoch
                    );
                    (model, best_model, optim) = (m, b, o);
                    model.set_precision(t.precision)?;
                    (best, best_epoch, patience, log) = (
                        state.best_val_loss,
                        state.best_epoch,
                        state.patience,
                        state.log,
                    );
                    if !state.batch_log.is_empty() {
                        batch_log = state.batch_log;
                    }
                    epochs_run = state.epoch;
                    first_epoch = state.epoch + 1;
                    resumes = state.resumes;
                    resumes.extend(
                        accepted
                            .iter()
                            .map(|d| format!("after epoch {}: {d}", state.epoch)),
                    );
                }
                None => {
                    tracing::info!(
                        "{}: no checkpoint to resume from; starting at epoch 1",
                        dir.display()
                    );
                    optim = AdamConfig::new()
                        .with_epsilon(t.adam_eps as f32)
                        .init::<B, ScGenePT<B>>();
                }
            }
        }
        let stopped_early = epochs_run > 0 && patience >= t.early_stop;
        // Ctrl-C now stops at the next batch boundary instead of killing the process.
        let graceful = crate::interrupt::Graceful::enter();
        for epoch in first_epoch..=t.epochs {
            if stopped_early {
                break;
            }
            let lr = t.lr * t.lr_gamma.powi(epoch as i32 - 1);
            let te = Instant::now();
            let loader = BatchLoader::spawn(
                p.data.clone(),
                p.train.clone(),
                batch_cfg.clone(),
                epoch,
                0,
                2,
            );
            let n_batches = loader.n_batches;
            let bar = epoch_bar(n_batches, epoch, t.epochs);
            let mut losses = Vec::new();
            for (i, b) in loader.enumerate() {
                interrupt_point(epoch, t.epochs, epochs_run, &dir)?;
                B::seed(&device, step_seed(t.seed, epoch, i));
                let tb = Instant::now();
                let (loss, mut grads) = batch_grads(&model, &b, micro, &p.mapping, &device);
                let norm = clip_global_norm::<B, ScGenePT<B>>(&model, &mut grads, t.clip_grad_norm);
                check_finite(loss, norm, (epoch, t.epochs), (i + 1, n_batches), lr, &dir)?;
                model = optim.step(lr, model, grads);
                losses.push(loss);
                batch_log.push_str(&format!("{epoch},{},{loss}\n", i + 1));
                bar.set_message(format!("lr {lr:.2e} loss {loss:.5}"));
                bar.inc(1);
                if bar.is_hidden() && ((i + 1) % 20 == 0 || i + 1 == n_batches) {
                    let left =
                        te.elapsed().as_secs_f64() / (i + 1) as f64 * (n_batches - i - 1) as f64;
                    tracing::info!(
                        "| epoch {epoch}/{} | {:4}/{n_batches} batches | lr {lr:.2e} | {:7.1} ms/batch | loss {loss:.5} | epoch eta {} |",
                        t.epochs,
                        i + 1,
                        tb.elapsed().as_secs_f64() * 1e3,
                        human_seconds(left)
                    );
                }
            }
            bar.finish_and_clear();
            let train_loss = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
            let val_loss = eval_loss(
                &model.valid(),
                &p.data,
                &p.val,
                val_cfg.clone(),
                epoch,
                &p.mapping,
                &device,
            );
            epochs_run = epoch;
            log.push_str(&format!(
                "{epoch},{lr},{train_loss},{val_loss},{:.2}\n",
                te.elapsed().as_secs_f64()
            ));
            let secs = te.elapsed().as_secs_f64();
            tracing::info!(
                "epoch {epoch}/{}: train loss {train_loss:.5}, val loss {val_loss:.5} ({secs:.1} s{})",
                t.epochs,
                if epoch < t.epochs {
                    format!(", at most {} left", human_seconds(secs * (t.epochs - epoch) as f64))
                } else {
                    String::new()
                }
            );
            if val_loss < best {
                (best, best_epoch, patience) = (val_loss, epoch, 0);
                best_model = model.clone();
                export_safetensors(&best_model.valid(), &dir.join("checkpoints/best"))?;
            } else {
                patience += 1;
            }
            let state = crate::resume::LoopState {
                epoch,
                best_val_loss: best,
                best_epoch,
                patience,
                log: log.clone(),
                batch_log: batch_log.clone(),
                resumes: resumes.clone(),
            };
            crate::resume::save(&dir, &state, &model, &best_model, &optim)?;
            if patience >= t.early_stop {
                tracing::info!("early stop: no better validation loss for {patience} epochs");
                break;
            }
        }
        interrupt_point(epochs_run + 1, t.epochs, epochs_run, &dir)?;
        // From here on an interrupt ends the process at once (temporaries removed); the epoch
        // checkpoint stays, so `--resume` goes straight to testing.
        drop(graceful);
        export_safetensors(&model.valid(), &dir.join("checkpoints/last"))?;
        std::fs::write(dir.join("train_log.csv"), log)?;
        std::fs::write(dir.join("train_batches.csv"), batch_log)?;

        let tested = match t.test_model {
            TestModel::Best => best_model.valid(),
            TestModel::Last => model.valid(),
        };
        let tp = Instant::now();
        let preds = predict_test(&tested, &p, t.eval_batch_size, &device);
        tracing::debug!("test predictions: {:.1} s", tp.elapsed().as_secs_f64());
        let tp = Instant::now();
        write_predictions(&dir.join("predictions.h5ad"), &p, &preds)?;
        tracing::debug!("predictions.h5ad: {:.1} s", tp.elapsed().as_secs_f64());
        let tp = Instant::now();
        // Figures are a convenience: a failure to draw one must not lose a finished run.
        let tested_epoch = match t.test_model {
            TestModel::Best => best_epoch,
            TestModel::Last => epochs_run,
        };
        let title = format!("{} seed {}", cfg.name, t.seed);
        if let Err(e) = write_run_plots(&dir, &p, &preds, &title, tested_epoch) {
            tracing::warn!("plots not written: {e:#}");
        }
        tracing::debug!("plots: {:.1} s", tp.elapsed().as_secs_f64());
        let tp = Instant::now();
        let report = score_predictions(&p.data, &p.split, &preds);
        tracing::debug!("metrics: {:.1} s", tp.elapsed().as_secs_f64());
        let tp = Instant::now();
        let baselines =
            evaluate_baselines(&p.data, &p.split, t.seed, p.tables.first().map(|(_, t)| t));
        tracing::debug!("baselines: {:.1} s", tp.elapsed().as_secs_f64());
        let mut all = serde_json::Map::new();
        all.insert("model".to_string(), serde_json::to_value(&report.summary)?);
        for (k, r) in &baselines {
            all.insert(k.to_string(), serde_json::to_value(&r.summary)?);
        }
        // Read back by sweeps (sweep.rs, `read_finished`): method tables plus this flag.
        let synthetic = p.data.synthetic.is_some();
        all.insert("synthetic".to_string(), synthetic.into());
        let manifest = serde_json::json!({
            "name": cfg.name, "seed": t.seed, "device": label, "model_type": cfg.model.model_type,
            "data": cfg.data.path.display().to_string(), "data_bytes": std::fs::metadata(&cfg.data.path).map(|m| m.len()).ok(),
            "epochs_run": epochs_run, "best_epoch": best_epoch, "best_val_loss": best,
            "tested": format!("{:?}", t.test_model).to_lowercase(), "tested_epoch": tested_epoch,
            "synthetic": synthetic,
            "data_sha256": scgenept_data::error::file_sha256(&cfg.data.path).ok(),
            "git_commit": git_commit(),
            "baseline_knowledge_source": p.tables.first().map(|(s, _)| s.clone()),
            "config_changes_on_resume": resumes,
            "crate_versions": {"scgenept": env!("CARGO_PKG_VERSION"), "burn": "0.21.0"},
            "seconds": t0.elapsed().as_secs_f64(),
        });
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string_pretty(&manifest)? + "\n",
        )?;
        write_results_csv(&dir.join("results.csv"), &p.split, &report, &baselines)?;
        scgenept_data::error::write_atomic(
            &dir.join("metrics.json"),
            (serde_json::to_string_pretty(&all)? + "\n").as_bytes(),
        )?;
        Ok(TrainOutcome {
            run_dir: dir,
            epochs_run,
            best_epoch,
            best_val_loss: best,
            model: report,
            baselines,
            split: p.split.clone(),
            seconds: t0.elapsed().as_secs_f64(),
            model_type: cfg.model.model_type.clone(),
            synthetic,
        })
    }
}

/// The divergence guard: a non-finite loss or gradient norm stops the run before the optimiser
/// steps, so the epoch checkpoints on disk (the last finished epoch's) stay good.
fn check_finite(
    loss: f64,
    grad_norm: f64,
    (epoch, epochs): (usize, usize),
    (batch, batches): (usize, usize),
    lr: f64,
    dir: &std::path::Path,
) -> Result<()> {
    if loss.is_finite() && grad_norm.is_finite() {
        return Ok(());
    }
    let kept = if epoch > 1 {
        format!(
            "the checkpoints of epoch {} in {} are kept",
            epoch - 1,
            dir.join("checkpoints").display()
        )
    } else {
        "no epoch had finished, so no checkpoint was written".to_string()
    };
    bail!(
        "training diverged at epoch {epoch}/{epochs}, batch {batch}/{batches}: loss {loss}, \
         gradient norm {grad_norm} (lr {lr:.2e}); lower train.lr, or train in f32 if you use \
         another precision; {kept}"
    )
}

/// `train_batches.csv`: every optimiser step's loss (drawn faintly behind the epoch means).
const BATCH_LOG_HEADER: &str = "epoch,batch,loss\n";

/// Stops the run when Ctrl-C or SIGTERM asked for it (`interrupt.rs`): between batches, so the
/// checkpoint on disk is the last finished epoch's, whole.
fn interrupt_point(epoch: usize, epochs: usize, done: usize, dir: &std::path::Path) -> Result<()> {
    if !crate::interrupt::requested() {
        return Ok(());
    }
    let saved = if done > 0 {
        format!(
            "epoch {done}'s checkpoint is in {}",
            crate::resume::resume_dir(dir).display()
        )
    } else {
        "no epoch had finished, so it starts again at epoch 1".to_string()
    };
    let where_ = if epoch > epochs {
        format!("after training all {epochs} epochs, before testing")
    } else {
        format!("in epoch {epoch}/{epochs}")
    };
    Err(crate::interrupt::Interrupted::new(where_, saved).into())
}

/// `42 s`, `3 min 5 s`, `1 h 2 min`.
fn human_seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A progress bar for one epoch when stderr is a terminal; hidden otherwise (log lines instead).
fn epoch_bar(n_batches: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n_batches as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} {bar:40} {pos}/{len} batches {per_sec} eta {eta} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// The backend seed of one step: dropout masks depend on (seed, epoch, batch) only, so a resumed
/// run draws the same masks.
pub fn step_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((epoch as u64) << 32) ^ batch as u64
}
