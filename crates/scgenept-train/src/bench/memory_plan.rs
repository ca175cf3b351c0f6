//! The device memory of one training step, predicted before any GPU is at hand (`scgenept bench
//! plan`, docs/gpu.md, "Memory").
//!
//! The plan follows the code's save lists: what each op of the forward keeps for backward under
//! burn 0.21's `Autodiff` (no checkpointing), as written in `transformer.rs`, `encoders.rs`,
//! `decoder.rs`, `precision.rs`, `dropout.rs` and the attention that runs (`attention/fused/`,
//! or `attention/tiled.rs` under `SCGENEPT_GPU_ATTENTION=tiled`):
//! - `matmul` keeps its left operand when the right one is tracked (a Linear keeps its input;
//!   under bf16 the bf16 copy of it, and the bf16 copy of the weight);
//! - `relu` keeps its input, except in the feed-forward block with dropout, where
//!   `dropout(relu(·))` is one op keeping its output (`linear2`'s operand); `mul` by an untracked tensor keeps that tensor (the frozen-row
//!   embeddings keep a `[B, L, 1]` factor); `mask_where` keeps its mask (LeakyReLU); add, sub,
//!   casts, reshapes and scalar ops keep nothing;
//! - dropout keeps nothing: on CubeCL backends its mask is a counter hash applied again in
//!   backward (`attention/fused/dropout.rs`);
//! - burn's LayerNorm is decomposed under autodiff: it keeps the centred input and the
//!   normalised output (plus two values per row); the encoder layers' norms are the lean op of
//!   `layer_norm.rs` on device backends: the normalised output (which `· γ` keeps too, one
//!   buffer) and one value per row;
//! - the tiled attention keeps the packed projections, the context `[B, H, L, Dh]` and the
//!   log-sum-exp; its output is the context merged to `[B, L, D]` (a copy), which `out_proj`
//!   keeps;
//! - the fused attention keeps the packed projections, the context `[B, L, D]` (both in the
//!   matmuls' operand type: bf16 under bf16) and the log-sum-exp (f32); its output is that
//!   context, so `out_proj` keeps the same tensor.
//!
//! The peak is the largest of four moments: the end of forward (every saved activation); the last
//! layer's attention backward (the other layers' saves, that layer's attention saves, and what
//! its backward allocates: tiled, one tile's score-sized tensors — P, the dropout mask and P ⊙ M,
//! or P alone without dropout, plus its product — and the gradients in flight, about 5·D values
//! per token; fused, no scores: the incoming gradient, δ and the packed gradient, 4·D + H); the
//! input embeddings' backward (every parameter gradient); and, in training, the Adam update
//! (weights, gradients and both moments). Checked against cubecl's allocator on lavapipe
//! (`tests/cli_wgpu.rs`, `wgpu_memory_plan_matches_the_allocator`) and, on a GPU, by `bench step`
//! (benches/gpu.sh).

use serde::Serialize;

use scgenept_model::attention::fused_plan::Kernels;
use scgenept_model::attention::DeviceAttention;
use scgenept_model::{ModelConfig, Precision};

/// What the plan is for.
#[derive(Clone, Debug)]
pub struct PlanSpec {
    pub model: ModelConfig,
    pub batch: usize,
    pub seq_len: usize,
    pub precision: Precision,
    /// The attention that runs (`DeviceAttention::chosen`); `Materialised` is not modelled and is
    /// planned as the tiled op with one tile of every query row (a lower bound).
    pub attention: DeviceAttention,
    /// Scores per attention tile (`attention::tiled::tile_elements`), for the tiled op.
    pub tile_elements: usize,
    /// Bytes of one boolean element on the backend: 1 on CUDA (`u8`), 4 on wgpu (`u32`).
    pub bool_bytes: usize,
    /// Count Adam's two moments (a training run) or not (`bench step`, forward and backward).
    pub optimizer: bool,
}

/// Bytes of one boolean element on `kind`'s backend: burn's CUDA backend stores `u8`, its wgpu
/// backend `u32` (`Wgpu<F, I, B = u32>`).
pub fn bool_bytes(kind: crate::DeviceKind) -> usize {
    match kind {
        crate::DeviceKind::Wgpu => 4,
        _ => 1,
    }
}

/// One line of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanLine {
    pub component: String,
    pub bytes: u64,
}

/// The plan: its lines by component and the predicted peak.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryPlan {
    pub header: String,
    pub attention: String,
    pub lines: Vec<PlanLine>,
    pub per_layer: Vec<PlanLine>,
    /// Which of the moments is the peak.
    pub peak_at: String,
    pub peak_bytes: u64,
}

/// Parameters of the network, by the shapes `ScGenePT::new` creates.
pub fn parameter_count(m: &ModelConfig) -> usize {
    let (d, dh, v) = (m.d_model, m.d_hid, m.vocab_size);
    let ln = 2 * d;
    let linear = |i: usize, o: usize| i * o + o;
    let mut n = 0;
    if m.inputs.tokens {
        n += v * d + ln;
    }
    if m.inputs.counts {
        n += linear(1, d) + linear(d, d) + ln;
    }
    for s in &m.knowledge_sources {
        n += v * s.d_llm + linear(s.d_llm, d) + ln;
    }
    if m.inputs.pert_flags {
        n += m.n_pert_flags * d;
    }
    if m.sum_norm == scgenept_model::SumNorm::LayerNorm {
        n += ln;
    }
    let layer = linear(d, 3 * d) + linear(d, d) + linear(d, dh) + linear(dh, d) + 2 * ln;
    n + m.nlayers * layer + linear(d, d) * 2 + linear(d, 1)
}

/// Bytes kept per token by one encoder layer, op by op.
fn layer_saves(s: &PlanSpec) -> Vec<(String, f64)> {
    let m = &s.model;
    let (d, dh, h) = (m.d_model as f64, m.d_hid as f64, m.nhead as f64);
    let lin = match s.precision {
        Precision::F32 => (4.0, "f32"),
        Precision::Bf16 => (2.0, "bf16"),
    };
    let fused = s.attention == DeviceAttention::Fused;
    // The fused kernels read and write the matmuls' operand type; the tiled op works in f32.
    let att = if fused { lin } else { (4.0, "f32") };
    // The fused op's output is its saved context, `out_proj`'s operand: the same tensor.
    let out_proj_input = if fused { 0.0 } else { d * lin.0 };
    // With dropout, `dropout(relu(·))` is one hashed op keeping only its output, which is
    // `linear2`'s operand (dropout.rs, `relu_dropout`); without, burn's ReLU keeps its f32 input.
    let relu = match m.dropout > 0.0 {
        true => ("ReLU + dropout: its output, linear2's input (0 extra)", 0.0),
        false => ("ReLU input (f32)", dh * 4.0),
    };
    vec![
        (format!("in_proj input ({})", lin.1), d * lin.0),
        (
            format!("attention: packed Q, K, V ({})", att.1),
            3.0 * d * att.0,
        ),
        (
            format!("attention: context ({}) and log-sum-exp (f32)", att.1),
            d * att.0 + h * 4.0,
        ),
        (
            format!("out_proj input, the merged context ({})", lin.1),
            out_proj_input,
        ),
        (
            "norm1: normalised output and rstd (layer_norm.rs)".into(),
            (d + 1.0) * 4.0,
        ),
        (format!("linear1 input ({})", lin.1), d * lin.0),
        (relu.0.into(), relu.1),
        (format!("linear2 input ({})", lin.1), dh * lin.0),
        (
            "norm2: normalised output and rstd (layer_norm.rs)".into(),
            (d + 1.0) * 4.0,
        ),
    ]
}

/// Bytes kept per token by the input embeddings and their sum.
fn embedding_saves(s: &PlanSpec) -> f64 {
    let m = &s.model;
    let d = m.d_model as f64;
    let ln = (2.0 * d + 2.0) * 4.0;
    let frozen_row = 4.0; // the `[B, L, 1]` factor of `embed_frozen_row`
    let mut b = 0.0;
    if m.inputs.tokens {
        b += frozen_row + ln;
    }
    if m.inputs.counts {
        // Linear(1, d) input, ReLU input, Linear(d, d) input, LayerNorm (dropout keeps nothing).
        b += 4.0 + 2.0 * d * 4.0 + ln;
    }
    for k in &m.knowledge_sources {
        b += frozen_row + k.d_llm as f64 * 4.0 + ln;
    }
    if m.inputs.pert_flags {
        b += frozen_row;
    }
    if m.sum_norm == scgenept_model::SumNorm::LayerNorm {
        b += ln;
    }
    b
}

/// Bytes kept per token by the decoder and the loss: three Linear inputs, two LeakyReLU masks,
/// the squared difference's input.
fn decoder_saves(s: &PlanSpec) -> f64 {
    let d = s.model.d_model as f64;
    3.0 * d * 4.0 + 2.0 * d * s.bool_bytes as f64 + 4.0
}

/// What one layer's attention backward allocates beyond the saves, and the query rows per tile
/// (tiled: one tile's score-sized tensors plus about 5·D gradient values per token; fused: the
/// incoming gradient, δ and the packed gradient, 4·D + H values per token, no scores; under bf16
/// those gradients are bf16, and the packed one then meets its f32 copy for `in_proj`'s cast).
fn attention_transient(s: &PlanSpec) -> (f64, usize) {
    let (b, h, l) = (s.batch, s.model.nhead, s.seq_len);
    let tokens = (b * l) as f64;
    let d = s.model.d_model as f64;
    let tile = match s.attention {
        DeviceAttention::Fused => {
            let per_token = match s.precision {
                Precision::F32 => (4.0 * d + h as f64) * 4.0,
                Precision::Bf16 => f64::max(4.0 * d * 2.0 + h as f64 * 4.0, 3.0 * d * 6.0),
            };
            return (per_token * tokens, l);
        }
        DeviceAttention::Tiled => s.tile_elements,
        DeviceAttention::Materialised => b * h * l * l,
    };
    let rows = (tile / (b * h * l).max(1)).clamp(1, l.max(1));
    let scores = (b * h * rows * l) as f64;
    let live = if s.model.dropout > 0.0 { 3.0 } else { 2.0 };
    (live * scores * 4.0 + 5.0 * d * 4.0 * tokens, rows)
}

/// A step's memory, component by component, in bytes.
struct Parts {
    params: usize,
    weights: f64,
    adam: f64,
    bf16_weights: f64,
    inputs: f64,
    embed: f64,
    layer: f64,
    layers: f64,
    decoder: f64,
    /// The attention's own saves (in_proj input, Q/K/V, context): kept until its backward.
    attention_saves: f64,
    /// What the attention's backward allocates (`attention_transient`).
    attention_backward: f64,
    /// Query rows per attention tile.
    rows: usize,
}

impl Parts {
    fn new(s: &PlanSpec, per_layer: &[(String, f64)]) -> Self {
        let m = &s.model;
        let tokens = (s.batch * s.seq_len) as f64;
        let params = parameter_count(m);
        let weights = params as f64 * 4.0;
        let layer_params =
            (m.d_model * 3 * m.d_model + m.d_model * m.d_model + 2 * m.d_model * m.d_hid) as f64;
        let layer = per_layer.iter().map(|(_, b)| b).sum::<f64>() * tokens;
        let (transient, rows) = attention_transient(s);
        Self {
            params,
            weights,
            adam: if s.optimizer { 2.0 * weights } else { 0.0 },
            bf16_weights: match s.precision {
                Precision::F32 => 0.0,
                Precision::Bf16 => layer_params * 2.0 * m.nlayers as f64,
            },
            inputs: tokens * 16.0,
            embed: embedding_saves(s) * tokens,
            layer,
            layers: layer * m.nlayers as f64,
            decoder: decoder_saves(s) * tokens,
            attention_saves: per_layer.iter().take(3).map(|(_, b)| b).sum::<f64>() * tokens,
            attention_backward: transient,
            rows,
        }
    }

    /// The four moments a peak can fall in, with their bytes (the Adam update only in training).
    fn moments(&self, s: &PlanSpec) -> Vec<(&'static str, f64)> {
        let d = s.model.d_model as f64;
        let tokens = (s.batch * s.seq_len) as f64;
        let decoder_grads = (2.0 * (d * d + d) + d + 1.0) * 4.0;
        let kept = self.weights + self.inputs + self.adam + self.bf16_weights;
        let deepest = self.layers - self.layer + self.attention_saves;
        let mut v = vec![
            (
                "the end of forward",
                kept + self.embed + self.layers + self.decoder,
            ),
            (
                "the last layer's attention backward",
                kept + self.embed + deepest + decoder_grads + self.attention_backward,
            ),
            (
                "the input embeddings' backward",
                kept + self.embed + self.weights + 2.0 * d * 4.0 * tokens,
            ),
        ];
        if s.optimizer {
            v.push(("the Adam update", self.weights * 4.0 + self.inputs));
        }
        v
    }

    /// The plan's lines, largest components first.
    fn lines(&self, s: &PlanSpec) -> Vec<PlanLine> {
        let mut lines = vec![
            line(
                &format!("weights ({} parameters, f32)", self.params),
                self.weights,
            ),
            line(
                "gradients (f32, all of them at the end of backward)",
                self.weights,
            ),
        ];
        if s.optimizer {
            lines.push(line("Adam state (two moments, f32)", self.adam));
        }
        if self.bf16_weights > 0.0 {
            let what = "bf16 copies of the layer weights, kept for backward";
            lines.push(line(what, self.bf16_weights));
        }
        let layers = format!("saved activations: {} encoder layers", s.model.nlayers);
        let transient = match s.attention {
            DeviceAttention::Fused => {
                "largest transient: attention backward, fused (dO, δ, the packed gradient; no scores)"
                    .to_string()
            }
            _ => format!(
                "largest transient: attention backward, one tile ({} query rows: P, mask, P ⊙ M) + dO, dK, dV",
                self.rows
            ),
        };
        lines.extend([
            line("batch (ids, values, flags, target)", self.inputs),
            line("saved activations: input embeddings", self.embed),
            line(&layers, self.layers),
            line("saved activations: decoder and loss", self.decoder),
            line(&transient, self.attention_backward),
        ]);
        lines
    }
}

fn line(component: &str, bytes: f64) -> PlanLine {
    PlanLine {
        component: component.to_string(),
        bytes: bytes.round() as u64,
    }
}

impl MemoryPlan {
    pub fn new(s: &PlanSpec) -> Self {
        let m = &s.model;
        let tokens = (s.batch * s.seq_len) as f64;
        let per_layer = layer_saves(s);
        let parts = Parts::new(s, &per_layer);
        let (peak_at, peak) =
            (parts.moments(s).into_iter()).fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        Self {
            header: format!(
                "memory plan: d {} × {} layers × {} heads, d_hid {}, batch {} × {} genes, {}, dropout {}{}",
                m.d_model,
                m.nlayers,
                m.nhead,
                m.d_hid,
                s.batch,
                s.seq_len,
                s.precision,
                m.dropout,
                if s.optimizer { ", with Adam" } else { ", forward + backward" }
            ),
            attention: match s.attention {
                DeviceAttention::Fused => format!(
                    "attention: the fused kernels of attention/fused/ (CubeCL, SCGENEPT_FUSED_KERNELS={}: every choice keeps the same), no score tile, no L×L tensor kept",
                    Kernels::chosen().name()
                ),
                DeviceAttention::Tiled => format!(
                    "attention: the tiled op of attention/tiled.rs (burn tensor ops), {} scores per tile, no L×L tensor kept",
                    s.tile_elements
                ),
                DeviceAttention::Materialised => "attention: materialised (every score kept) is not modelled; planned as the tiled op with one tile of every query row, a lower bound".to_string(),
            },
            lines: parts.lines(s),
            per_layer: per_layer.iter().map(|(c, b)| line(c, b * tokens)).collect(),
            peak_at: peak_at.to_string(),
            peak_bytes: peak.round() as u64,
        }
    }

    /// GiB with one decimal.
    pub fn gib(bytes: u64) -> f64 {
        bytes as f64 / (1u64 << 30) as f64
    }
}

impl std::fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.header)?;
        writeln!(f, "{}", self.attention)?;
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        for l in &self.lines {
            writeln!(f, "  {:<88} {:>11.1} MiB", l.component, mib(l.bytes))?;
        }
        writeln!(f, "  one encoder layer keeps, by op:")?;
        for l in &self.per_layer {
            writeln!(f, "    {:<86} {:>11.1} MiB", l.component, mib(l.bytes))?;
        }
        writeln!(f, "peak during {}", self.peak_at)?;
        write!(
            f,
            "predicted peak: {:.1} GiB ({:.1} MiB)",
            Self::gib(self.peak_bytes),
            mib(self.peak_bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::step::StepBench;

    #[test]
    fn parameter_count_matches_the_network() {
        type B = burn::backend::Flex;
        let small = StepBench::small().model;
        let built = scgenept_model::ScGenePT::<B>::new(&small, &Default::default()).unwrap();
        assert_eq!(
            parameter_count(&small),
            burn::module::Module::num_params(&built)
        );
        // The paper's network: 144.8 M parameters (benches/README.md).
        let full = parameter_count(&StepBench::full(1, 1).model);
        assert!((144_750_000..144_850_000).contains(&full), "{full}");
    }

    #[test]
    fn activations_grow_with_the_tokens() {
        let spec = |l| PlanSpec {
            model: StepBench::full(64, l).model,
            batch: 64,
            seq_len: l,
            precision: Precision::Bf16,
            attention: DeviceAttention::Tiled,
            tile_elements: 1 << 20,
            bool_bytes: 1,
            optimizer: true,
        };
        let (a, b) = (MemoryPlan::new(&spec(768)), MemoryPlan::new(&spec(1536)));
        let layers = |p: &MemoryPlan| {
            p.lines
                .iter()
                .find(|l| l.component.contains("encoder layers"))
                .unwrap()
                .bytes
        };
        assert_eq!(layers(&b), 2 * layers(&a));
        assert!(b.peak_bytes < 2 * a.peak_bytes);
    }

    /// The fused attention's plan: no score tile (its transient doubles with the tokens, as the
    /// saves do), no second copy of the context, bf16 projections under bf16, and below the
    /// tiled op's.
    #[test]
    fn the_fused_attention_keeps_no_scores_and_no_merged_copy() {
        let spec = |l, attention, precision| PlanSpec {
            model: StepBench::full(64, l).model,
            batch: 64,
            seq_len: l,
            precision,
            attention,
            tile_elements: 1 << 28,
            bool_bytes: 1,
            optimizer: true,
        };
        let transient = |p: &MemoryPlan| {
            p.lines
                .iter()
                .find(|l| l.component.starts_with("largest transient"))
                .unwrap()
                .bytes
        };
        let fused = |l, p| MemoryPlan::new(&spec(l, DeviceAttention::Fused, p));
        let (a, b) = (fused(768, Precision::F32), fused(1536, Precision::F32));
        assert_eq!(transient(&b), 2 * transient(&a));
        // One encoder layer's bytes on the line starting with `op`.
        let layer = |p: &MemoryPlan, op: &str| {
            let line = p.per_layer.iter().find(|l| l.component.starts_with(op));
            line.unwrap().bytes
        };
        assert_eq!(layer(&b, "out_proj input"), 0);
        let bf16 = fused(1536, Precision::Bf16);
        assert_eq!(layer(&bf16, "out_proj input"), 0);
        // Under bf16 the kernels keep bf16 projections: half the f32 bytes.
        assert_eq!(
            2 * layer(&bf16, "attention: packed"),
            layer(&b, "attention: packed")
        );
        for p in [Precision::F32, Precision::Bf16] {
            let tiled = MemoryPlan::new(&spec(1536, DeviceAttention::Tiled, p));
            assert!(fused(1536, p).peak_bytes < tiled.peak_bytes);
        }
    }
}
