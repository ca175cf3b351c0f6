//! Input embeddings: gene tokens, expression values, perturbation flags and knowledge sources.
//! Each is one `d_model`-wide term of the sum that feeds the transformer.

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::{activation, backend::Backend, Int, Tensor, TensorData};

use crate::config::{KnowledgeSourceConfig, ModelConfig};
use crate::dropout::Dropout;
use crate::params::{join, NamedParams, Visitor};

/// Embedding lookup in which row `frozen_row` receives no gradient, as PyTorch's `padding_idx`.
///
/// The forward value is unchanged; positions holding the frozen id read the table through a
/// detached copy, so the optimizer sees a zero gradient (and, for Adam, zero moments) on that row.
pub fn embed_frozen_row<B: Backend>(
    table: Tensor<B, 2>,
    ids: Tensor<B, 2, Int>,
    frozen_row: usize,
) -> Tensor<B, 3> {
    let out = burn::tensor::module::embedding(table, ids.clone());
    if !B::ad_enabled(&out.device()) {
        return out;
    }
    let frozen = ids
        .equal_elem(frozen_row as i64)
        .float()
        .unsqueeze_dim::<3>(2);
    let live = frozen.clone().neg().add_scalar(1.0);
    out.clone() * live + out.detach() * frozen
}

/// Uniform init of an embedding table, U(-0.1, 0.1), as scGPT's `init_weights` and the scGenePT
/// knowledge tables.
fn uniform_table(n: usize, d: usize) -> EmbeddingConfig {
    EmbeddingConfig::new(n, d).with_initializer(Initializer::Uniform {
        min: -0.1,
        max: 0.1,
    })
}

/// `encoder`: gene token embedding + LayerNorm.
#[derive(Module, Debug)]
pub struct GeneEncoder<B: Backend> {
    pub embedding: Embedding<B>,
    pub enc_norm: LayerNorm<B>,
    pad_id: usize,
}

impl<B: Backend> GeneEncoder<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            embedding: uniform_table(cfg.vocab_size, cfg.d_model).init(device),
            enc_norm: LayerNormConfig::new(cfg.d_model)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            pad_id: cfg.pad_token_id,
        }
    }

    pub fn forward(&self, gene_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = embed_frozen_row(self.embedding.weight.val(), gene_ids, self.pad_id);
        self.enc_norm.forward(x)
    }
}

impl<B: Backend> NamedParams<B> for GeneEncoder<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        self.embedding.visit_params(&join(prefix, "embedding"), f);
        self.enc_norm.visit_params(&join(prefix, "enc_norm"), f);
    }
}

/// `value_encoder`: clamp(max) → Linear(1→d) → ReLU → Linear(d→d) → LayerNorm → Dropout.
#[derive(Module, Debug)]
pub struct ContinuousValueEncoder<B: Backend> {
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    pub norm: LayerNorm<B>,
    dropout: Dropout,
    max_value: f32,
}

impl<B: Backend> ContinuousValueEncoder<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            linear1: LinearConfig::new(1, cfg.d_model).init(device),
            linear2: LinearConfig::new(cfg.d_model, cfg.d_model).init(device),
            norm: LayerNormConfig::new(cfg.d_model)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            dropout: Dropout::new(cfg.dropout),
            max_value: cfg.max_value,
        }
    }

    pub fn forward(&self, values: Tensor<B, 2>) -> Tensor<B, 3> {
        let x = values.unsqueeze_dim::<3>(2).clamp_max(self.max_value);
        let x = activation::relu(self.linear1.forward(x));
        let x = self.norm.forward(self.linear2.forward(x));
        self.dropout.forward(x)
    }
}

impl<B: Backend> NamedParams<B> for ContinuousValueEncoder<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        self.linear1.visit_params(&join(prefix, "linear1"), f);
        self.linear2.visit_params(&join(prefix, "linear2"), f);
        self.norm.visit_params(&join(prefix, "norm"), f);
    }
}

/// `pert_encoder`: Embedding(n_flags, d) with the pad flag's row fixed at zero. No LayerNorm.
#[derive(Module, Debug)]
pub struct PertEncoder<B: Backend> {
    pub embedding: Embedding<B>,
    pad_id: usize,
}

impl<B: Backend> PertEncoder<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        // PyTorch default: N(0, 1) with the padding row zeroed.
        let mut embedding = EmbeddingConfig::new(cfg.n_pert_flags, cfg.d_model).init(device);
        let keep: Vec<f32> = (0..cfg.n_pert_flags)
            .map(|i| if i == cfg.pert_pad_id { 0.0 } else { 1.0 })
            .collect();
        let keep = Tensor::<B, 1>::from_data(TensorData::new(keep, [cfg.n_pert_flags]), device)
            .unsqueeze_dim::<2>(1);
        let w = embedding.weight.val() * keep;
        embedding.weight = Param::initialized(embedding.weight.id, w.detach().require_grad());
        Self {
            embedding,
            pad_id: cfg.pert_pad_id,
        }
    }

    pub fn forward(&self, flags: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        embed_frozen_row(self.embedding.weight.val(), flags, self.pad_id)
    }
}

/// One knowledge source (`genept_encoder`, `gopt_encoder_c`, …): a trainable table of gene-text
/// embeddings → Linear(d_llm → d) → LayerNorm. No dropout, as in the reference.
#[derive(Module, Debug)]
pub struct KnowledgeEncoder<B: Backend> {
    pub embedding: Embedding<B>,
    pub proj: Linear<B>,
    pub enc_norm: LayerNorm<B>,
    pad_id: usize,
}

impl<B: Backend> KnowledgeEncoder<B> {
    pub fn new(src: &KnowledgeSourceConfig, cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            embedding: uniform_table(cfg.vocab_size, src.d_llm).init(device),
            proj: LinearConfig::new(src.d_llm, cfg.d_model).init(device),
            enc_norm: LayerNormConfig::new(cfg.d_model)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            pad_id: cfg.pad_token_id,
        }
    }

    pub fn forward(&self, gene_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = embed_frozen_row(self.embedding.weight.val(), gene_ids, self.pad_id);
        self.enc_norm.forward(self.proj.forward(x))
    }

    /// Visits under the reference names; the projection's name differs between GenePT
    /// (`proj_layer`) and GO (`fc`) encoders, so the caller passes it.
    pub fn visit_named(&mut self, prefix: &str, proj_key: &str, f: &mut Visitor<'_, B>) {
        self.embedding.visit_params(&join(prefix, "embedding"), f);
        self.proj.visit_params(&join(prefix, proj_key), f);
        self.enc_norm.visit_params(&join(prefix, "enc_norm"), f);
    }
}
