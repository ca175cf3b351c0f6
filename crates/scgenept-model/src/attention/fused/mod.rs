//! The fused attention on CubeCL backends (CUDA, wgpu): the op of `host.rs` — same function,
//! same saved state (the packed projections, the context, the log-sum-exp), the same dropout
//! mask bit for bit — as GPU kernels that never hold an `L × L` tensor (docs/attention.md,
//! "Fused kernels").
//!
//! - `kernels.rs` — the portable f32 kernels (shared memory only: CUDA, and wgpu down to Mesa's
//!   lavapipe);
//! - `tiles/` — the same op as 16 × 16 tile products: on tensor cores (`cmma`, CUDA, bf16/f16),
//!   or on the units, which is how they run without tensor cores (lavapipe in CI);
//! - `launch.rs` — launching them on burn's `CubeTensor`s, and which kernels a call runs
//!   ([`Kernels`], `fused_plan.rs`);
//! - `dropout.rs` — the network's other dropouts as a counter-hash kernel whose mask is applied
//!   again in backward, never stored;
//! - this file — [`FusedBackend`] for `CubeBackend` and for burn-fusion's `Fusion` over it (each
//!   kernel call a custom op in the fusion stream), the op under autodiff, and the run-time
//!   dispatch from generic code ([`training`], [`inference`]).

/// `on_cube_backends!(B, t, |x: P<I>| body)`: for each CubeCL backend of this build in turn
/// (CUDA, wgpu) as `I`, when `t` (a `FloatTensor<B>`) is a `P<I>`, returns `Ok(body)` with `x`
/// bound to it; otherwise evaluates to `Err(t)`, untouched.
macro_rules! on_cube_backends {
    ($B:ty, $t:expr, |$x:ident: $P:ident<$I:ident>| $body:expr) => {{
        let prim: Box<dyn Any> = Box::new($t);
        #[cfg(feature = "cuda")]
        let prim = on_cube_backends!(@try $B, prim, burn::backend::Cuda, |$x: $P<$I>| $body);
        #[cfg(feature = "wgpu")]
        let prim = on_cube_backends!(@try $B, prim, burn::backend::Wgpu, |$x: $P<$I>| $body);
        Err(*prim.downcast::<FloatTensor<$B>>().expect("the primitive of B"))
    }};
    (@try $B:ty, $prim:ident, $backend:ty, |$x:ident: $P:ident<$I:ident>| $body:expr) => {{
        type $I = $backend;
        match $prim.downcast::<$P<$I>>() {
            Ok($x) => {
                let $x = *$x;
                let out: Box<dyn Any> = Box::new($body);
                return Ok(*out.downcast::<FloatTensor<$B>>().expect("B is this backend"));
            }
            Err(p) => p,
        }
    }};
}

mod dropout;
mod kernels;
pub mod launch;
mod tiles;

pub use dropout::dropout;

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, Shape};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};

pub use crate::attention::fused_plan::Kernels;
use crate::counter_hash::DropMask;

/// One call's settings: heads, the attention dropout (training only) and which kernels run it.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub heads: usize,
    pub drop: Option<DropMask>,
    pub kernels: Kernels,
}

/// Backends that run the fused kernels. The projections `[B, L, 3·D]`, the context and their
/// gradients are f32 or bf16 (one type per call); the log-sum-exp is f32.
pub trait FusedBackend: Backend {
    /// The context `[B, L, D]` and the log-sum-exp `[B·H·L]`.
    fn fused_attention(
        qkv: FloatTensor<Self>,
        call: Call,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradient `[B, L, 3·D]` of the projections.
    fn fused_attention_backward(
        qkv: FloatTensor<Self>,
        ctx: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dctx: FloatTensor<Self>,
        call: Call,
    ) -> FloatTensor<Self>;

    /// `x` (with `drop.relu`, `max(x, 0)`) times its hashed dropout mask with keep probability
    /// `drop.keep`, seeded by the bits of the device integer `seed[0]`, as `drop.out`.
    fn hashed_dropout(x: FloatTensor<Self>, seed: IntTensor<Self>, drop: Drop)
        -> FloatTensor<Self>;

    /// Whether `device` runs [`Kernels::TensorCores`] for projections stored as `dtype`.
    fn has_tensor_cores(device: &Self::Device, dtype: DType) -> bool;
}

/// One hashed dropout call: keep probability (below 1), ReLU first or not, the output's type.
#[derive(Clone, Copy, Debug)]
pub struct Drop {
    pub keep: f32,
    pub relu: bool,
    pub out: DType,
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> FusedBackend
    for CubeBackend<R, F, I, BT>
{
    fn fused_attention(
        qkv: FloatTensor<Self>,
        call: Call,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        launch::forward(qkv, &call)
    }

    fn fused_attention_backward(
        qkv: FloatTensor<Self>,
        ctx: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dctx: FloatTensor<Self>,
        call: Call,
    ) -> FloatTensor<Self> {
        launch::backward(qkv, ctx, lse, dctx, &call)
    }

    fn hashed_dropout(
        x: FloatTensor<Self>,
        seed: IntTensor<Self>,
        drop: Drop,
    ) -> FloatTensor<Self> {
        launch::dropout(x, seed, drop.keep, drop.relu, drop.out)
    }

    fn has_tensor_cores(device: &Self::Device, dtype: DType) -> bool {
        launch::has_tensor_cores(&R::client(device), dtype)
    }
}

/// Which kernel call a [`FusionCall`] makes.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Forward(Call),
    Backward(Call),
    /// Inputs `x` (float) and `seed` (int).
    Dropout(Drop),
}

/// A fused kernel call queued in burn-fusion's stream: run on the inner backend when the stream
/// reaches it.
#[derive(Clone, Debug)]
struct FusionCall<B> {
    desc: CustomOpIr,
    kernel: Kernel,
    _backend: std::marker::PhantomData<B>,
}

impl<B: FusionBackend + FusedBackend> FusionCall<B> {
    /// Queues `kernel` with `inputs`, returning the outputs described by `outputs`.
    fn queue(
        inputs: &[&FloatTensor<Fusion<B>>],
        outputs: &[(Shape, DType)],
        kernel: Kernel,
    ) -> Vec<FloatTensor<Fusion<B>>> {
        let client = inputs[0].client.clone();
        let outs: Vec<TensorIr> = (outputs.iter())
            .map(|(s, t)| TensorIr::uninit(client.create_empty_handle(), s.clone(), *t))
            .collect();
        let streams = OperationStreams::with_inputs(inputs.iter().copied());
        let ir: Vec<TensorIr> = inputs.iter().map(|t| (*t).clone().into_ir()).collect();
        let desc = CustomOpIr::new("scgenept_fused", &ir, &outs);
        let op = FusionCall::<B> {
            desc: desc.clone(),
            kernel,
            _backend: std::marker::PhantomData,
        };
        client.register(streams, OperationIr::Custom(desc), op)
    }
}

impl<B: FusionBackend + FusedBackend> Operation<B::FusionRuntime> for FusionCall<B> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>,
    ) {
        if let Kernel::Dropout(drop) = self.kernel {
            let ([x, seed], [out]) = self.desc.as_fixed();
            let (x, seed) = (
                handles.get_float_tensor::<B>(x),
                handles.get_int_tensor::<B>(seed),
            );
            let y = B::hashed_dropout(x, seed, drop);
            return handles.register_float_tensor::<B>(&out.id, y);
        }
        let inputs: Vec<_> = (self.desc.inputs.iter())
            .map(|t| handles.get_float_tensor::<B>(t))
            .collect();
        let outs: Vec<FloatTensor<B>> = match (self.kernel, <[_; 1]>::try_from(inputs)) {
            (Kernel::Forward(call), Ok([qkv])) => {
                let (ctx, lse) = B::fused_attention(qkv, call);
                vec![ctx, lse]
            }
            (Kernel::Backward(call), Err(inputs)) => {
                let [q, c, l, g] = <[_; 4]>::try_from(inputs).expect("four inputs");
                vec![B::fused_attention_backward(q, c, l, g, call)]
            }
            _ => unreachable!("inputs as queued"),
        };
        for (ir, t) in self.desc.outputs.iter().zip(outs) {
            handles.register_float_tensor::<B>(&ir.id, t);
        }
    }
}

impl<B: FusionBackend + FusedBackend> FusedBackend for Fusion<B> {
    fn fused_attention(
        qkv: FloatTensor<Self>,
        call: Call,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [b, l, d3] = qkv.shape.dims::<3>();
        let shapes = [
            (Shape::new([b, l, d3 / 3]), qkv.dtype),
            (Shape::new([b * call.heads * l]), DType::F32),
        ];
        let mut outs = FusionCall::<B>::queue(&[&qkv], &shapes, Kernel::Forward(call));
        let lse = outs.pop().expect("two outputs");
        (outs.pop().expect("two outputs"), lse)
    }

    fn fused_attention_backward(
        qkv: FloatTensor<Self>,
        ctx: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        dctx: FloatTensor<Self>,
        call: Call,
    ) -> FloatTensor<Self> {
        let shape = [(qkv.shape.clone(), qkv.dtype)];
        let inputs = [&qkv, &ctx, &lse, &dctx];
        let mut outs = FusionCall::<B>::queue(&inputs, &shape, Kernel::Backward(call));
        outs.pop().expect("one output")
    }

    fn hashed_dropout(
        x: FloatTensor<Self>,
        seed: IntTensor<Self>,
        drop: Drop,
    ) -> FloatTensor<Self> {
        let shape = [(x.shape.clone(), drop.out)];
        let mut outs = FusionCall::<B>::queue(&[&x, &seed], &shape, Kernel::Dropout(drop));
        outs.pop().expect("one output")
    }

    fn has_tensor_cores(device: &Self::Device, dtype: DType) -> bool {
        B::has_tensor_cores(device, dtype)
    }
}

/// What backward needs, on the device.
#[derive(Clone, Debug)]
struct Saved<I: Backend> {
    qkv: FloatTensor<I>,
    ctx: FloatTensor<I>,
    lse: FloatTensor<I>,
    call: Call,
}

#[derive(Debug)]
struct FusedAttentionOp;

impl<I: FusedBackend> Backward<I, 1> for FusedAttentionOp {
    type State = Saved<I>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        unary::<I, _>(ops.parents, ops.node, grads, |g| {
            I::fused_attention_backward(s.qkv, s.ctx, s.lse, g, s.call)
        });
    }
}

/// The op under autodiff: context `[B, L, D]` from packed `[B, L, 3·D]` projections.
pub fn tracked<I: FusedBackend>(
    qkv: FloatTensor<Autodiff<I>>,
    call: Call,
) -> FloatTensor<Autodiff<I>> {
    let inner = qkv.primitive.clone();
    let (ctx, lse) = I::fused_attention(inner.clone(), call);
    match FusedAttentionOp
        .prepare::<NoCheckpointing>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                qkv: inner,
                ctx: ctx.clone(),
                lse,
                call,
            },
            ctx,
        ),
        OpsKind::UnTracked(prep) => prep.finish(ctx),
    }
}

/// The primitive of `Autodiff<I>`, for [`on_cube_backends`].
pub(crate) type AdPrim<I> = FloatTensor<Autodiff<I>>;

/// The fused op under autodiff when `B` is `Autodiff` over a CubeCL backend of this build
/// (CUDA, wgpu); otherwise the tensor back, untouched.
pub fn training<B: Backend>(
    t: FloatTensor<B>,
    call: Call,
) -> Result<FloatTensor<B>, FloatTensor<B>> {
    on_cube_backends!(B, t, |x: AdPrim<I>| tracked::<I>(x, call))
}

/// The fused forward without autodiff (inference, no dropout) when `B` is a CubeCL backend of
/// this build; otherwise the tensor back, untouched.
pub fn inference<B: Backend>(
    t: FloatTensor<B>,
    heads: usize,
) -> Result<FloatTensor<B>, FloatTensor<B>> {
    let call = Call {
        heads,
        drop: None,
        kernels: Kernels::chosen(),
    };
    on_cube_backends!(B, t, |x: FloatTensor<I>| {
        <I as FusedBackend>::fused_attention(x, call).0
    })
}
