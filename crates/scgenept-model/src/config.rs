//! `ModelConfig`: every size and switch of the network, serialisable, defaults = the paper.
//!
//! A model variant (scGPT, scGenePT-X, language-only, ablations) is *data*: which inputs are summed
//! and which normalisation follows the sum. `model_type.rs` turns the reference's model-type names
//! into configs of this shape.

use serde::{Deserialize, Serialize};

use crate::knowledge_source::{KnowledgeSource, ProjKey};

use crate::error::{ModelError, Result};

/// Rows of the scGPT whole-human vocabulary (`vocab.json`), special tokens included.
pub const SCGPT_VOCAB_SIZE: usize = 60_697;
/// Id of `<pad>` in the scGPT whole-human vocabulary.
pub const SCGPT_PAD_ID: usize = 60_694;

/// What follows the element-wise sum of the input embeddings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SumNorm {
    /// `ln = LayerNorm(d_model)` — scGenePT.
    LayerNorm,
    /// Nothing — scGPT after commit 40f3a32 (2024).
    None,
}

/// Which of scGPT's own input embeddings are summed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// Gene-token embedding (`encoder`).
    #[serde(default = "yes")]
    pub tokens: bool,
    /// Expression-value embedding (`value_encoder`). Without it the model never sees the input
    /// cell.
    #[serde(default = "yes")]
    pub counts: bool,
    /// Perturbation-flag embedding (`pert_encoder`).
    #[serde(default = "yes")]
    pub pert_flags: bool,
}

fn yes() -> bool {
    true
}

impl Default for InputsConfig {
    fn default() -> Self {
        Self {
            tokens: true,
            counts: true,
            pert_flags: true,
        }
    }
}

/// One knowledge source: a trainable `[vocab_size, d_llm]` table of gene-text embeddings, projected
/// to `d_model` and layer-normed (`GenePTEncoder` / `GOPTEncoder` in the reference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSourceConfig {
    /// The source (written as its name: `ncbi_uniprot`, `go_c_concat`, `random`).
    #[serde(rename = "name")]
    pub source: KnowledgeSource,
    /// State-dict prefix, identical to the reference attribute (`genept_encoder`,
    /// `gopt_encoder_c`).
    pub state_prefix: String,
    /// Name of the projection Linear inside the prefix: `proj_layer` (GenePT) or `fc` (GO).
    pub proj_key: ProjKey,
    /// Width of the source's embedding vectors (1536 for ada-002, 384 for MiniLM).
    #[serde(default = "default_d_llm")]
    pub d_llm: usize,
}

fn default_d_llm() -> usize {
    1536
}

impl KnowledgeSourceConfig {
    /// The branch for `source` with tables `d_llm` wide, under the reference's attribute names.
    pub fn new(source: KnowledgeSource, d_llm: usize) -> Self {
        KnowledgeSourceConfig {
            source,
            state_prefix: source.state_prefix(),
            proj_key: source.proj_key(),
            d_llm,
        }
    }

    /// The random-embedding control: a seeded random table, no gene text behind it.
    pub fn is_random(&self) -> bool {
        self.source.is_random()
    }
}

/// All sizes and switches of the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Rows of every gene-indexed table: the scGPT vocabulary plus any rows added for
    /// out-of-vocabulary dataset genes (see `vocab.rs`).
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// Row that never trains in every gene-indexed table (`<pad>`).
    #[serde(default = "default_pad_id")]
    pub pad_token_id: usize,
    #[serde(default = "default_d_model")]
    pub d_model: usize,
    #[serde(default = "default_nhead")]
    pub nhead: usize,
    /// Feed-forward width of each transformer layer.
    #[serde(default = "default_d_hid")]
    pub d_hid: usize,
    #[serde(default = "default_nlayers")]
    pub nlayers: usize,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Upper clamp of expression values before the value encoder.
    #[serde(default = "default_max_value")]
    pub max_value: f32,
    /// Rows of the perturbation-flag embedding (flags 0, 1 and the pad id).
    #[serde(default = "default_n_pert_flags")]
    pub n_pert_flags: usize,
    /// Flag id whose embedding is fixed at zero (2 in scGenePT and T-2023, 0 in T-2024).
    #[serde(default = "default_pert_pad_id")]
    pub pert_pad_id: usize,
    #[serde(default)]
    pub inputs: InputsConfig,
    /// Knowledge sources summed with the other inputs, in reference summation order
    /// (`language_sources` in configs and bundles written before the rename).
    #[serde(default, alias = "language_sources")]
    pub knowledge_sources: Vec<KnowledgeSourceConfig>,
    #[serde(default = "default_sum_norm")]
    pub sum_norm: SumNorm,
}

fn default_vocab_size() -> usize {
    SCGPT_VOCAB_SIZE
}
fn default_pad_id() -> usize {
    SCGPT_PAD_ID
}
fn default_d_model() -> usize {
    512
}
fn default_nhead() -> usize {
    8
}
fn default_d_hid() -> usize {
    512
}
fn default_nlayers() -> usize {
    12
}
fn default_dropout() -> f64 {
    0.2
}
fn default_eps() -> f64 {
    1e-5
}
fn default_max_value() -> f32 {
    512.0
}
fn default_n_pert_flags() -> usize {
    3
}
fn default_pert_pad_id() -> usize {
    2
}
fn default_sum_norm() -> SumNorm {
    SumNorm::LayerNorm
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            vocab_size: default_vocab_size(),
            pad_token_id: default_pad_id(),
            d_model: default_d_model(),
            nhead: default_nhead(),
            d_hid: default_d_hid(),
            nlayers: default_nlayers(),
            dropout: default_dropout(),
            layer_norm_eps: default_eps(),
            max_value: default_max_value(),
            n_pert_flags: default_n_pert_flags(),
            pert_pad_id: default_pert_pad_id(),
            inputs: InputsConfig::default(),
            knowledge_sources: Vec::new(),
            sum_norm: default_sum_norm(),
        }
    }
}

impl ModelConfig {
    /// Rejects configs that would build a network that cannot run, with the field to fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if self.d_model == 0 || self.nhead == 0 || self.d_hid == 0 {
            return bad("d_model, nhead and d_hid must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.nhead) {
            return bad(format!(
                "d_model ({}) must be divisible by nhead ({})",
                self.d_model, self.nhead
            ));
        }
        if self.vocab_size == 0 || self.pad_token_id >= self.vocab_size {
            return bad(format!(
                "pad_token_id ({}) must be < vocab_size ({})",
                self.pad_token_id, self.vocab_size
            ));
        }
        if self.pert_pad_id >= self.n_pert_flags {
            return bad(format!(
                "pert_pad_id ({}) must be < n_pert_flags ({})",
                self.pert_pad_id, self.n_pert_flags
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return bad("layer_norm_eps must be positive".into());
        }
        if !self.inputs.tokens
            && !self.inputs.counts
            && !self.inputs.pert_flags
            && self.knowledge_sources.is_empty()
        {
            return bad(
                "no input is enabled: turn on tokens, counts, pert_flags or add a knowledge source"
                    .into(),
            );
        }
        let mut prefixes = std::collections::BTreeSet::new();
        for s in &self.knowledge_sources {
            if s.d_llm == 0 {
                return bad(format!("knowledge source '{}' has d_llm = 0", s.source));
            }
            if !prefixes.insert(s.state_prefix.as_str()) {
                return bad(format!(
                    "two knowledge sources share the state prefix '{}'; give each its own",
                    s.state_prefix
                ));
            }
            if s.state_prefix.is_empty() {
                return bad(format!(
                    "knowledge source '{}' needs a state_prefix",
                    s.source
                ));
            }
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.nhead
    }
}
