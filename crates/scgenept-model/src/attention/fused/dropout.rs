//! The network's dropouts on CubeCL backends (value encoder, residual branches, feed-forward):
//! the mask is a counter hash of (a 32-bit seed, the element's index), `kernels::dropout`,
//! applied to the input in forward and to the gradient in backward, so nothing is stored
//! (burn's dropout keeps an f32 mask the size of the input). The seed is one integer drawn by the
//! backend's seeded generator on the device and read there by the kernel: no read-back, so
//! dropout never synchronises the device. docs/attention.md, "Lighter saves".

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};

use super::{AdPrim, FusedBackend};

/// What backward needs: the device seed and the keep probability.
#[derive(Clone, Debug)]
struct Saved<I: Backend> {
    seed: IntTensor<I>,
    keep: f32,
}

#[derive(Debug)]
struct HashDropOp;

impl<I: FusedBackend> Backward<I, 1> for HashDropOp {
    type State = Saved<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved { seed, keep } = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            I::hashed_dropout(g, seed, keep)
        });
    }
}

/// The op under autodiff: `x` times its mask; backward, the gradient times the same mask.
pub fn tracked<I: FusedBackend>(x: AdPrim<I>, seed: IntTensor<I>, keep: f32) -> AdPrim<I> {
    let out = I::hashed_dropout(x.primitive.clone(), seed.clone(), keep);
    match HashDropOp
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved { seed, keep }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Hashed dropout with keep probability `keep` (below 1) and the device integer `seed` (`[1]`)
/// under autodiff, when `B` is `Autodiff` over a CubeCL backend of this build; otherwise `x`
/// back, untouched.
pub fn dropout<B: Backend>(
    x: FloatTensor<B>,
    seed: IntTensor<B>,
    keep: f32,
) -> Result<FloatTensor<B>, FloatTensor<B>> {
    // `Autodiff<I>` keeps `I`'s integer tensors as they are.
    let seed: Box<dyn Any> = Box::new(seed);
    on_cube_backends!(B, x, |x: AdPrim<I>| {
        let seed = *seed
            .downcast::<IntTensor<I>>()
            .expect("Autodiff keeps I's integers");
        tracked::<I>(x, seed, keep)
    })
}
