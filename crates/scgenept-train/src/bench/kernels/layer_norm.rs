//! The lean LayerNorm (`layer_norm.rs`, saving `x̂` and `rstd` only) against burn's LayerNorm on
//! the same device: the output and the gradients of the input, γ and β within 1e-5.

use anyhow::{anyhow, Result};
use burn::backend::Autodiff;
use burn::module::Param;
use burn::nn::LayerNormConfig;
use burn::tensor::{Tensor, TensorData};
use scgenept_model::attention::fused::FusedBackend;
use scgenept_model::layer_norm::layer_norm;

use super::{floats, values, worst, Check};

const DIMS: [usize; 3] = [3, 37, 48];

/// Output, dx, dγ, dβ of `sum(norm(x) ⊙ w)`, by the lean op or by burn's.
fn run<I: FusedBackend>(lean: bool, device: &I::Device) -> Result<[Vec<f32>; 4]> {
    type A<I> = Autodiff<I>;
    let [b, l, d] = DIMS;
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(1e-5)
        .init::<A<I>>(device);
    let vec1 = |v: Vec<f32>| Tensor::<A<I>, 1>::from_data(TensorData::new(v, [d]), device);
    norm.gamma = Param::from_tensor(vec1(values(d, 31)));
    norm.beta = Some(Param::from_tensor(vec1(values(d, 32))));
    let x = Tensor::<A<I>, 3>::from_data(TensorData::new(values(b * l * d, 33), DIMS), device)
        .require_grad();
    let w = Tensor::<A<I>, 3>::from_data(TensorData::new(values(b * l * d, 34), DIMS), device);
    let y = match lean {
        true => layer_norm(&norm, x.clone(), 1e-5),
        false => norm.forward(x.clone()),
    };
    let grads = (y.clone() * w).sum().backward();
    let missing = |what: &str| anyhow!("no gradient reached {what}");
    let dx = x.grad(&grads).ok_or_else(|| missing("the input"))?;
    let dg = norm.gamma.val().grad(&grads).ok_or_else(|| missing("γ"))?;
    let beta = norm.beta.as_ref().ok_or_else(|| missing("β"))?.val();
    let db = beta.grad(&grads).ok_or_else(|| missing("β"))?;
    Ok([
        floats(y.inner().into_data())?,
        floats(dx.into_data())?,
        floats(dg.into_data())?,
        floats(db.into_data())?,
    ])
}

pub(super) fn checks<I: FusedBackend>(device: &I::Device) -> Result<Vec<Check>> {
    let (lean, burn) = (run::<I>(true, device)?, run::<I>(false, device)?);
    let e = (lean.iter().zip(&burn))
        .map(|(a, b)| worst(a, b))
        .fold(0.0, f32::max);
    let name = "lean layer norm against burn's: output, dx, dγ, dβ";
    Ok(vec![Check::new(name, e, 1e-5)])
}
