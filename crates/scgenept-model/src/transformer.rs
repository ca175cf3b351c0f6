//! The post-norm transformer encoder scGPT builds (`nn.TransformerEncoderLayer` /
//! `FlashTransformerEncoderLayer` with `norm_scheme="post"`): ReLU, no final norm, no positional
//! encoding, no masks (nothing is ever padded).
//!
//! Attention keeps the packed `in_proj` of PyTorch (rows `[q; k; v]`, each `(heads × head_dim)`,
//! identical to flash-attn's `Wqkv`), so checkpoints map name for name and the three projections
//! are one matmul.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Tensor};

use crate::attention::self_attention;
use crate::config::ModelConfig;
use crate::dropout::{relu_dropout, Dropout};
use crate::layer_norm::layer_norm;
use crate::memory_probe::mark;
use crate::params::{join, NamedParams, ParamSlot, Visitor};
use crate::precision::{linear, Precision};

/// Multi-head self-attention with PyTorch's packed input projection.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    /// `in_proj_weight` / `in_proj_bias` (`Wqkv` in flash checkpoints): d → 3d.
    pub in_proj: Linear<B>,
    pub out_proj: Linear<B>,
    /// Dropout on the attention probabilities (`attention_dropout` / MHA `dropout`).
    attn_dropout: Dropout,
    nhead: usize,
    /// Matmuls in bf16 (`precision.rs`).
    bf16: bool,
}

impl<B: Backend> SelfAttention<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            in_proj: LinearConfig::new(cfg.d_model, 3 * cfg.d_model).init(device),
            out_proj: LinearConfig::new(cfg.d_model, cfg.d_model).init(device),
            attn_dropout: Dropout::new(cfg.dropout),
            nhead: cfg.nhead,
            bf16: false,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let p = Precision::from_bf16(self.bf16);
        let qkv = linear(&self.in_proj, x, p);
        let ctx = self_attention(qkv, self.nhead, self.attn_dropout.prob, p);
        linear(&self.out_proj, ctx, p)
    }
}

impl<B: Backend> NamedParams<B> for SelfAttention<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        // Torch's nn.MultiheadAttention names; the flash `Wqkv` spelling is mapped on import.
        f(
            join(prefix, "in_proj_weight"),
            ParamSlot::Transposed(&mut self.in_proj.weight),
        );
        if let Some(bias) = self.in_proj.bias.as_mut() {
            f(join(prefix, "in_proj_bias"), ParamSlot::Vector(bias));
        }
        self.out_proj.visit_params(&join(prefix, "out_proj"), f);
    }
}

/// One post-norm encoder layer:
/// `x = norm1(x + drop1(attn(x)))`, `x = norm2(x + drop2(linear2(drop(relu(linear1(x))))))`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    pub self_attn: SelfAttention<B>,
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    pub norm1: LayerNorm<B>,
    pub norm2: LayerNorm<B>,
    dropout: Dropout,
    dropout1: Dropout,
    dropout2: Dropout,
    bf16: bool,
    /// The norms' epsilon, for the lean LayerNorm (`layer_norm.rs`).
    eps: f64,
}

impl<B: Backend> EncoderLayer<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        let norm = || {
            LayerNormConfig::new(cfg.d_model)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device)
        };
        let drop = || Dropout::new(cfg.dropout);
        Self {
            self_attn: SelfAttention::new(cfg, device),
            linear1: LinearConfig::new(cfg.d_model, cfg.d_hid).init(device),
            linear2: LinearConfig::new(cfg.d_hid, cfg.d_model).init(device),
            norm1: norm(),
            norm2: norm(),
            dropout: drop(),
            dropout1: drop(),
            dropout2: drop(),
            bf16: false,
            eps: cfg.layer_norm_eps,
        }
    }

    /// The precision of this layer's matmuls.
    pub fn set_precision(&mut self, p: Precision) {
        self.bf16 = p == Precision::Bf16;
        self.self_attn.bf16 = self.bf16;
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let p = Precision::from_bf16(self.bf16);
        // `mark`: allocator read-outs for `bench step`, a no-op otherwise (`memory_probe.rs`).
        let attn = mark(self.self_attn.forward(x.clone()));
        let x = mark(layer_norm(
            &self.norm1,
            x + self.dropout1.forward(attn),
            self.eps,
        ));
        // `linear2`'s operand: bf16 under bf16, so the op's saved output is the one `linear2` keeps.
        let ff = relu_dropout(
            linear(&self.linear1, x.clone(), p),
            &self.dropout,
            p.operand(),
        );
        let ff = mark(linear(&self.linear2, mark(ff), p));
        mark(layer_norm(
            &self.norm2,
            x + self.dropout2.forward(ff),
            self.eps,
        ))
    }
}

impl<B: Backend> NamedParams<B> for EncoderLayer<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        self.self_attn.visit_params(&join(prefix, "self_attn"), f);
        self.linear1.visit_params(&join(prefix, "linear1"), f);
        self.linear2.visit_params(&join(prefix, "linear2"), f);
        self.norm1.visit_params(&join(prefix, "norm1"), f);
        self.norm2.visit_params(&join(prefix, "norm2"), f);
    }
}

/// `transformer_encoder`: a stack of `nlayers` encoder layers.
#[derive(Module, Debug)]
pub struct TransformerEncoder<B: Backend> {
    pub layers: Vec<EncoderLayer<B>>,
}

impl<B: Backend> TransformerEncoder<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            layers: (0..cfg.nlayers)
                .map(|_| EncoderLayer::new(cfg, device))
                .collect(),
        }
    }

    pub fn forward(&self, mut x: Tensor<B, 3>) -> Tensor<B, 3> {
        for layer in &self.layers {
            x = layer.forward(x);
        }
        x
    }
}

impl<B: Backend> NamedParams<B> for TransformerEncoder<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params(&format!("{prefix}.layers.{i}"), f);
        }
    }
}
