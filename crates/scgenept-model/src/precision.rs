//! Mixed precision (`train.precision`, docs/precision.md). With [`Precision::Bf16`] the
//! transformer's matmuls take bf16 operands and hand back f32 (burn accumulates bf16 matmuls in
//! f32); everything else stays f32: the master weights and Adam state, embeddings and their sums,
//! LayerNorm, the softmax and its statistics, residual sums, the decoder's output and the loss.
//! `cast` is differentiable, so each gradient arrives at its f32 weight in f32. bf16 keeps f32's
//! exponent range, so no loss scaling is needed.

use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// The precision of a training run's matmuls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the reference's default).
    #[default]
    F32,
    /// Matmul operands in bf16, with f32 accumulation; the rest f32.
    Bf16,
}

impl Precision {
    /// Whether backend `B` can run this precision: bf16 needs a GPU backend, since on the CPU
    /// (burn-flex) the attention is the host op, which computes in f32.
    pub fn check<B: Backend>(self) -> Result<(), String> {
        if self == Precision::Bf16 && crate::host::on_host::<B>() {
            return Err(
                "bf16 runs on a GPU (--device cuda or wgpu); on the CPU use precision f32".into(),
            );
        }
        Ok(())
    }

    /// The type of a matmul operand: bf16 under bf16, else f32.
    pub fn operand(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// From a module's stored flag (modules keep a `bool`, which burn's `Module` derive takes).
    pub fn from_bf16(bf16: bool) -> Self {
        if bf16 {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// The casting plan, operation by operation: what runs in bf16 under [`Precision::Bf16`].
pub const PLAN: [(&str, &str); 10] = [
    (
        "in_proj, out_proj, linear1, linear2 (x · Wᵀ)",
        "bf16 operands, f32 result",
    ),
    ("attention scores Q · Kᵀ", "bf16 operands, f32 result"),
    (
        "attention context P · V",
        "bf16 operands, f32 sums; stored bf16 by the fused kernels (out_proj's operand)",
    ),
    ("linear biases", "f32"),
    ("softmax and its row statistics", "f32"),
    ("LayerNorm", "f32"),
    ("embeddings, knowledge rows and their sum", "f32"),
    ("decoder and the MSE loss", "f32"),
    ("master weights, gradients, Adam state", "f32"),
    ("dropout masks", "f32 (applied to f32 probabilities)"),
];

/// `x · W + b` of a burn `Linear` (weight `[in, out]`): in bf16, the operands are cast and the
/// product cast back to f32 before the f32 bias.
pub fn linear<B: Backend, const D: usize>(
    layer: &Linear<B>,
    x: Tensor<B, D>,
    precision: Precision,
) -> Tensor<B, D> {
    if precision == Precision::F32 {
        return layer.forward(x);
    }
    let w = layer.weight.val().cast(FloatDType::BF16).unsqueeze::<D>();
    let y = bf16(x).matmul(w).cast(FloatDType::F32);
    match &layer.bias {
        Some(b) => y + b.val().unsqueeze::<D>(),
        None => y,
    }
}

/// `x` in bf16; a tensor already bf16 as it is (the same buffer, which its producer may keep).
pub fn bf16<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    match x.dtype() {
        DType::BF16 => x,
        _ => x.cast(FloatDType::BF16),
    }
}

/// `a · b` with bf16 operands and an f32 result under [`Precision::Bf16`].
pub fn matmul<B: Backend, const D: usize>(
    a: Tensor<B, D>,
    b: Tensor<B, D>,
    precision: Precision,
) -> Tensor<B, D> {
    match precision {
        Precision::F32 => a.matmul(b),
        Precision::Bf16 => a
            .cast(FloatDType::BF16)
            .matmul(b.cast(FloatDType::BF16))
            .cast(FloatDType::F32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_reads_and_writes_as_lowercase() {
        let p: Precision = serde_json::from_str("\"bf16\"").unwrap();
        assert_eq!(p, Precision::Bf16);
        assert!(serde_json::from_str::<Precision>("\"fp16\"").is_err());
        assert_eq!(serde_json::to_string(&Precision::F32).unwrap(), "\"f32\"");
        assert_eq!(Precision::F32.to_string(), "f32");
    }

    /// The casting plan on a backend that has bf16: operands rounded to bf16 (relative error
    /// between 1e-4 and 1e-2, METHOD-style: bf16 keeps 8 bits of mantissa), an f32 result, and the
    /// weight's gradient back in f32.
    #[cfg(feature = "flex")]
    #[test]
    fn a_bf16_linear_rounds_its_operands_and_returns_f32_gradients() {
        use burn::nn::LinearConfig;
        use burn::tensor::{DType, Distribution};
        type B = burn::backend::Autodiff<burn::backend::Flex>;
        let device = Default::default();
        B::seed(&device, 7);
        let layer = LinearConfig::new(64, 32).init::<B>(&device);
        let x = Tensor::<B, 3>::random([2, 5, 64], Distribution::Normal(0.0, 1.0), &device);
        let f32_out = linear(&layer, x.clone(), Precision::F32);
        let bf16_out = linear(&layer, x, Precision::Bf16);
        assert_eq!(bf16_out.dtype(), DType::F32);
        let norm = |t: Tensor<B, 3>| t.powf_scalar(2.0).sum().sqrt().into_scalar();
        let rel = norm(bf16_out.clone() - f32_out.clone()) / norm(f32_out);
        assert!(rel > 1e-4 && rel < 1e-2, "relative error {rel}");
        let grads = bf16_out.sum().backward();
        let gw = layer
            .weight
            .grad(&grads)
            .expect("the weight has a gradient");
        assert_eq!(gw.dtype(), DType::F32);
    }

    #[test]
    fn the_plan_keeps_every_statistic_and_the_state_in_f32() {
        for (op, dtype) in PLAN {
            let stat = ["softmax", "LayerNorm", "loss", "Adam", "embeddings"]
                .iter()
                .any(|s| op.contains(s));
            if stat {
                assert!(dtype.starts_with("f32"), "{op}: {dtype}");
            }
        }
        let bf16: Vec<&str> = PLAN
            .iter()
            .filter(|(_, d)| d.starts_with("bf16"))
            .map(|(op, _)| *op)
            .collect();
        assert_eq!(bf16.len(), 3, "the matmuls, and only they: {bf16:?}");
    }
}
