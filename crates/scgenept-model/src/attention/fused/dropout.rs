//! The network's dropouts on CubeCL backends (value encoder, residual branches, feed-forward):
//! the mask is a counter hash of (a 32-bit seed, the element's index), `kernels::dropout`,
//! applied to the input in forward and to the gradient in backward, so nothing is stored
//! (burn's dropout keeps an f32 mask the size of the input). docs/attention.md, "Fused kernels".

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use std::any::Any;

use super::{AdPrim, FusedBackend};

/// One dropout call: keep probability (below 1) and its 32-bit seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HashDrop {
    pub keep: f32,
    pub seed: u32,
}

#[derive(Debug)]
struct HashDropOp;

impl<I: FusedBackend> Backward<I, 1> for HashDropOp {
    type State = HashDrop;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let drop = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| I::hashed_dropout(g, drop));
    }
}

/// The op under autodiff: `x` times its mask; backward, the gradient times the same mask.
pub fn tracked<I: FusedBackend>(x: AdPrim<I>, drop: HashDrop) -> AdPrim<I> {
    let out = I::hashed_dropout(x.primitive.clone(), drop);
    match HashDropOp
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(drop, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Hashed dropout under autodiff when `B` is `Autodiff` over a CubeCL backend of this build;
/// otherwise the tensor back, untouched.
pub fn dropout<B: Backend>(
    t: FloatTensor<B>,
    drop: HashDrop,
) -> Result<FloatTensor<B>, FloatTensor<B>> {
    on_cube_backends!(B, t, |x: AdPrim<I>| tracked::<I>(x, drop))
}
