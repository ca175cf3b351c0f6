//! LayerNorm that keeps less for backward on device backends (docs/attention.md, "Lighter
//! saves"): `y = x̂ · γ + β` with `x̂ = (x − mean) · rstd` as an op of its own that saves its
//! output `x̂` and the per-row `rstd` and nothing else. The `· γ` that follows keeps the same `x̂`
//! (one buffer), so a norm costs `D + 1` floats per token until backward instead of burn's
//! `2·D + 2` (its decomposed LayerNorm keeps the centred input and the normalised output).
//!
//! Backward: `dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))`, row-wise over the features.
//! The host (burn-flex) and inference keep burn's `LayerNorm::forward`.

use burn::nn::LayerNorm;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;

use crate::autodiff_inner::{on_autodiff, AutodiffOp};
use crate::host::on_host;

/// `norm(x)` over the last dimension with `eps`: the lean op while training on a device
/// backend, burn's LayerNorm otherwise.
pub fn layer_norm<B: Backend>(norm: &LayerNorm<B>, x: Tensor<B, 3>, eps: f64) -> Tensor<B, 3> {
    if on_host::<B>() || !B::ad_enabled(&x.device()) {
        return norm.forward(x);
    }
    match on_autodiff::<B, _>(x.into_primitive().tensor(), Normalize { eps }) {
        Ok(xhat) => {
            let xhat = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(xhat));
            let y = xhat * norm.gamma.val().unsqueeze::<3>();
            match &norm.beta {
                Some(beta) => y + beta.val().unsqueeze::<3>(),
                None => y,
            }
        }
        Err((t, _)) => norm.forward(Tensor::from_primitive(TensorPrimitive::Float(t))),
    }
}

/// The normalisation `x̂ = (x − mean) · rstd` under autodiff.
struct Normalize {
    eps: f64,
}

impl AutodiffOp for Normalize {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>> {
        tracked::<I>(t, self.eps)
    }
}

/// What backward needs: the output and the per-row reciprocal standard deviation.
#[derive(Clone, Debug)]
struct Saved<I: Backend> {
    xhat: Tensor<I, 3>,
    rstd: Tensor<I, 3>,
}

#[derive(Debug)]
struct NormalizeOp;

impl<I: Backend> Backward<I, 1> for NormalizeOp {
    type State = Saved<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { xhat, rstd } = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            let g = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(g));
            let proj = (g.clone() * xhat.clone()).mean_dim(2);
            let dx = (g.clone() - g.mean_dim(2) - xhat * proj) * rstd;
            dx.into_primitive().tensor()
        });
    }
}

fn tracked<I: Backend>(x: FloatTensor<Autodiff<I>>, eps: f64) -> FloatTensor<Autodiff<I>> {
    let inner = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(x.primitive.clone()));
    let centred = inner.clone() - inner.mean_dim(2);
    let var = (centred.clone() * centred.clone()).mean_dim(2);
    let rstd = var.add_scalar(eps).sqrt().recip();
    let xhat = centred * rstd.clone();
    let out = xhat.clone().into_primitive().tensor();
    match NormalizeOp
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved { xhat, rstd }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
