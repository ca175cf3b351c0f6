//! Everything a run needs before its first step, none of it backend-specific: the data, the
//! split, the control pairing of each split, the vocabulary mapping, the network config and the
//! knowledge tables (made first where the config asks: `ensure_inputs`).

use std::sync::Arc;

use anyhow::{bail, Result};

use scgenept_data::pairing::{pair_controls, PairedSet};
use scgenept_data::split_file::load_split;
use scgenept_data::{GearsSplit, PerturbData, SimulationSplitConfig, SplitName};
use scgenept_knowledge::KnowledgeTable;
use scgenept_model::vocab::{GeneVocab, VocabMapping};
use scgenept_model::KnowledgeSource;
use scgenept_model::ModelConfig;

use crate::train_config::{TrainConfig, TransferTarget, VocabKind};
use scgenept_data::transfer::{align_genes, GeneAlignment};

pub use scgenept_model::KnowledgeRows;

/// Everything the loop needs that does not depend on the backend.
pub struct Prepared {
    /// The training (and validation) data.
    pub data: Arc<PerturbData>,
    /// The tested data: `data`, or a transfer run's target aligned to the same genes.
    pub test_data: Arc<PerturbData>,
    /// What aligning a transfer's two datasets kept and dropped.
    pub alignment: Option<GeneAlignment>,
    pub split: GearsSplit,
    pub train: Arc<PairedSet>,
    pub val: Arc<PairedSet>,
    /// The test cells predicted: every one, or `eval.max_cells_per_condition` of each condition.
    pub test: PairedSet,
    pub mapping: VocabMapping,
    pub model: ModelConfig,
    pub pretrained_prefixes: Vec<String>,
    /// (source name, table) for each knowledge table the config gives, in the model's order.
    pub tables: Vec<(KnowledgeSource, KnowledgeTable)>,
    /// The source whose table the ridge and kNN baselines use (`model.baseline_knowledge`).
    pub baseline_source: Option<KnowledgeSource>,
}

impl Prepared {
    /// For each knowledge table: the rows of the dataset's genes that have a vector (what the
    /// model's tables start from, `ScGenePT::with_knowledge`).
    pub fn knowledge_rows(&self) -> Vec<(KnowledgeSource, KnowledgeRows)> {
        self.tables
            .iter()
            .map(|(source, table)| {
                (
                    *source,
                    dataset_rows(table, &self.data, &self.mapping)
                        .map(|(row, v)| (row, v.to_vec()))
                        .collect(),
                )
            })
            .collect()
    }

    /// The table the ridge and kNN baselines use.
    pub fn baseline_table(&self) -> Option<&KnowledgeTable> {
        let source = self.baseline_source.as_ref()?;
        self.tables
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, t)| t)
    }
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
            let sc = scgenept_data::synth::config::SynthConfig::preset(*preset);
            let text = scgenept_knowledge::GeneText::embedded();
            scgenept_data::synth::write::write_synthetic(&sc, 0, &text, &cfg.data.path)?;
        }
    }
    if let Some(t) = &cfg.data.transfer_to {
        if let (false, Some(preset)) = (t.path.exists(), &t.synth_preset_if_missing) {
            tracing::info!(
                "{} is absent: generating the synthetic '{preset}' dataset",
                t.path.display()
            );
            let sc = scgenept_data::synth::config::SynthConfig::preset(*preset);
            let text = scgenept_knowledge::GeneText::embedded();
            scgenept_data::synth::write::write_synthetic(&sc, 0, &text, &t.path)?;
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
            scgenept_knowledge::build::build_missing_table(*source, path, &data.gene_names)?;
        }
    }
    Ok(())
}

/// Reads the data and builds split, pairs, vocabulary mapping, model config and tables.
pub fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    ensure_inputs(cfg)?;
    let data = PerturbData::load_with(&cfg.data.path, &cfg.data.columns, cfg.data.cells)?;
    if let Some(max) = data.x.looks_like_counts() {
        tracing::warn!(
            "{}: X holds whole numbers up to {max}: raw counts? scGenePT expects log-normalised \
             expression (as GEARS prepares it: normalize_total, then log1p)",
            cfg.data.path.display()
        );
    }
    let Sides {
        data,
        test_data,
        split,
        alignment,
    } = match &cfg.data.transfer_to {
        None => {
            let split = split_of(cfg, &data)?;
            let data = Arc::new(data);
            Sides {
                data: data.clone(),
                test_data: data,
                split,
                alignment: None,
            }
        }
        Some(t) => transfer(cfg, &data, t)?,
    };
    let seed = cfg.train.pairing_seed;
    let train = pair_controls(&data, &split, SplitName::Train, seed);
    let val = pair_controls(&data, &split, SplitName::Val, seed);
    let test = test_cells(
        cfg,
        pair_controls(&test_data, &split, SplitName::Test, seed),
    );
    if train.examples.len() < cfg.train.batch_size {
        bail!(
            "{} training cells, fewer than one batch of {}",
            train.examples.len(),
            cfg.train.batch_size
        );
    }
    let mapping = vocab_mapping(cfg, &data);
    let mut tables = Vec::new();
    for (source, path) in &cfg.model.knowledge {
        let t = KnowledgeTable::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        tables.push((*source, t));
    }
    let (model, pretrained_prefixes) = model_config(cfg, &mapping, &mut tables)?;
    for (source, table) in &tables {
        tracing::info!(
            "knowledge '{source}': {} of {} dataset genes have a vector",
            dataset_rows(table, &data, &mapping).count(),
            data.n_genes()
        );
    }
    let baseline_source = cfg.baseline_knowledge(&model)?;
    Ok(Prepared {
        data,
        test_data,
        alignment,
        split,
        train: Arc::new(train),
        val: Arc::new(val),
        test,
        mapping,
        model,
        pretrained_prefixes,
        tables,
        baseline_source,
    })
}

/// The datasets a run trains and tests on (the same one but in a transfer), and its split.
struct Sides {
    data: Arc<PerturbData>,
    test_data: Arc<PerturbData>,
    split: GearsSplit,
    alignment: Option<GeneAlignment>,
}

/// Every test cell, or at most `eval.max_cells_per_condition` of each condition drawn with the
/// pairing seed (docs/data.md, "A subsample of the test predictions"); the truths the run is
/// scored against stay the means of every cell.
fn test_cells(cfg: &TrainConfig, all: PairedSet) -> PairedSet {
    let Some(n) = cfg.eval.max_cells_per_condition else {
        return all;
    };
    let some = all.at_most_per_condition(n, cfg.train.pairing_seed);
    tracing::info!(
        "test predictions from {} of {} test cells (at most {n} per condition, \
         eval.max_cells_per_condition); the truths are every cell's",
        some.examples.len(),
        all.examples.len()
    );
    some
}

/// A transfer run's datasets, aligned to their shared genes, and its split (docs/data.md).
fn transfer(cfg: &TrainConfig, source: &PerturbData, t: &TransferTarget) -> Result<Sides> {
    let target = PerturbData::load_with(&t.path, &t.columns, cfg.data.cells)?;
    let (source, target, alignment) = align_genes(source, &target)?;
    tracing::info!("transfer to {}: {}", t.path.display(), alignment.summary());
    let split = GearsSplit::transfer(
        &source.flaggable_conditions(),
        &target.flaggable_conditions(),
        SimulationSplitConfig {
            seed: cfg.data.split_seed,
            ..Default::default()
        },
    );
    if split.test.is_empty() || split.val.is_empty() {
        bail!(
            "{}: the transfer has no test perturbations or the source no validation ones after aligning genes ({})",
            t.path.display(),
            alignment.summary()
        );
    }
    Ok(Sides {
        data: Arc::new(source),
        test_data: Arc::new(target),
        split,
        alignment: Some(alignment),
    })
}

/// The config's split file, or GEARS' simulation split of the data's conditions.
fn split_of(cfg: &TrainConfig, data: &PerturbData) -> Result<GearsSplit> {
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
    Ok(split)
}

/// Dataset gene → row of the model's gene tables (`model.vocab`).
fn vocab_mapping(cfg: &TrainConfig, data: &PerturbData) -> VocabMapping {
    match cfg.model.vocab {
        VocabKind::Scgpt => GeneVocab::scgpt().map_genes(&data.gene_names, cfg.model.oov_mode),
        VocabKind::Dataset => VocabMapping {
            ids: (0..data.n_genes()).collect(),
            vocab_size: data.n_genes() + 1,
            pad_id: data.n_genes(),
            oov_genes: vec![],
            mode: cfg.model.oov_mode,
        },
    }
}

/// The network config of the model type with the config's sizes and the tables' widths; orders
/// `tables` as the model orders its sources. Returns it with the pretrained prefixes.
fn model_config(
    cfg: &TrainConfig,
    mapping: &VocabMapping,
    tables: &mut [(KnowledgeSource, KnowledgeTable)],
) -> Result<(ModelConfig, Vec<String>)> {
    let d_llm = tables.first().map_or(cfg.model.d_llm, |(_, t)| t.dim());
    let preset = cfg.model.model_type.preset(d_llm);
    let mut model = cfg.sized_model(d_llm);
    model.vocab_size = mapping.vocab_size;
    model.pad_token_id = mapping.pad_id;
    let order: Vec<KnowledgeSource> = model.knowledge_sources.iter().map(|s| s.source).collect();
    let names: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    for (source, table) in tables.iter() {
        let Some(s) = model
            .knowledge_sources
            .iter_mut()
            .find(|s| s.source == *source)
        else {
            bail!(
                "knowledge.{source}: model type '{}' has no such source (it has: {})",
                cfg.model.model_type,
                names.join(", ")
            );
        };
        s.d_llm = table.dim();
    }
    tables.sort_by_key(|(source, _)| order.iter().position(|n| n == source));
    for s in &model.knowledge_sources {
        if !s.is_random() && !cfg.model.knowledge.contains_key(&s.source) {
            bail!(
                "model type '{}' needs a knowledge table for source '{}': set knowledge.{} = \
                 \"FILE.safetensors\" (build one with `scgenept knowledge build`)",
                cfg.model.model_type,
                s.source,
                s.source
            );
        }
    }
    model.validate()?;
    Ok((model, preset.pretrained_prefixes))
}

/// The rows of the dataset's genes (in the model's vocabulary) that `table` has a vector for.
fn dataset_rows<'a>(
    table: &'a KnowledgeTable,
    data: &'a PerturbData,
    mapping: &'a VocabMapping,
) -> impl Iterator<Item = (usize, &'a [f32])> + 'a {
    data.gene_names
        .iter()
        .zip(&mapping.ids)
        .filter(|(_, id)| **id != mapping.pad_id)
        .filter_map(|(g, id)| table.get(g).map(|v| (*id, v)))
}
