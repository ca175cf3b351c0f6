//! `ScGenePT`: the whole network. Which inputs are summed is read from `ModelConfig`, so scGPT,
//! scGenePT-X, language-only and ablation models are the same type with different configs.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{backend::Backend, ElementConversion, Int, Tensor, TensorData};

use crate::config::{ModelConfig, SumNorm};
use crate::decoder::ExprDecoder;
use crate::encoders::{ContinuousValueEncoder, GeneEncoder, KnowledgeEncoder, PertEncoder};
use crate::error::{ModelError, Result};
use crate::knowledge_source::KnowledgeSource;
use crate::params::{NamedParams, Visitor};
use crate::precision::Precision;
use crate::transformer::TransformerEncoder;

/// Knowledge vectors by table row: `(row, vector)`.
pub type KnowledgeRows = Vec<(usize, Vec<f32>)>;

#[derive(Module, Debug)]
pub struct ScGenePT<B: Backend> {
    /// `encoder` (gene tokens), when `inputs.tokens`.
    pub encoder: Option<GeneEncoder<B>>,
    /// `value_encoder` (expression values), when `inputs.counts`.
    pub value_encoder: Option<ContinuousValueEncoder<B>>,
    /// `pert_encoder`, when `inputs.pert_flags`.
    pub pert_encoder: Option<PertEncoder<B>>,
    /// One per `knowledge_sources` entry, same order.
    pub knowledge_encoders: Vec<KnowledgeEncoder<B>>,
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
            knowledge_encoders: c
                .knowledge_sources
                .iter()
                .map(|s| KnowledgeEncoder::new(s, c, device))
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
        let x = crate::memory_probe::mark(self.embed(gene_ids, values, pert_flags));
        let x = self.transformer_encoder.forward(x);
        crate::memory_probe::mark(self.decoder.forward(x))
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
        let tokens = self.encoder.as_ref().map(|e| e.forward(gene_ids.clone()));
        let knowledge = (self.knowledge_encoders.iter())
            .map(|e| e.forward(gene_ids.clone()))
            .collect();
        self.sum_inputs(tokens, values, knowledge, pert_flags)
    }

    /// The input terms summed in the reference order (tokens, counts, knowledge sources, flags),
    /// then normalised. The gene terms (`tokens`, `knowledge`) are `[B, L, d]`, or `[1, L, d]`
    /// when every cell has the same genes (`shared_genes.rs`).
    pub(crate) fn sum_inputs(
        &self,
        tokens: Option<Tensor<B, 3>>,
        values: Tensor<B, 2>,
        knowledge: Vec<Tensor<B, 3>>,
        pert_flags: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [b, _] = values.dims();
        let cells = |t: Tensor<B, 3>| match t.dims()[0] == b {
            true => t,
            false => t.repeat_dim(0, b),
        };
        let mut terms: Vec<Tensor<B, 3>> = Vec::with_capacity(3 + knowledge.len());
        terms.extend(tokens.map(cells));
        if let Some(enc) = &self.value_encoder {
            terms.push(enc.forward(values));
        }
        terms.extend(knowledge.into_iter().map(cells));
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

    /// A freshly initialised network whose knowledge tables start from `knowledge`: per source,
    /// (table row, vector) pairs; rows not given keep their U(-0.1, 0.1) init. Seed the backend
    /// first for a reproducible init.
    pub fn with_knowledge(
        config: &ModelConfig,
        knowledge: &[(KnowledgeSource, KnowledgeRows)],
        device: &B::Device,
    ) -> Result<Self> {
        let mut model = Self::new(config, device)?;
        for (source, rows) in knowledge {
            model.set_knowledge_rows(*source, rows.iter().map(|(i, v)| (*i, v.as_slice())))?;
        }
        Ok(model)
    }

    /// Writes known gene-text vectors into the table of knowledge source `source`, on the
    /// table's device; rows not given keep their values (a row given twice: the last wins).
    /// Returns the number of rows given.
    pub fn set_knowledge_rows<'a>(
        &mut self,
        source: KnowledgeSource,
        rows: impl IntoIterator<Item = (usize, &'a [f32])>,
    ) -> Result<usize> {
        let idx = self
            .config
            .knowledge_sources
            .iter()
            .position(|s| s.source == source)
            .ok_or_else(|| {
                ModelError::InvalidConfig(format!(
                    "the model has no knowledge source '{source}' (it has: {})",
                    self.source_names().join(", ")
                ))
            })?;
        let (d_llm, vocab) = (
            self.config.knowledge_sources[idx].d_llm,
            self.config.vocab_size,
        );
        let mut latest: std::collections::BTreeMap<usize, &[f32]> = Default::default();
        let mut given = 0;
        for (row, v) in rows {
            check_row(&source.to_string(), row, v, d_llm, vocab)?;
            latest.insert(row, v);
            given += 1;
        }
        if latest.is_empty() {
            return Ok(0);
        }
        let enc = &mut self.knowledge_encoders[idx];
        let weight = enc.embedding.weight.val();
        let table = overwrite_rows(weight, &latest, [vocab, d_llm]);
        enc.embedding.weight = Param::initialized(enc.embedding.weight.id, table.require_grad());
        Ok(given)
    }

    pub fn source_names(&self) -> Vec<String> {
        self.config
            .knowledge_sources
            .iter()
            .map(|s| s.source.to_string())
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
            .knowledge_encoders
            .iter_mut()
            .zip(&self.config.knowledge_sources)
        {
            m.visit_named(&s.state_prefix, s.proj_key.as_str(), f);
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

/// Refuses a knowledge row of the wrong width, outside the table, or with NaN/inf values.
fn check_row(source: &str, row: usize, v: &[f32], d_llm: usize, vocab: usize) -> Result<()> {
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
    Ok(())
}

/// `table` with `rows` written in, computed where the table lives: `table · keep + placed`, where
/// `keep` is 0 on the written rows and 1 elsewhere and `placed` holds the new rows in zeros, so
/// every other value is kept exactly. A fresh leaf (no graph behind it).
fn overwrite_rows<B: Backend>(
    table: Tensor<B, 2>,
    rows: &std::collections::BTreeMap<usize, &[f32]>,
    [vocab, d]: [usize; 2],
) -> Tensor<B, 2> {
    let device = table.device();
    let index: Vec<i64> = rows.keys().map(|r| *r as i64).collect();
    let values: Vec<f32> = rows.values().flat_map(|v| v.iter().copied()).collect();
    let mut keep = vec![1f32; vocab];
    rows.keys().for_each(|r| keep[*r] = 0.0);
    let n = index.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [n]), &device);
    let values = Tensor::<B, 2>::from_data(TensorData::new(values, [n, d]), &device);
    let keep = Tensor::<B, 2>::from_data(TensorData::new(keep, [vocab, 1]), &device);
    let placed = Tensor::<B, 2>::zeros([vocab, d], &device).select_assign(
        0,
        index,
        values,
        burn::tensor::IndexingUpdateOp::Add,
    );
    (table.detach() * keep + placed).detach()
}
