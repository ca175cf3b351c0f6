//! `ScGenePT`: the whole network. Which inputs are summed is read from `ModelConfig`, so scGPT,
//! scGenePT-X, language-only and ablation models are the same type with different configs.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{backend::Backend, ElementConversion, Int, Tensor, TensorData};

use crate::config::{ModelConfig, SumNorm};
use crate::decoder::ExprDecoder;
use crate::encoders::{ContinuousValueEncoder, GeneEncoder, LanguageEncoder, PertEncoder};
use crate::error::{ModelError, Result};
use crate::params::{NamedParams, Visitor};
use crate::precision::Precision;
use crate::transformer::TransformerEncoder;

#[derive(Module, Debug)]
pub struct ScGenePT<B: Backend> {
    /// `encoder` (gene tokens), when `inputs.tokens`.
    pub encoder: Option<GeneEncoder<B>>,
    /// `value_encoder` (expression values), when `inputs.counts`.
    pub value_encoder: Option<ContinuousValueEncoder<B>>,
    /// `pert_encoder`, when `inputs.pert_flags`.
    pub pert_encoder: Option<PertEncoder<B>>,
    /// One per `language_sources` entry, same order.
    pub language_encoders: Vec<LanguageEncoder<B>>,
    /// `ln` after the sum, when `sum_norm = layer_norm`.
    pub ln: Option<LayerNorm<B>>,
    pub transformer_encoder: TransformerEncoder<B>,
    pub decoder: ExprDecoder<B>,
    #[module(skip)]
    config: ModelConfig,
}

impl<B: Backend> ScGenePT<B> {
    /// Builds a freshly initialised network (PyTorch's default inits; U(-0.1, 0.1) tables).
    /// Seed the backend (`B::seed`) first for a reproducible init.
    pub fn new(config: &ModelConfig, device: &B::Device) -> Result<Self> {
        config.validate()?;
        let c = config;
        let mut model = Self {
            encoder: c.inputs.tokens.then(|| GeneEncoder::new(c, device)),
            value_encoder: c
                .inputs
                .counts
                .then(|| ContinuousValueEncoder::new(c, device)),
            pert_encoder: c.inputs.pert_flags.then(|| PertEncoder::new(c, device)),
            language_encoders: c
                .language_sources
                .iter()
                .map(|s| LanguageEncoder::new(s, c, device))
                .collect(),
            ln: (c.sum_norm == SumNorm::LayerNorm).then(|| {
                LayerNormConfig::new(c.d_model)
                    .with_epsilon(c.layer_norm_eps)
                    .init(device)
            }),
            transformer_encoder: TransformerEncoder::new(c, device),
            decoder: ExprDecoder::new(c, device),
            config: config.clone(),
        };
        model.materialize();
        Ok(model)
    }

    /// burn initialises parameters lazily, on first read, and a clone read before the original
    /// draws its own values. Reading every parameter once here fixes the weights at construction,
    /// so an export, a clone and the model itself always agree.
    fn materialize(&mut self) {
        self.visit_named_params(&mut |_, slot| slot.initialize());
    }

    /// Runs the transformer's matmuls in `precision` (`precision.rs`). bf16 needs a GPU backend:
    /// on the CPU (burn-flex) the attention op computes in f32, so bf16 is refused.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        precision.check::<B>().map_err(ModelError::InvalidConfig)?;
        for layer in &mut self.transformer_encoder.layers {
            layer.set_precision(precision);
        }
        Ok(())
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// `(gene_ids [B,L], values [B,L], pert_flags [B,L]) -> predicted expression [B,L]`.
    ///
    /// Terms are summed in the reference order (tokens, counts, knowledge sources, flags), then
    /// normalised, encoded and decoded per gene.
    pub fn forward(
        &self,
        gene_ids: Tensor<B, 2, Int>,
        values: Tensor<B, 2>,
        pert_flags: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let x = self.embed(gene_ids, values, pert_flags);
        let x = self.transformer_encoder.forward(x);
        self.decoder.forward(x)
    }

    /// `forward` after checking that the three inputs agree in shape and the ids are in range:
    /// use this on user-supplied tensors.
    pub fn try_forward(
        &self,
        gene_ids: Tensor<B, 2, Int>,
        values: Tensor<B, 2>,
        pert_flags: Tensor<B, 2, Int>,
    ) -> Result<Tensor<B, 2>> {
        let (g, v, p) = (gene_ids.dims(), values.dims(), pert_flags.dims());
        if g != v || g != p {
            return Err(ModelError::InputShape(format!(
                "gene_ids {g:?}, values {v:?}, pert_flags {p:?} must all be [batch, seq_len]"
            )));
        }
        let max_gene = gene_ids.clone().max().into_scalar();
        let min_gene = gene_ids.clone().min().into_scalar();
        let (lo, hi) = (min_gene.elem::<i64>(), max_gene.elem::<i64>());
        if lo < 0 || hi >= self.config.vocab_size as i64 {
            return Err(ModelError::InputShape(format!(
                "gene ids span {lo}..={hi}, outside the vocabulary of {} rows",
                self.config.vocab_size
            )));
        }
        let (lo, hi) = (
            pert_flags.clone().min().into_scalar().elem::<i64>(),
            pert_flags.clone().max().into_scalar().elem::<i64>(),
        );
        if lo < 0 || hi >= self.config.n_pert_flags as i64 {
            return Err(ModelError::InputShape(format!(
                "perturbation flags span {lo}..={hi}, expected 0..{}",
                self.config.n_pert_flags
            )));
        }
        Ok(self.forward(gene_ids, values, pert_flags))
    }

    /// The summed, normalised input embedding `[B, L, d_model]`.
    pub fn embed(
        &self,
        gene_ids: Tensor<B, 2, Int>,
        values: Tensor<B, 2>,
        pert_flags: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let mut terms: Vec<Tensor<B, 3>> = Vec::with_capacity(4 + self.language_encoders.len());
        if let Some(enc) = &self.encoder {
            terms.push(enc.forward(gene_ids.clone()));
        }
        if let Some(enc) = &self.value_encoder {
            terms.push(enc.forward(values));
        }
        for enc in &self.language_encoders {
            terms.push(enc.forward(gene_ids.clone()));
        }
        if let Some(enc) = &self.pert_encoder {
            terms.push(enc.forward(pert_flags));
        }
        let total = terms
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("config validation guarantees at least one input");
        match &self.ln {
            Some(ln) => ln.forward(total),
            None => total,
        }
    }

    /// Writes known gene-text vectors into the table of knowledge source `source`; rows not given
    /// keep their U(-0.1, 0.1) init. Returns the number of rows written.
    pub fn set_language_rows<'a>(
        &mut self,
        source: &str,
        rows: impl IntoIterator<Item = (usize, &'a [f32])>,
    ) -> Result<usize> {
        let idx = self
            .config
            .language_sources
            .iter()
            .position(|s| s.name == source)
            .ok_or_else(|| {
                ModelError::InvalidConfig(format!(
                    "the model has no knowledge source '{source}' (it has: {})",
                    self.source_names().join(", ")
                ))
            })?;
        let d_llm = self.config.language_sources[idx].d_llm;
        let vocab = self.config.vocab_size;
        let enc = &mut self.language_encoders[idx];
        let weight = enc.embedding.weight.val();
        let device = weight.device();
        let mut table: Vec<f32> = weight
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| ModelError::InvalidConfig(format!("table readback: {e:?}")))?;
        let mut written = 0;
        for (row, v) in rows {
            if v.len() != d_llm {
                return Err(ModelError::EmbeddingWidth {
                    source_name: source.into(),
                    expected: d_llm,
                    found: v.len(),
                });
            }
            if row >= vocab {
                return Err(ModelError::EmbeddingRow {
                    source_name: source.into(),
                    row,
                    vocab_size: vocab,
                });
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(ModelError::InvalidConfig(format!(
                    "knowledge source '{source}': the vector for row {row} has NaN/inf values"
                )));
            }
            table[row * d_llm..(row + 1) * d_llm].copy_from_slice(v);
            written += 1;
        }
        let t = Tensor::<B, 2>::from_data(TensorData::new(table, [vocab, d_llm]), &device);
        enc.embedding.weight = Param::initialized(enc.embedding.weight.id, t.require_grad());
        Ok(written)
    }

    pub fn source_names(&self) -> Vec<String> {
        self.config
            .language_sources
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Visits every parameter under its reference state-dict name.
    pub fn visit_named_params(&mut self, f: &mut Visitor<'_, B>) {
        if let Some(m) = self.encoder.as_mut() {
            m.visit_params("encoder", f);
        }
        if let Some(m) = self.value_encoder.as_mut() {
            m.visit_params("value_encoder", f);
        }
        for (m, s) in self
            .language_encoders
            .iter_mut()
            .zip(&self.config.language_sources)
        {
            m.visit_named(&s.state_prefix, &s.proj_key, f);
        }
        if let Some(m) = self.pert_encoder.as_mut() {
            m.embedding.visit_params("pert_encoder", f);
        }
        if let Some(m) = self.ln.as_mut() {
            m.visit_params("ln", f);
        }
        self.transformer_encoder
            .visit_params("transformer_encoder", f);
        self.decoder.visit_params("decoder", f);
    }
}
