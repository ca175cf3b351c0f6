//! The device dropout (`attention/fused/dropout.rs`): the output is the input (with ReLU,
//! `max(x, 0)`) times the hashed mask computed on the host (`mask::device_kept`), the gradient
//! the incoming gradient times the same mask (regenerated, not stored; with ReLU, read off the
//! output alone), and the mask keeps its share. The seed is a device integer with its sign bit
//! set, so the kernel's reading of its bits is checked too.

use anyhow::{anyhow, Result};
use burn::backend::Autodiff;
use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData, TensorPrimitive};
use scgenept_model::attention::fused::{self, FusedBackend};
use scgenept_model::attention::mask::{device_kept, keep_threshold};

use super::{floats, values, worst, Check};

const SHAPE: [usize; 3] = [4, 300, 70];
const KEEP: f32 = 0.8;
const SEED: u32 = 0xdead_beef;

/// Output (as f32) and the gradient of `sum(y ⊙ w)` for input `x`, the output written as `out`.
fn device_dropout<I: FusedBackend>(
    x: &[f32],
    w: &[f32],
    relu: bool,
    out: DType,
    device: &I::Device,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let seed = TensorData::new(vec![SEED as i32], [1]);
    let seed = Tensor::<Autodiff<I>, 1, Int>::from_data(seed, device);
    let xt = Tensor::<Autodiff<I>, 3>::from_data(TensorData::new(x.to_vec(), SHAPE), device)
        .require_grad();
    let (t, s) = (xt.clone().into_primitive().tensor(), seed.into_primitive());
    let drop = fused::Drop {
        keep: KEEP,
        relu,
        out,
    };
    let y = fused::dropout::<Autodiff<I>>(t, s, drop)
        .map_err(|_| anyhow!("this backend does not run the hashed dropout"))?;
    let y = Tensor::<Autodiff<I>, 3>::from_primitive(TensorPrimitive::Float(y));
    if y.dtype() != out {
        return Err(anyhow!("dropout wrote {:?}, not {out:?}", y.dtype()));
    }
    let y = y.cast(FloatDType::F32);
    let wt = Tensor::<Autodiff<I>, 3>::from_data(TensorData::new(w.to_vec(), SHAPE), device);
    let grads = (y.clone() * wt).sum().backward();
    let grad = xt
        .grad(&grads)
        .ok_or_else(|| anyhow!("no gradient reached the input"))?;
    Ok((floats(y.into_data())?, floats(grad.into_data())?))
}

pub(super) fn checks<I: FusedBackend>(device: &I::Device) -> Result<Vec<Check>> {
    let n = SHAPE.iter().product();
    let (x, w) = (values(n, 21), values(n, 22));
    let threshold = keep_threshold(KEEP) as u32;
    let mask: Vec<f32> = (0..n)
        .map(|i| match device_kept(SEED, i, threshold) {
            true => 1.0 / KEEP,
            false => 0.0,
        })
        .collect();
    let kept = mask.iter().filter(|&&m| m > 0.0).count() as f32 / n as f32;
    let mut checks = vec![Check::new(
        "dropout: share kept, off 0.8 by",
        (kept - KEEP).abs(),
        5e-3,
    )];
    // Written in f32, and with ReLU also in a 16-bit type (bf16 under bf16; f16 here): one
    // rounding of each value.
    for (relu, out, bound) in [
        (false, DType::F32, 1e-6),
        (true, DType::F32, 1e-6),
        (true, DType::F16, 1e-3),
    ] {
        let (got, grad) = device_dropout::<I>(&x, &w, relu, out, device)?;
        let r = |a: f32| if relu { a.max(0.0) } else { a };
        let want: Vec<f32> = x.iter().zip(&mask).map(|(&a, m)| r(a) * m).collect();
        let want_grad: Vec<f32> = (w.iter().zip(&mask).zip(&x))
            .map(|((a, m), &xi)| if relu && xi <= 0.0 { 0.0 } else { a * m })
            .collect();
        let e = worst(&got, &want).max(worst(&grad, &want_grad));
        let name = format!("dropout (relu {relu}, written as {out:?}): output and gradient");
        checks.push(Check::new(name, e, bound));
    }
    Ok(checks)
}
