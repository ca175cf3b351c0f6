//! Named access to every parameter under the reference PyTorch state-dict names.
//!
//! One walk (`NamedParams::visit_params`) serves export, import and gradient inspection, so the
//! name ↔ parameter mapping is written exactly once per module. Slots say how a tensor is laid out
//! relative to PyTorch: burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{backend::Backend, Tensor};

/// A mutable reference to one parameter, tagged with its layout relative to PyTorch.
pub enum ParamSlot<'a, B: Backend> {
    /// 1-D tensor, same layout in both frameworks.
    Vector(&'a mut Param<Tensor<B, 1>>),
    /// 2-D tensor stored transposed relative to PyTorch (burn `Linear.weight`).
    Transposed(&'a mut Param<Tensor<B, 2>>),
    /// 2-D tensor with the PyTorch layout (embedding tables).
    Matrix(&'a mut Param<Tensor<B, 2>>),
}

impl<B: Backend> ParamSlot<'_, B> {
    /// Runs the parameter's (lazy) initialiser now, in place.
    pub fn initialize(&self) {
        match self {
            ParamSlot::Vector(p) => drop(p.val()),
            ParamSlot::Transposed(p) | ParamSlot::Matrix(p) => drop(p.val()),
        }
    }

    /// Shape in PyTorch layout.
    pub fn torch_shape(&self) -> Vec<usize> {
        match self {
            ParamSlot::Vector(p) => p.val().dims().to_vec(),
            ParamSlot::Transposed(p) => {
                let [a, b] = p.val().dims();
                vec![b, a]
            }
            ParamSlot::Matrix(p) => p.val().dims().to_vec(),
        }
    }
}

/// Callback receiving each parameter with its full reference name.
pub type Visitor<'f, B> = dyn FnMut(String, ParamSlot<'_, B>) + 'f;

/// Implemented by every module of the network, mirroring the PyTorch attribute names.
pub trait NamedParams<B: Backend> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>);
}

/// A parameter's dotted name: `prefix.name`, or `name` at the top level.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<B: Backend> NamedParams<B> for Linear<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        f(
            join(prefix, "weight"),
            ParamSlot::Transposed(&mut self.weight),
        );
        if let Some(bias) = self.bias.as_mut() {
            f(join(prefix, "bias"), ParamSlot::Vector(bias));
        }
    }
}

impl<B: Backend> NamedParams<B> for LayerNorm<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        f(join(prefix, "weight"), ParamSlot::Vector(&mut self.gamma));
        if let Some(beta) = self.beta.as_mut() {
            f(join(prefix, "bias"), ParamSlot::Vector(beta));
        }
    }
}

impl<B: Backend> NamedParams<B> for Embedding<B> {
    fn visit_params(&mut self, prefix: &str, f: &mut Visitor<'_, B>) {
        f(join(prefix, "weight"), ParamSlot::Matrix(&mut self.weight));
    }
}
