//! Exact (erf) GELU for the CPU text embedder, computed on the host with a rational erf that the
//! compiler vectorises. burn-flex evaluates `erf` one element at a time through libm, which was a
//! fifth of the time spent embedding gene text; this one is within a few f32 ulps (max
//! |error| against f64 erf below 5e-7 on [-8, 8], `tests` below).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// `x · Φ(x) = x/2 · (1 + erf(x/√2))`, BERT's `gelu`. The tensor makes one round trip through
/// host memory: a copy on the CPU backend the embedder runs on, a transfer on a GPU one.
pub fn gelu_host<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    let device = x.device();
    let mut v: Vec<f32> = x
        .into_data()
        .convert::<f32>()
        .into_vec()
        .expect("f32 after convert");
    gelu_in_place(&mut v);
    Tensor::from_data(TensorData::new(v, dims), &device)
}

pub fn gelu_in_place(v: &mut [f32]) {
    for a in v.iter_mut() {
        *a = 0.5 * *a * (1.0 + erf(*a * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf(x) as x·P(x²)/Q(x²) on [-4, 4] (constant beyond, where erf is 1 within 2e-8): the
/// rational approximation Eigen and XLA use for float erf.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906e-4;
    p = p * x2 + -2.954_600_2e-3;
    p = p * x2 + -1.609_603_3e-2;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_474e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_f64_erf() {
        let mut worst = 0f64;
        for i in -800_000..=800_000 {
            let x = i as f32 * 1e-5;
            let want = libm::erf(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
        }
        assert!(worst < 5e-7, "max |erf error| {worst:e}");
        assert!((erf(100.0) - 1.0).abs() < 5e-7 && erf(-100.0) == -erf(100.0));
        assert_eq!(erf(0.0), 0.0);
    }

    #[test]
    fn gelu_matches_the_definition() {
        let xs: Vec<f32> = (-60..=60).map(|i| i as f32 * 0.1).collect();
        let mut got = xs.clone();
        gelu_in_place(&mut got);
        for (x, g) in xs.iter().zip(&got) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            assert!(
                (*g as f64 - want).abs() < 1e-6,
                "gelu({x}) = {g}, want {want}"
            );
        }
    }
}
