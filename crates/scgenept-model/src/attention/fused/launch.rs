//! Launching the fused kernels (`kernels.rs`) on burn's CubeCL tensors: output buffers, the
//! per-head dropout seeds, the block size that fits the device's shared memory, and the grid.

use burn::tensor::{DType, Shape, TensorMetadata};
use burn_cubecl::kernel::{cast, into_contiguous};
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::ir::features::MmaConfig;
use cubecl::prelude::*;

use super::{kernels, tiles, Call, Kernels};
use crate::attention::fused_plan::{block_rows, TilePlan};
use crate::attention::mask::{head_seed, keep_threshold};

/// The shape of one launch: sizes, block and the dropout arguments.
struct Plan {
    b: usize,
    l: usize,
    d: usize,
    dh: usize,
    block: usize,
    scale: f32,
    threshold: u32,
    keep_scale: f32,
}

impl Plan {
    fn new<R: CubeRuntime>(qkv: &CubeTensor<R>, call: &Call) -> Plan {
        let [b, l, d3] = qkv.shape().dims::<3>();
        let d = d3 / 3;
        let dh = d / call.heads;
        let hw = &qkv.client.properties().hardware;
        let block = block_rows(
            dh,
            hw.max_shared_memory_size,
            hw.max_units_per_cube as usize,
        );
        let (threshold, keep_scale) = match call.drop {
            // keep < 1, so the threshold is below 2³².
            Some(drop) => (keep_threshold(drop.keep) as u32, 1.0 / drop.keep),
            None => (0, 1.0),
        };
        Plan {
            b,
            l,
            d,
            dh,
            block,
            scale: (dh as f32).powf(-0.5),
            threshold,
            keep_scale,
        }
    }

    /// One cube per block of rows and per (sequence, head).
    fn grid(&self, heads: usize) -> (CubeCount, CubeDim) {
        let blocks = self.l.div_ceil(self.block) as u32;
        (
            CubeCount::Static(blocks, (self.b * heads) as u32, 1),
            CubeDim::new_1d(self.block as u32),
        )
    }
}

/// The tile kernels' grid: one cube per `planes · 16` rows and per (sequence, head).
fn tile_grid(plan: &TilePlan, sequences_heads: usize, l: usize) -> (CubeCount, CubeDim) {
    let blocks = l.div_ceil(plan.planes * 16) as u32;
    (
        CubeCount::Static(blocks, sequences_heads as u32, 1),
        CubeDim::new_1d((plan.planes * 32) as u32),
    )
}

/// What a call runs.
enum Resolved {
    Portable,
    Tiles(TilePlan),
}

/// Whether `client`'s device multiplies 16 × 16 × 16 tiles of `dtype` into f32 on tensor cores
/// (`cmma`).
pub fn has_tensor_cores<R: CubeRuntime>(client: &ComputeClient<R>, dtype: DType) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
        && client.features().matmul.cmma.contains(&MmaConfig {
            a_type: dtype.into(),
            b_type: dtype.into(),
            cd_type: DType::F32.into(),
            m: 16,
            n: 16,
            k: 16,
        })
}

/// The kernels `call.kernels` means for `qkv` on its device ([`Kernels`]). `Auto` falls back to
/// the portable kernels when no tile plan fits the device; a forced choice that cannot run ends
/// the process with one line, so a check or a benchmark never measures other kernels than it
/// names.
fn resolve<R: CubeRuntime>(qkv: &CubeTensor<R>, call: &Call) -> Resolved {
    let dh = qkv.shape().dims::<3>()[2] / 3 / call.heads;
    let tc = has_tensor_cores(&qkv.client, qkv.dtype);
    let tensor_cores = match call.kernels {
        Kernels::Portable => return Resolved::Portable,
        Kernels::Auto if !tc || !dh.is_multiple_of(16) => return Resolved::Portable,
        Kernels::Auto => true,
        Kernels::Tiles => false,
        Kernels::TensorCores if tc => true,
        Kernels::TensorCores => panic!(
            "SCGENEPT_FUSED_KERNELS=tensor-cores: this device has no tensor cores for {:?} \
             (CUDA with bf16 or f16 storage); use auto, portable or tiles",
            qkv.dtype
        ),
    };
    let hw = &qkv.client.properties().hardware;
    let t_bytes = qkv.dtype.size();
    let (shared, units) = (hw.max_shared_memory_size, hw.max_units_per_cube as usize);
    match TilePlan::new(dh, t_bytes, shared, units, tensor_cores) {
        Some(plan) => Resolved::Tiles(plan),
        None if call.kernels == Kernels::Auto => Resolved::Portable,
        None => panic!(
            "SCGENEPT_FUSED_KERNELS: no tile plan for head width {dh} fits this device \
             ({shared} bytes of shared memory, {units} units per cube); use auto or portable"
        ),
    }
}

/// A new contiguous tensor of `dtype` on `like`'s device.
fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: Shape, dtype: DType) -> CubeTensor<R> {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape, dtype)
}

/// `t` contiguous and of `dtype` (the projections' type: the gradient of a bf16 context may
/// arrive in f32).
fn as_dtype<R: CubeRuntime>(t: CubeTensor<R>, dtype: DType) -> CubeTensor<R> {
    into_contiguous(cast(t, dtype))
}

/// Each (sequence, head)'s dropout seed (`mask::head_seed`), or one unused zero.
fn seeds<R: CubeRuntime>(like: &CubeTensor<R>, b: usize, call: &Call) -> CubeTensor<R> {
    let values: Vec<u32> = match call.drop {
        Some(drop) => (0..b * call.heads)
            .map(|bh| head_seed(drop.seed, bh / call.heads, bh % call.heads, call.heads))
            .collect(),
        None => vec![0],
    };
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let handle = like.client.create_from_slice(&bytes);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        Shape::new([values.len()]),
        handle,
        DType::U32,
    )
}

/// Forward: the context `[B, L, D]` (the projections' type) and the log-sum-exp `[B·H·L]` (f32)
/// of packed projections (f32 or bf16), by the kernels `call.kernels` resolves to.
pub fn forward<R: CubeRuntime>(qkv: CubeTensor<R>, call: &Call) -> (CubeTensor<R>, CubeTensor<R>) {
    let qkv = into_contiguous(qkv);
    let p = Plan::new(&qkv, call);
    let dtype = qkv.dtype;
    let ctx = empty(&qkv, Shape::new([p.b, p.l, p.d]), dtype);
    let lse = empty(&qkv, Shape::new([p.b * call.heads * p.l]), DType::F32);
    let seeds = seeds(&qkv, p.b, call);
    let client = qkv.client.clone();
    let (heads, drop) = (call.heads as u32, call.drop.is_some() as u32);
    match resolve(&qkv, call) {
        Resolved::Portable => {
            let (count, dim) = p.grid(call.heads);
            kernels::forward::launch::<R>(
                &client,
                count,
                dim,
                qkv.into_tensor_arg(),
                seeds.into_tensor_arg(),
                ctx.clone().into_tensor_arg(),
                lse.clone().into_tensor_arg(),
                heads,
                p.scale,
                p.threshold,
                p.keep_scale,
                p.dh,
                p.block,
                drop,
                dtype.into(),
            )
        }
        Resolved::Tiles(t) => {
            let (count, dim) = tile_grid(&t, p.b * call.heads, p.l);
            tiles::forward::launch::<R>(
                &client,
                count,
                dim,
                qkv.into_tensor_arg(),
                seeds.into_tensor_arg(),
                ctx.clone().into_tensor_arg(),
                lse.clone().into_tensor_arg(),
                heads,
                p.scale,
                p.threshold,
                p.keep_scale,
                drop,
                p.dh as u32,
                t.dp,
                t.planes,
                t.bk,
                t.tensor_cores,
                [dtype.into(), dtype.into()],
            )
        }
    }
    (ctx, lse)
}

/// Backward: the gradient `[B, L, 3·D]` of the packed projections from the forward's saved
/// context and log-sum-exp and the context's gradient `dctx`.
pub fn backward<R: CubeRuntime>(
    qkv: CubeTensor<R>,
    ctx: CubeTensor<R>,
    lse: CubeTensor<R>,
    dctx: CubeTensor<R>,
    call: &Call,
) -> CubeTensor<R> {
    let qkv = into_contiguous(qkv);
    let dtype = qkv.dtype;
    let dctx = as_dtype(dctx, dtype);
    let p = Plan::new(&qkv, call);
    let client = qkv.client.clone();
    let delta = empty(&qkv, Shape::new([p.b * call.heads * p.l]), DType::F32);
    let (count, dim) = p.grid(call.heads);
    kernels::delta::launch::<R>(
        &client,
        count.clone(),
        dim,
        dctx.clone().into_tensor_arg(),
        as_dtype(ctx, dtype).into_tensor_arg(),
        delta.clone().into_tensor_arg(),
        call.heads as u32,
        p.dh,
        dtype.into(),
    );
    let dqkv = empty(&qkv, Shape::new([p.b, p.l, 3 * p.d]), dtype);
    let seeds = seeds(&qkv, p.b, call);
    let (heads, drop) = (call.heads as u32, call.drop.is_some() as u32);
    // dQ, then dK and dV: the same tensors and dropout arguments, then each family's own; each
    // kernel writes its own parts of `dqkv`.
    macro_rules! gradient {
        ($module:ident :: $kernel:ident, $count:expr, $dim:expr, $($rest:expr),+) => {
            $module::$kernel::launch::<R>(
                &client,
                $count,
                $dim,
                qkv.clone().into_tensor_arg(),
                dctx.clone().into_tensor_arg(),
                lse.clone().into_tensor_arg(),
                delta.clone().into_tensor_arg(),
                seeds.clone().into_tensor_arg(),
                dqkv.clone().into_tensor_arg(),
                heads,
                p.scale,
                p.threshold,
                p.keep_scale,
                $($rest),+
            )
        };
    }
    match resolve(&qkv, call) {
        Resolved::Portable => {
            let e = dtype.into();
            gradient!(
                kernels::backward_dq,
                count.clone(),
                dim,
                p.dh,
                p.block,
                drop,
                e
            );
            gradient!(kernels::backward_dkv, count, dim, p.dh, p.block, drop, e);
        }
        Resolved::Tiles(t) => {
            let (count, dim) = tile_grid(&t, p.b * call.heads, p.l);
            let types = [dtype.into(), dtype.into()];
            let tc = t.tensor_cores;
            gradient!(
                tiles::backward_dq,
                count.clone(),
                dim,
                drop,
                p.dh as u32,
                t.dp,
                t.planes,
                t.bk,
                tc,
                types
            );
            gradient!(
                tiles::backward_dkv,
                count,
                dim,
                drop,
                p.dh as u32,
                t.dp,
                t.planes,
                t.bk,
                tc,
                types
            );
        }
    }
    dqkv
}

/// Dropout with keep probability `keep`: `x` (with `relu`, `max(x, 0)`) times its hashed,
/// scaled mask, written as `out` (f32 or bf16); the seed is the bits of the device integer
/// `seed[0]`.
pub fn dropout<R: CubeRuntime>(
    x: CubeTensor<R>,
    seed: CubeTensor<R>,
    keep: f32,
    relu: bool,
    out: DType,
) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let n = x.shape().num_elements();
    let y = empty(&x, x.shape(), out);
    const UNITS: usize = 256;
    let cubes = n.div_ceil(UNITS).max(1);
    // At most 65,535 cubes per grid dimension (WebGPU's limit).
    let cx = cubes.min(65_535);
    let count = CubeCount::Static(cx as u32, cubes.div_ceil(cx) as u32, 1);
    let types = [seed.dtype.into(), x.dtype.into(), out.into()];
    kernels::dropout::launch::<R>(
        &x.client.clone(),
        count,
        CubeDim::new_1d(UNITS as u32),
        x.into_tensor_arg(),
        seed.clone().into_tensor_arg(),
        y.clone().into_tensor_arg(),
        keep_threshold(keep) as u32,
        1.0 / keep,
        relu,
        types,
    );
    y
}
