//! The network's dropouts on CubeCL backends (value encoder, residual branches, feed-forward):
//! the mask is a counter hash of (a 32-bit seed, the element's index), `kernels::dropout`,
//! applied to the input in forward and to the gradient in backward, so nothing is stored
//! (burn's dropout keeps an f32 mask the size of the input). The seed is one integer drawn by the
//! backend's seeded generator on the device and read there by the kernel: no read-back, so
//! dropout never synchronises the device. docs/attention.md, "Lighter saves".
//!
//! The feed-forward block's `dropout(relu(h))` is one op here ([`relu_dropout`]): its output `y`
//! may be written in bf16 (the next matmul's operand), and backward needs `y` alone
//! (`∂h = ∂y / keep` where `y > 0`, else 0), the very tensor `linear2` keeps as its input, so the
//! ReLU keeps nothing of its own.

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, FloatDType, TensorMetadata};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};

use super::{AdPrim, Drop, FusedBackend};

/// What the plain dropout's backward needs: the device seed and the keep probability.
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
            let out = g.dtype();
            let drop = Drop {
                keep,
                relu: false,
                out,
            };
            I::hashed_dropout(g, seed, drop)
        });
    }
}

/// What `relu_dropout`'s backward needs: its output and the keep probability.
#[derive(Clone, Debug)]
struct SavedOut<I: Backend> {
    y: FloatTensor<I>,
    keep: f32,
    input: DType,
}

#[derive(Debug)]
struct ReluDropOp;

impl<I: FusedBackend> Backward<I, 1> for ReluDropOp {
    type State = SavedOut<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let SavedOut { y, keep, input } = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            // `y > 0` exactly where the element was kept and the input positive.
            let g = I::float_cast(g, FloatDType::from(input));
            I::float_mul_scalar(I::relu_backward(y, g), (1.0 / keep).into())
        });
    }
}

/// The op under autodiff: `x` times its mask (with `drop.relu`, `max(x, 0)` first); backward,
/// the gradient times the same mask (plain), or from the output alone (with ReLU).
pub fn tracked<I: FusedBackend>(x: AdPrim<I>, seed: IntTensor<I>, drop: Drop) -> AdPrim<I> {
    let input = x.primitive.dtype();
    let out = I::hashed_dropout(x.primitive.clone(), seed.clone(), drop);
    let node = [x.node.clone()];
    if drop.relu {
        let prep = ReluDropOp.prepare::<NoCheckpointing>(node);
        return match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = SavedOut {
                    y: out.clone(),
                    keep: drop.keep,
                    input,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
    }
    match HashDropOp
        .prepare::<NoCheckpointing>(node)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                seed,
                keep: drop.keep,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Hashed dropout ([`Drop`]) with the device integer `seed` (`[1]`) under autodiff, when `B` is
/// `Autodiff` over a CubeCL backend of this build; otherwise `x` back, untouched.
pub fn dropout<B: Backend>(
    x: FloatTensor<B>,
    seed: IntTensor<B>,
    drop: Drop,
) -> Result<FloatTensor<B>, FloatTensor<B>> {
    // `Autodiff<I>` keeps `I`'s integer tensors as they are.
    let seed: Box<dyn Any> = Box::new(seed);
    on_cube_backends!(B, x, |x: AdPrim<I>| {
        let seed = *seed
            .downcast::<IntTensor<I>>()
            .expect("Autodiff keeps I's integers");
        tracked::<I>(x, seed, drop)
    })
}
