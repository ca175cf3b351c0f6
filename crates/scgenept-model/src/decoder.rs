//! `decoder`: scGPT's `ExprDecoder` without the zero-probability head —
//! `Linear(d,d) → LeakyReLU(0.01) → Linear(d,d) → LeakyReLU → Linear(d,1)`, squeezed to `[B, L]`.
//! Its output *is* the predicted post-perturbation expression (no residual from the input).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{activation, backend::Backend, Tensor};

use crate::config::ModelConfig;
use crate::params::{join, NamedParams, Visitor};

const LEAKY_SLOPE: f64 = 0.01;

#[derive(Module, Debug)]
pub struct ExprDecoder<B: Backend> {
    /// `fc.0`
    pub fc0: Linear<B>,
    /// `fc.2`
    pub fc2: Linear<B>,
    /// `fc.4`
    pub fc4: Linear<B>,
}

impl<B: Backend> ExprDecoder<B> {
    pub fn new(cfg: &ModelConfig, device: &B::Device) -> Self {
        Self {
            fc0: LinearConfig::new(cfg.d_model, cfg.d_model).init(device),
            fc2: LinearConfig::new(cfg.d_model, cfg.d_model).init(device),
            fc4: LinearConfig::new(cfg.d_model, 1).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let x = activation::leaky_relu(self.fc0.forward(x), LEAKY_SLOPE);
        let x = activation::leaky_relu(self.fc2.forward(x), LEAKY_SLOPE);
        self.fc4.forward(x).squeeze_dim::<2>(2)
    }
}

impl<B: Backend> NamedParams<B> for ExprDecoder<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        self.fc0.visit_params(&join(prefix, "fc.0"), f);
        self.fc2.visit_params(&join(prefix, "fc.2"), f);
        self.fc4.visit_params(&join(prefix, "fc.4"), f);
    }
}
