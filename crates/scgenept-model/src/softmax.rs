//! Softmax over the attention scores with a fused backward under autodiff.
//!
//! burn 0.21's `Autodiff` backend has no softmax of its own: it differentiates the decomposition
//! `exp(x - max) / sum`, which keeps several B×H×L×L intermediates and makes five passes over them
//! backwards. Measured on 2 CPU cores at 2 × 8 × 1536², that is 1.2 s forward + 3.8 s backward per
//! call, more than all the layer's matmuls together. Here the forward is the backend's own
//! (SIMD/kernel) softmax and the backward is the closed form `y ⊙ (g − Σ g ⊙ y)`, saving only `y`.
//!
//! The known autodiff backends are recognised by type at run time (`autodiff_inner.rs`); any
//! other backend takes burn's own softmax (same values, slower gradient).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{activation, Tensor, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;

use crate::autodiff_inner::{on_autodiff, AutodiffOp};

/// Softmax over the last dimension of `[B, H, Lq, Lk]` scores.
pub fn softmax_last<B: Backend>(scores: Tensor<B, 4>) -> Tensor<B, 4> {
    match on_autodiff::<B, _>(scores.into_primitive().tensor(), FusedSoftmax) {
        Ok(fused) => Tensor::from_primitive(TensorPrimitive::Float(fused)),
        Err((prim, _)) => {
            activation::softmax(Tensor::from_primitive(TensorPrimitive::Float(prim)), 3)
        }
    }
}

/// The fused op, for every known inner backend (`autodiff_inner.rs`).
struct FusedSoftmax;

impl AutodiffOp for FusedSoftmax {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        fused_softmax::<I>(t, 3)
    }
}

#[derive(Debug)]
struct Softmax;

impl<I: Backend> Backward<I, 1> for Softmax {
    /// The forward output and the softmax dimension.
    type State = (FloatTensor<I>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (y, dim) = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            let gy = I::float_mul(g, y.clone());
            let s = I::float_sum_dim(gy.clone(), dim);
            I::float_sub(gy, I::float_mul(y, s))
        });
    }
}

fn fused_softmax<I: Backend>(x: FloatTensor<Autodiff<I>>, dim: usize) -> FloatTensor<Autodiff<I>> {
    match Softmax
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = I::softmax(x.primitive, dim);
            prep.finish((y.clone(), dim), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(I::softmax(x.primitive, dim)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type A = Autodiff<Flex>;

    /// Values and gradients equal burn's decomposed softmax.
    #[test]
    fn fused_matches_decomposed() {
        let device = Default::default();
        let x = Tensor::<A, 4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 3.0), &device);
        let w = Tensor::<A, 4>::random([2, 3, 5, 7], Distribution::Default, &device);
        let xa = x.clone().require_grad();
        let xb = x.require_grad();
        let ya = softmax_last(xa.clone());
        let yb = activation::softmax(xb.clone(), 3);
        ya.clone().into_data().assert_approx_eq::<f32>(
            &yb.clone().into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
        let ga = (ya * w.clone()).sum().backward();
        let gb = (yb * w).sum().backward();
        xa.grad(&ga).unwrap().into_data().assert_approx_eq::<f32>(
            &xb.grad(&gb).unwrap().into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }
}
