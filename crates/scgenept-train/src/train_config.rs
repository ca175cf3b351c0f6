//! `scgenept train --config FILE.toml`: what a run needs, with the paper's recipe as defaults
//! (docs/reference.md §2.3–2.4). Unknown keys are errors; `--set key=value` overrides any leaf.

use crate::run::dir::RunDir;
use scgenept_model::{KnowledgeSource, ModelType};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub use crate::train::eval_section::EvalSection;
use scgenept_data::batches::GeneSampling;
use scgenept_data::cells::CellStorage;
use scgenept_data::ObsColumns;
use scgenept_eval::run_scores::RunProfile;
use scgenept_model::vocab::OovMode;
use scgenept_model::Precision;

/// `train.seed` when a config gives none; also the default of `scgenept baselines --seed`, so the
/// random-perturbation baseline is the same row in both.
pub const DEFAULT_SEED: u64 = 42;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: outputs go to `<output.dir>/<name>/seed_<seed>/`.
    pub name: String,
    pub data: DataSection,
    pub model: ModelSection,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub output: OutputSection,
    /// Left out of a saved config when default, so runs saved before it existed stay current.
    #[serde(default, skip_serializing_if = "EvalSection::is_default")]
    pub eval: EvalSection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// GEARS-format h5ad. Relative paths are relative to the config file.
    pub path: PathBuf,
    /// Generate this `scgenept data synth` preset at `path` when the file is absent.
    #[serde(default)]
    pub synth_preset_if_missing: Option<scgenept_data::synth::config::SynthPreset>,
    /// A split file (.json or GEARS .pkl); default: GEARS' simulation split with `split_seed`.
    #[serde(default)]
    pub split: Option<PathBuf>,
    #[serde(default = "one")]
    pub split_seed: u32,
    #[serde(default)]
    pub columns: ObsColumns,
    /// Where the cells live while training: `auto` (in memory up to 1 GiB of CSR, else streamed
    /// from a cache converted once next to the file), `memory` or `disk` (docs/data.md).
    #[serde(default, skip_serializing_if = "is_auto")]
    pub cells: CellStorage,
    /// Test on another dataset's perturbations (a transfer, docs/data.md): train and validate on
    /// `path`'s conditions, test on every perturbation of this one, genes aligned by symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to: Option<TransferTarget>,
}

/// The dataset a transfer run is tested on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// GEARS-format h5ad. Relative paths are relative to the config file.
    pub path: PathBuf,
    /// Generate this `scgenept data synth` preset at `path` when the file is absent.
    #[serde(default)]
    pub synth_preset_if_missing: Option<scgenept_data::synth::config::SynthPreset>,
    #[serde(default)]
    pub columns: ObsColumns,
}

fn is_auto(c: &CellStorage) -> bool {
    *c == CellStorage::Auto
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A reference model type (`scgpt`, `scgenept_ncbi+uniprot_gpt`, …; `scgenept model types`),
    /// parsed when the config is read.
    pub model_type: ModelType,
    /// Knowledge tables by source (`ncbi_uniprot = "knowledge/ncbi_uniprot.safetensors"`), each
    /// name parsed when the config is read.
    #[serde(default)]
    pub knowledge: std::collections::BTreeMap<KnowledgeSource, PathBuf>,
    /// The knowledge table the ridge and kNN baselines use (a key of `knowledge`). Default: the
    /// model's first source that has a table, in the model type's order (`ncbi_uniprot` before
    /// `go_c` in `scgenept_ncbi+uniprot_go_c`). Recorded in `run.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_knowledge: Option<KnowledgeSource>,
    /// Build a knowledge table that is absent from the shipped gene text for the dataset's genes
    /// (all-MiniLM-L6-v2, downloaded on first use) and save it at its path (demos, first runs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_missing_knowledge: bool,
    /// Width of the knowledge tables when none is given (random sources).
    #[serde(default = "default_d_llm")]
    pub d_llm: usize,
    #[serde(default)]
    pub oov_mode: OovMode,
    /// Rows of the gene-indexed tables: `scgpt` (the 60,697-token scGPT vocabulary; needed to
    /// load pretrained scGPT weights) or `dataset` (one row per dataset gene + `<pad>`: much
    /// smaller tables for models trained from scratch).
    #[serde(default)]
    pub vocab: VocabKind,
    /// A pretrained scGPT checkpoint (`best_model.pt` or an exported bundle's safetensors);
    /// the model type decides which prefixes are loaded. Needs `vocab = "scgpt"`.
    #[serde(default)]
    pub pretrained: Option<PathBuf>,
    /// Transformer size overrides (default: the scGPT whole-human sizes).
    #[serde(default)]
    pub d_model: Option<usize>,
    #[serde(default)]
    pub nhead: Option<usize>,
    #[serde(default)]
    pub d_hid: Option<usize>,
    #[serde(default)]
    pub nlayers: Option<usize>,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VocabKind {
    #[default]
    Scgpt,
    Dataset,
}

fn default_d_llm() -> usize {
    scgenept_knowledge::minilm::DIM
}
fn default_dropout() -> f64 {
    0.2
}

/// Which model the test metrics are computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestModel {
    /// Best by validation loss (as `evaluate-perturbation.py`).
    Best,
    /// The last epoch's model (what the reference `train.py` tests, by mistake).
    Last,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Cells per forward/backward; gradients are accumulated to `batch_size`. Default: no split.
    pub micro_batch_size: Option<usize>,
    pub lr: f64,
    pub adam_eps: f64,
    /// StepLR gamma, stepped once per epoch after validation.
    pub lr_gamma: f64,
    /// Gradient clipping by global norm.
    pub clip_grad_norm: f64,
    /// Stop after this many epochs without a better validation loss.
    pub early_stop: usize,
    pub max_seq_len: usize,
    pub gene_sampling: GeneSampling,
    pub test_model: TestModel,
    /// Cells per forward pass at evaluation.
    pub eval_batch_size: usize,
    /// Seed of the control pairing (fixed once, as GEARS' cell graphs).
    pub pairing_seed: u64,
    /// `f32` (default) or `bf16`: the transformer's matmuls in bf16 with f32 accumulation, the
    /// rest in f32 (docs/precision.md). GPU only. Left out of saved configs when `f32`, so
    /// runs saved before the key existed still compare equal.
    #[serde(skip_serializing_if = "is_f32")]
    pub precision: Precision,
}

fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            epochs: 20,
            batch_size: 64,
            micro_batch_size: None,
            lr: 1e-4,
            adam_eps: 1e-8,
            lr_gamma: 0.9,
            clip_grad_norm: 1.0,
            early_stop: 10,
            max_seq_len: 1536,
            gene_sampling: GeneSampling::IncludePerturbed,
            test_model: TestModel::Best,
            eval_batch_size: 64,
            pairing_seed: 42,
            precision: Precision::F32,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    /// Where runs go. Unlike data paths, relative to the working directory: runs land beside
    /// where scgenept is run (`runs/` in the repository for the shipped configs).
    pub dir: PathBuf,
}

impl Default for OutputSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs"),
        }
    }
}

impl TrainConfig {
    /// Reads a config, applies `key=value` overrides (dotted paths, TOML values), resolves paths
    /// relative to the config file, and validates. An error caused by an override names the
    /// `--set`, not the file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let file: toml::Table =
            toml::from_str(&text).with_context(|| format!("{}: not valid TOML", path.display()))?;
        if file.contains_key("runs") && !file.contains_key("train") {
            bail!(
                "{}: this is a sweep config (it lists runs); run it with `scgenept sweep --config \
                 {}`",
                path.display(),
                path.display()
            );
        }
        let mut table = file.clone();
        for o in overrides {
            apply_override(&mut table, o).with_context(|| format!("--set {o}"))?;
        }
        let mut cfg: TrainConfig = match toml::Value::Table(table).try_into() {
            Ok(c) => c,
            // toml's message spans lines ("…\nin `train`"); one line here.
            Err(e) => bail!(
                "{}: {}",
                blame(path, &file, overrides),
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        // Absolute, so the config.toml saved in the run directory still points at the same files.
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
            if let Ok(abs) = std::path::absolute(&*p) {
                *p = abs;
            }
        };
        resolve(&mut cfg.data.path);
        if let Some(t) = cfg.data.transfer_to.as_mut() {
            resolve(&mut t.path);
        }
        if let Some(s) = cfg.data.split.as_mut() {
            resolve(s);
        }
        for p in cfg.model.knowledge.values_mut() {
            resolve(p);
        }
        if let Some(p) = cfg.model.pretrained.as_mut() {
            resolve(p);
        }
        if let Some((key, e)) = cfg.out_of_range() {
            let set = overrides
                .iter()
                .find(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == key));
            match set {
                Some(o) => bail!("--set {o}: {e}"),
                None => bail!("{}: {e}", path.display()),
            }
        }
        cfg.validate().with_context(|| path.display().to_string())?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        if let Some((_, e)) = self.out_of_range() {
            bail!(e);
        }
        // The network as this config sizes it (`--set model.nhead=3` included), checked before
        // anything in the run directory is touched (`--overwrite` deletes only after this).
        self.sized_model(self.model.d_llm).validate()?;
        self.eval.check()?;
        if self.data.transfer_to.is_some() {
            if self.data.split.is_some() {
                bail!("data.split and data.transfer_to cannot be combined: a transfer run splits the source itself (GEARS' simulation split with data.split_seed) and tests on the whole target");
            }
            if let Some(p) = (self.eval.profiles.iter()).find(|p| **p != RunProfile::Gears) {
                bail!("eval.profiles: {p:?} does not score transfer runs yet (its references come from one dataset); use [\"gears\"] with data.transfer_to");
            }
        }
        if self.model.pretrained.is_some() && self.model.vocab != VocabKind::Scgpt {
            bail!("model.pretrained needs model.vocab = \"scgpt\" (the checkpoint's rows are scGPT tokens)");
        }
        Ok(())
    }

    /// The model type's network with this config's sizes and dropout (the vocabulary and the
    /// tables' widths come from the data, in `prepare`).
    pub fn sized_model(&self, d_llm: usize) -> scgenept_model::ModelConfig {
        let m = &self.model;
        let mut model = m.model_type.preset(d_llm).config;
        model.dropout = m.dropout;
        model.d_model = m.d_model.unwrap_or(model.d_model);
        model.nhead = m.nhead.unwrap_or(model.nhead);
        model.d_hid = m.d_hid.unwrap_or(model.d_hid);
        model.nlayers = m.nlayers.unwrap_or(model.nlayers);
        model
    }

    /// The first value outside its range: `(dotted key, message naming it)`.
    fn out_of_range(&self) -> Option<(&'static str, String)> {
        let t = &self.train;
        let counts = [
            ("train.batch_size", t.batch_size),
            ("train.epochs", t.epochs),
            ("train.max_seq_len", t.max_seq_len),
            ("train.eval_batch_size", t.eval_batch_size),
        ];
        if let Some((k, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Some((k, format!("{k} must be at least 1 (it is 0)")));
        }
        if let Some(m) = t.micro_batch_size.filter(|m| *m == 0 || *m > t.batch_size) {
            let k = "train.micro_batch_size";
            let msg = format!(
                "{k} must be within 1..=train.batch_size ({}); it is {m}",
                t.batch_size
            );
            return Some((k, msg));
        }
        let reals = [
            ("train.lr", t.lr),
            ("train.adam_eps", t.adam_eps),
            ("train.lr_gamma", t.lr_gamma),
            ("train.clip_grad_norm", t.clip_grad_norm),
        ];
        reals
            .iter()
            .find(|(_, v)| !(*v > 0.0 && v.is_finite()))
            .map(|(k, v)| (*k, format!("{k} must be a positive number (it is {v})")))
    }

    /// `model.baseline_knowledge`, or the first of `model`'s sources that has a table; `None`
    /// when no table is given.
    pub fn baseline_knowledge(
        &self,
        model: &scgenept_model::ModelConfig,
    ) -> Result<Option<KnowledgeSource>> {
        let tables = &self.model.knowledge;
        if let Some(source) = self.model.baseline_knowledge {
            if !tables.contains_key(&source) {
                let names: Vec<String> = tables.keys().map(|k| k.to_string()).collect();
                anyhow::bail!(
                    "model.baseline_knowledge = \"{source}\": the config has no knowledge table of \
                     that name (it has: {})",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                );
            }
            return Ok(Some(source));
        }
        Ok(model
            .knowledge_sources
            .iter()
            .find(|s| tables.contains_key(&s.source))
            .map(|s| s.source))
    }

    /// The directory of this run.
    pub fn run_dir(&self) -> RunDir {
        RunDir::of(&self.output.dir, &self.name, self.train.seed)
    }
}

/// Who is to blame for a config that does not deserialize: the first `--set` whose addition makes
/// it fail when the file alone (or with the earlier overrides) was fine, else the file.
fn blame(path: &Path, file: &toml::Table, overrides: &[String]) -> String {
    let parses = |t: &toml::Table| {
        toml::Value::Table(t.clone())
            .try_into::<TrainConfig>()
            .is_ok()
    };
    if !parses(file) {
        return path.display().to_string();
    }
    let mut table = file.clone();
    for o in overrides {
        if apply_override(&mut table, o).is_err() || !parses(&table) {
            return format!("--set {o}");
        }
    }
    path.display().to_string()
}

/// `a.b.c=value`: value parsed as TOML (`3`, `1e-4`, `"text"`, `true`), else taken as a string.
fn apply_override(table: &mut toml::Table, o: &str) -> Result<()> {
    let (key, raw) = o.split_once('=').context("expected key=value")?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("'{p}' is not a section"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// One dotted key whose value differs between two configs; shown as `key: old → new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub old: String,
    pub new: String,
}

impl std::fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} → {}", self.key, self.old, self.new)
    }
}

/// The differences between a run directory's saved `config.toml` and `cfg` (sweeps: is a
/// finished run stale; resume: may it continue).
pub fn saved_differences(run: &RunDir, cfg: &TrainConfig) -> Result<Vec<ConfigChange>> {
    let saved = run.config();
    let text = std::fs::read_to_string(&saved)
        .with_context(|| format!("{}: cannot read the run's config", saved.display()))?;
    let saved: toml::Value =
        toml::from_str(&text).with_context(|| format!("{}: not valid TOML", saved.display()))?;
    Ok(config_differences(&saved, &toml::Value::try_from(cfg)?))
}

/// Dotted keys whose values differ, ignoring file locations (a run moved or invoked from another
/// directory is the same run) and the output directory.
pub fn config_differences(a: &toml::Value, b: &toml::Value) -> Vec<ConfigChange> {
    fn flatten(
        v: &toml::Value,
        prefix: &str,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(v, &key, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let ignored = |k: &str| {
        k == "data.path"
            || k == "data.transfer_to.path"
            || k == "data.split"
            || k == "model.pretrained"
            || k.starts_with("model.knowledge.")
            || k.starts_with("output.")
    };
    let (mut fa, mut fb) = (
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::new(),
    );
    flatten(a, "", &mut fa);
    flatten(b, "", &mut fb);
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    keys.into_iter()
        .filter(|k| !ignored(k))
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| {
            let show = |m: &std::collections::BTreeMap<String, String>| {
                m.get(k).cloned().unwrap_or("(unset)".into())
            };
            ConfigChange {
                key: k.clone(),
                old: show(&fa),
                new: show(&fb),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_tables(extra: &str) -> TrainConfig {
        let text = format!(
            r#"
name = "t"
[data]
path = "d.h5ad"
[model]
model_type = "scgenept_ncbi+uniprot_gpt_go_c_gpt_concat"
{extra}
[model.knowledge]
go_c_concat = "go_c.safetensors"
ncbi_uniprot = "ncbi_uniprot.safetensors"
"#
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_baselines_use_the_model_s_first_source_unless_the_config_names_one() {
        let cfg = two_tables("");
        let model = cfg.model.model_type.preset(384).config;
        // Alphabetically go_c_concat comes first; the model sums ncbi_uniprot first.
        let name = |c: &TrainConfig| c.baseline_knowledge(&model).unwrap().map(|s| s.to_string());
        assert_eq!(name(&cfg).as_deref(), Some("ncbi_uniprot"));
        let cfg = two_tables("baseline_knowledge = \"go_c_concat\"");
        assert_eq!(name(&cfg).as_deref(), Some("go_c_concat"));
        let cfg = two_tables("baseline_knowledge = \"go_p_concat\"");
        let e = cfg.baseline_knowledge(&model).unwrap_err().to_string();
        assert!(
            e.contains("baseline_knowledge = \"go_p_concat\"")
                && e.contains("go_c_concat, ncbi_uniprot"),
            "{e}"
        );
        // A name that is no source at all fails when the config is read.
        let text = "name = \"t\"\n[data]\npath = \"d.h5ad\"\n[model]\nmodel_type = \"scgpt\"\n\
                    [model.knowledge]\ngo_p = \"go_p.safetensors\"\n";
        let e = toml::from_str::<TrainConfig>(text).unwrap_err().to_string();
        assert!(e.contains("unknown knowledge source 'go_p'"), "{e}");
    }

    #[test]
    fn an_unknown_model_type_is_refused_when_the_config_is_read() {
        let e = toml::from_str::<TrainConfig>(
            "name = \"t\"\n[data]\npath = \"d.h5ad\"\n[model]\nmodel_type = \"scgpt_x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown model type 'scgpt_x'"), "{e}");
    }
}
