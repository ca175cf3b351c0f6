//! Dropout with a counter-based mask on the CPU: element `i` is kept when `hash(seed, i)` falls
//! below the keep probability, so a mask is a pure function of one seed and the element's index
//! (it could be regenerated instead of stored) and costs a few instructions per element.
//!
//! burn 0.21's `Dropout` draws a Bernoulli tensor through its generic sampler, one ChaCha draw
//! and one branchy conversion per element, then multiplies twice (mask, then `1/keep`). On the
//! demo network that was a quarter of a CPU training step, nearly all of it the `B×H×L×L`
//! attention-probability mask. Here the seed of each call is one draw from the backend's seeded
//! generator (so `B::seed` per step still fixes every mask, and resumed runs replay them), the
//! mask is written on the host already scaled by `1/keep`, and applied with one multiply. On
//! CubeCL backends (CUDA, wgpu) the mask is a 32-bit counter hash computed in a kernel and applied
//! again to the gradient, so it is never stored (`attention/fused/dropout.rs`); any other device
//! backend keeps burn's dropout.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, FloatDType, Int, Tensor, TensorData};

pub use crate::counter_hash::{hash, DropMask};
use crate::host::on_host;

/// Zeroes each element with probability `prob` while training and scales the rest by
/// `1 / (1 - prob)`; the identity without autodiff (inference) or at `prob = 0`.
#[derive(Module, Clone, Debug)]
pub struct Dropout {
    pub prob: f64,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&prob),
            "dropout must lie in [0, 1), got {prob} (validated in ModelConfig)"
        );
        Self { prob }
    }

    pub fn forward<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let device = x.device();
        if !B::ad_enabled(&device) || self.prob == 0.0 {
            return x;
        }
        if !on_host::<B>() {
            return on_device(x, self.prob);
        }
        let seed = draw_seed::<B>(&device);
        let shape = x.shape();
        let mut mask = vec![0f32; shape.num_elements()];
        fill_scaled_mask(seed, 1.0 - self.prob, &mut mask);
        x * Tensor::from_data(TensorData::new(mask, shape), &device)
    }
}

/// `dropout(relu(x))` written as `out`: on CubeCL backends while training, one hashed-dropout
/// op that keeps only its output (the next matmul's operand, `attention/fused/dropout.rs`);
/// elsewhere burn's `relu`, [`Dropout::forward`] and the cast, as before.
pub fn relu_dropout<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    dropout: &Dropout,
    out: FloatDType,
) -> Tensor<B, D> {
    #[cfg(feature = "cube")]
    let x = {
        let training = B::ad_enabled(&x.device()) && dropout.prob > 0.0;
        if training && x.dtype() == DType::F32 && !on_host::<B>() {
            match hashed::<B, D>(x, dropout.prob, true, out.into()) {
                Ok(y) => return y,
                Err(x) => x,
            }
        } else {
            x
        }
    };
    let y = dropout.forward(burn::tensor::activation::relu(x));
    if y.dtype() == DType::from(out) {
        y
    } else {
        y.cast(out)
    }
}

/// Dropout on a device backend: the hashed kernel on CubeCL backends (f32), else burn's.
fn on_device<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    #[cfg(feature = "cube")]
    let x = match x.dtype() {
        DType::F32 => match hashed::<B, D>(x, prob, false, DType::F32) {
            Ok(y) => return y,
            Err(x) => x,
        },
        _ => x,
    };
    burn::nn::DropoutConfig::new(prob).init().forward(x)
}

/// The hashed-dropout op of `attention/fused/dropout.rs` when `B` is `Autodiff` over a CubeCL
/// backend; otherwise `x` back. The seed is drawn and read on the device: no read-back.
#[cfg(feature = "cube")]
fn hashed<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    prob: f64,
    relu: bool,
    out: DType,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    use crate::attention::fused::{dropout, Drop};
    use burn::tensor::TensorPrimitive;
    let seed = Tensor::<B, 1, Int>::random([1], Distribution::Default, &x.device());
    let (t, seed) = (x.into_primitive().tensor(), seed.into_primitive());
    let keep = (1.0 - prob) as f32;
    let drop = Drop { keep, relu, out };
    match dropout::<B>(t, seed, drop) {
        Ok(y) => Ok(Tensor::from_primitive(TensorPrimitive::Float(y))),
        Err(t) => Err(Tensor::from_primitive(TensorPrimitive::Float(t))),
    }
}

/// One 64-bit seed from the backend's seeded generator: two integers drawn over their whole
/// range (integer tensors may be 32-bit).
pub fn draw_seed<B: Backend>(device: &B::Device) -> u64 {
    let words = Tensor::<B, 1, Int>::random([2], Distribution::Default, device)
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("two integers");
    ((words[0] as u64) << 32) ^ (words[1] as u64 & 0xffff_ffff)
}

/// `out[i] = 1/keep` if element `i` is kept, else 0. Each hash gives two 32-bit draws
/// (elements `2j` and `2j + 1`); an element is kept when its draw is below `keep · 2³²`.
pub fn fill_scaled_mask(seed: u64, keep: f64, out: &mut [f32]) {
    let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let n = out.len();
    let mut pairs = out.chunks_exact_mut(2);
    for (j, pair) in (&mut pairs).enumerate() {
        let h = hash(seed, j as u64);
        pair[0] = if (h as u32) < threshold { scale } else { 0.0 };
        pair[1] = if ((h >> 32) as u32) < threshold {
            scale
        } else {
            0.0
        };
    }
    if let [last] = pairs.into_remainder() {
        let h = hash(seed, (n / 2) as u64);
        *last = if (h as u32) < threshold { scale } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_expected_share_and_scale() {
        let mut m = vec![0f32; 1_000_001];
        fill_scaled_mask(7, 0.8, &mut m);
        let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.8).abs() < 0.002, "kept {kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.25).abs() < 1e-6));
        // The mean of the scaled mask is 1 (dropout keeps the expectation).
        let mean = m.iter().map(|&v| v as f64).sum::<f64>() / m.len() as f64;
        assert!((mean - 1.0).abs() < 0.003, "mean {mean}");
    }

    #[test]
    fn masks_are_a_function_of_the_seed() {
        let (mut a, mut b, mut c) = (vec![0f32; 999], vec![0f32; 999], vec![0f32; 999]);
        fill_scaled_mask(1, 0.5, &mut a);
        fill_scaled_mask(1, 0.5, &mut b);
        fill_scaled_mask(2, 0.5, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // A prefix of a longer mask is the shorter mask.
        let mut long = vec![0f32; 2000];
        fill_scaled_mask(1, 0.5, &mut long);
        assert_eq!(&long[..998], &a[..998]);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn training_mode_drops_and_scales_on_the_cpu() {
        type B = burn::backend::Autodiff<burn::backend::Flex>;
        let device = Default::default();
        B::seed(&device, 3);
        let x = Tensor::<B, 2>::ones([64, 64], &device);
        let y = Dropout::new(0.25).forward(x.clone());
        let v = y.into_data().convert::<f32>().into_vec::<f32>().unwrap();
        let zeros = v.iter().filter(|&&e| e == 0.0).count() as f64 / v.len() as f64;
        assert!((zeros - 0.25).abs() < 0.03, "dropped {zeros}");
        assert!(v.iter().all(|&e| e == 0.0 || (e - 4.0 / 3.0).abs() < 1e-6));
        // Same backend seed, same mask.
        B::seed(&device, 3);
        let again = Dropout::new(0.25)
            .forward(x)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap();
        assert_eq!(v, again);
        // Without autodiff it is the identity.
        let plain = Tensor::<burn::backend::Flex, 1>::ones([8], &device);
        let out = Dropout::new(0.5).forward(plain.clone());
        assert_eq!(out.into_data(), plain.into_data());
    }
}
