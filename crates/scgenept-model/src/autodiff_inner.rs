//! One way to reach the backend inside `Autodiff<I>` from generic code.
//!
//! burn offers no hook to add an op to `Autodiff<B>` for every `B` without threading a new
//! backend trait through every module, so the ops with a backward of their own (attention,
//! softmax, the memory probe) recognise the autodiff backends this build has by type at run time:
//! `Autodiff<Flex>`, `Autodiff<Cuda>` and `Autodiff<Wgpu>` (each a `Fusion<CubeBackend>` when
//! burn's `fusion` feature is on, docs/gpu.md). Any other backend gets the tensor back unchanged.

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::Autodiff;

/// An op written once for every inner backend `I`.
pub trait AutodiffOp {
    fn apply<I: Backend>(self, t: FloatTensor<Autodiff<I>>) -> FloatTensor<Autodiff<I>>;
}

/// `op` applied when `B` is `Autodiff<I>` for a backend `I` of this build; otherwise `Err` with
/// the tensor and the op, untouched.
#[cfg_attr(
    not(any(feature = "flex", feature = "cuda", feature = "wgpu")),
    allow(unused_macros)
)]
pub fn on_autodiff<B: Backend, O: AutodiffOp>(
    t: FloatTensor<B>,
    op: O,
) -> Result<FloatTensor<B>, (FloatTensor<B>, O)> {
    let prim: Box<dyn Any> = Box::new(t);
    macro_rules! attempt {
        ($prim:expr, $inner:ty) => {
            match $prim.downcast::<FloatTensor<Autodiff<$inner>>>() {
                Ok(t) => {
                    let out: Box<dyn Any> = Box::new(op.apply::<$inner>(*t));
                    return Ok(*out.downcast::<FloatTensor<B>>().expect("B is this backend"));
                }
                Err(p) => p,
            }
        };
    }
    #[cfg(feature = "flex")]
    let prim = attempt!(prim, burn::backend::Flex);
    #[cfg(feature = "cuda")]
    let prim = attempt!(prim, burn::backend::Cuda);
    #[cfg(feature = "wgpu")]
    let prim = attempt!(prim, burn::backend::Wgpu);
    Err((
        *prim
            .downcast::<FloatTensor<B>>()
            .expect("the primitive of B"),
        op,
    ))
}
