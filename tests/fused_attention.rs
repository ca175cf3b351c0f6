//! The fused attention kernels (`attention/fused/`) on a real wgpu device — in CI, Mesa's CPU
//! Vulkan driver lavapipe (`.ci/run` installs it; `VK_ICD_FILENAMES` points at it) — against
//! the host op of `attention/host.rs`, itself tested against burn's autodiff: the context, the
//! log-sum-exp and every gradient within 1e-5 (relative to values above 1), with and without
//! dropout (the same counter-hash mask on both), at awkward shapes; and two runs byte-identical.
//! Also the lighter saves beside it: the device dropout against its hashed mask and the lean
//! LayerNorm against burn's. Built with `--features wgpu` only (in the CLI's test binary, which
//! CI already builds with wgpu for `cli_wgpu`); `cargo test -p scgenept-cli --features wgpu
//! --test cli_suite -- fused_attention fused_dropout lean_layer_norm` runs them.
#![cfg(feature = "wgpu")]

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Wgpu};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use scgenept_model::attention::fused::{self, Call, FusedBackend};
use scgenept_model::attention::host::{backward_host, forward_host};
use scgenept_model::attention::Dims;
use scgenept_model::dropout::DropMask;

/// Deterministic values, roughly N(0, 1) (sum of uniforms).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            let mut sum = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                sum += (s >> 40) as f32 / (1u64 << 24) as f32;
            }
            (sum - 2.0) * 1.7
        })
        .collect()
}

/// The largest difference relative to max(1, |want|).
fn worst(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// What one fused run gives: context, log-sum-exp (forward alone) and the gradient of
/// `sum(ctx ⊙ w)` through autodiff.
struct Run {
    ctx: Vec<f32>,
    lse: Vec<f32>,
    grad: Vec<f32>,
}

fn run(qkv: &[f32], w: &[f32], dims: Dims, drop: Option<DropMask>) -> Run {
    let device = WgpuDevice::DefaultDevice;
    let Dims { b, l, d, heads } = dims;
    let call = Call { heads, drop };
    let x = Tensor::<Autodiff<Wgpu>, 3>::from_data(
        TensorData::new(qkv.to_vec(), [b, l, 3 * d]),
        &device,
    )
    .require_grad();
    let out = fused::tracked::<Wgpu>(x.clone().into_primitive().tensor(), call);
    let out = Tensor::<Autodiff<Wgpu>, 3>::from_primitive(TensorPrimitive::Float(out));
    let wt =
        Tensor::<Autodiff<Wgpu>, 3>::from_data(TensorData::new(w.to_vec(), [b, l, d]), &device);
    let grads = (out.clone() * wt).sum().backward();
    let plain = Tensor::<Wgpu, 3>::from_data(TensorData::new(qkv.to_vec(), [b, l, 3 * d]), &device);
    let (_, lse) = <Wgpu as FusedBackend>::fused_attention(plain.into_primitive().tensor(), call);
    let lse = Tensor::<Wgpu, 1>::from_primitive(TensorPrimitive::Float(lse));
    let vec = |d: TensorData| d.into_vec::<f32>().expect("f32");
    Run {
        ctx: vec(out.into_data()),
        lse: vec(lse.into_data()),
        grad: vec(x.grad(&grads).expect("a gradient").into_data()),
    }
}

/// Fused against host at one shape; returns the worst relative difference.
fn compare(b: usize, l: usize, heads: usize, dh: usize, dropout: f32) -> f32 {
    let dims = Dims {
        b,
        l,
        d: heads * dh,
        heads,
    };
    let drop = (dropout > 0.0).then_some(DropMask {
        keep: 1.0 - dropout,
        seed: 7 + l as u64,
    });
    let qkv = values(b * l * 3 * dims.d, l as u64);
    let w = values(b * l * dims.d, 1000 + l as u64);
    let got = run(&qkv, &w, dims, drop);
    let (ctx, lse) = forward_host(&qkv, dims, drop);
    let grad = backward_host(&qkv, &ctx, &lse, &w, dims, drop);
    let e = [
        worst(&got.ctx, &ctx),
        worst(&got.lse, &lse),
        worst(&got.grad, &grad),
    ];
    let e = e.into_iter().fold(0.0, f32::max);
    println!("fused_attention b {b} l {l} heads {heads} dh {dh} dropout {dropout}: {e:.2e}");
    assert!(
        e <= 1e-5,
        "b {b} l {l} dh {dh} dropout {dropout}: {e:e} from the host op"
    );
    e
}

#[test]
fn fused_attention_equals_the_host_op_at_awkward_shapes() {
    let mut all = 0.0f32;
    for (i, l) in [1, 7, 130, 1000].into_iter().enumerate() {
        for (j, dh) in [8, 16, 64].into_iter().enumerate() {
            // Batch 3 at the short lengths, batch 1 at 1,000 (its compute dominates on lavapipe).
            let b = if (i + j) % 2 == 1 && l < 1000 { 3 } else { 1 };
            for dropout in [0.0, 0.2] {
                all = all.max(compare(b, l, 2, dh, dropout));
            }
        }
    }
    println!("fused_attention: worst relative difference {all:.2e}");
}

/// Two sequences of 130 tokens, four heads of width 16, dropout 0.2 with `seed`.
fn mid_shape(seed: u64) -> (Dims, Option<DropMask>) {
    let dims = Dims {
        b: 2,
        l: 130,
        d: 64,
        heads: 4,
    };
    (dims, Some(DropMask { keep: 0.8, seed }))
}

#[test]
fn fused_attention_runs_are_byte_identical() {
    let (dims, drop) = mid_shape(11);
    let qkv = values(2 * 130 * 3 * 64, 3);
    let w = values(2 * 130 * 64, 4);
    let a = run(&qkv, &w, dims, drop);
    let b = run(&qkv, &w, dims, drop);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.ctx), bits(&b.ctx));
    assert_eq!(bits(&a.lse), bits(&b.lse));
    assert_eq!(bits(&a.grad), bits(&b.grad));
}

/// The kernels store the projections, the context and their gradients in the compute precision
/// (bf16 under `precision = "bf16"`) and compute in f32. lavapipe has no bf16, so f16 stands in:
/// the same generic kernels, another 16-bit type. Against the host op on the same rounded
/// inputs: the log-sum-exp (f32) within 1e-5, the context and the gradient within f16's
/// rounding of the values they are made of.
#[test]
fn fused_attention_reads_and_writes_half_precision() {
    use burn::tensor::FloatDType;
    let device = WgpuDevice::DefaultDevice;
    let (dims, drop) = mid_shape(13);
    let (n, m) = (2 * 130 * 3 * 64, 2 * 130 * 64);
    let round = |v: Vec<f32>| {
        let t = Tensor::<Wgpu, 1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
        let t = t.cast(FloatDType::F16).cast(FloatDType::F32);
        t.into_data().into_vec::<f32>().expect("f32")
    };
    let (qkv, w) = (round(values(n, 41)), round(values(m, 42)));
    let x = Tensor::<Autodiff<Wgpu>, 3>::from_data(
        TensorData::new(qkv.clone(), [2, 130, 3 * 64]),
        &device,
    )
    .require_grad();
    let half = x.clone().cast(FloatDType::F16).into_primitive().tensor();
    let call = Call { heads: 4, drop };
    let ctx = fused::tracked::<Wgpu>(half, call);
    let ctx = Tensor::<Autodiff<Wgpu>, 3>::from_primitive(TensorPrimitive::Float(ctx));
    assert_eq!(
        ctx.dtype(),
        DType::F16,
        "the context in the projections' type"
    );
    let ctx = ctx.cast(FloatDType::F32);
    let wt =
        Tensor::<Autodiff<Wgpu>, 3>::from_data(TensorData::new(w.clone(), [2, 130, 64]), &device);
    let grads = (ctx.clone() * wt).sum().backward();
    let plain = Tensor::<Wgpu, 3>::from_data(TensorData::new(qkv.clone(), [2, 130, 192]), &device);
    let plain = plain.cast(FloatDType::F16).into_primitive().tensor();
    let (_, lse) = <Wgpu as FusedBackend>::fused_attention(plain, call);
    let lse = Tensor::<Wgpu, 1>::from_primitive(TensorPrimitive::Float(lse));
    assert_eq!(lse.dtype(), DType::F32, "the log-sum-exp in f32");
    let vec = |d: TensorData| d.into_vec::<f32>().expect("f32");
    let (want_ctx, want_lse) = forward_host(&qkv, dims, drop);
    let want_grad = backward_host(&qkv, &want_ctx, &want_lse, &w, dims, drop);
    let e = [
        worst(&vec(ctx.into_data()), &want_ctx),
        worst(&vec(lse.into_data()), &want_lse),
        worst(
            &vec(x.grad(&grads).expect("a gradient").into_data()),
            &want_grad,
        ),
    ];
    println!(
        "fused_attention in f16: context {:.2e}, lse {:.2e}, gradient {:.2e}",
        e[0], e[1], e[2]
    );
    assert!(e[1] <= 1e-5, "lse {:e}", e[1]);
    assert!(
        e[0] <= 1e-3 && e[2] <= 4e-3,
        "context {:e}, gradient {:e}",
        e[0],
        e[2]
    );
}

/// The device dropout (`attention/fused/dropout.rs`): the output is the input (with ReLU,
/// `max(x, 0)`) times the hashed mask computed on the host (`mask::device_kept`), the gradient
/// the incoming gradient times the same mask (regenerated, not stored; with ReLU, read off the
/// output alone), and the mask keeps its share. The seed is a device integer with its sign bit
/// set, so the kernel's reading of its bits is checked too.
#[test]
fn fused_dropout_is_the_hashed_mask_in_forward_and_backward() {
    use scgenept_model::attention::mask::{device_kept, keep_threshold};
    let n = 4 * 300 * 70;
    let (x, w) = (values(n, 21), values(n, 22));
    let (keep, seed) = (0.8f32, 0xdead_beef_u32);
    let threshold = keep_threshold(keep) as u32;
    let mask: Vec<f32> = (0..n)
        .map(|i| match device_kept(seed, i, threshold) {
            true => 1.0 / keep,
            false => 0.0,
        })
        .collect();
    let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / n as f64;
    assert!((kept - 0.8).abs() < 0.005, "kept {kept}");
    for relu in [false, true] {
        let (got, grad) = device_dropout(&x, &w, seed, keep, relu, DType::F32);
        let r = |a: f32| if relu { a.max(0.0) } else { a };
        let want: Vec<f32> = x.iter().zip(&mask).map(|(&a, m)| r(a) * m).collect();
        let want_grad: Vec<f32> = (w.iter().zip(&mask).zip(&x))
            .map(|((a, m), &xi)| if relu && xi <= 0.0 { 0.0 } else { a * m })
            .collect();
        let e = worst(&got, &want).max(worst(&grad, &want_grad));
        println!("fused dropout (relu {relu}): kept {kept:.4}, worst relative difference {e:.2e}");
        assert!(e <= 1e-6, "relu {relu}: {e:e}");
        // Written in a 16-bit type (bf16 under bf16; f16 on lavapipe): one rounding of each.
        if relu {
            let (got, grad) = device_dropout(&x, &w, seed, keep, relu, DType::F16);
            let e = worst(&got, &want).max(worst(&grad, &want_grad));
            println!("fused dropout (relu, written in f16): worst relative difference {e:.2e}");
            assert!(e <= 1e-3, "relu in f16: {e:e}");
        }
    }
}

/// The hashed dropout on wgpu: output (as f32) and the gradient of `sum(y ⊙ w)` for input `x`
/// `[4, 300, 70]`, the output written as `out`.
fn device_dropout(
    x: &[f32],
    w: &[f32],
    seed: u32,
    keep: f32,
    relu: bool,
    out: DType,
) -> (Vec<f32>, Vec<f32>) {
    use burn::tensor::{FloatDType, Int};
    let device = WgpuDevice::DefaultDevice;
    let shape = [4, 300, 70];
    let seed_t = Tensor::<Autodiff<Wgpu>, 1, Int>::from_data(
        TensorData::new(vec![seed as i32], [1]),
        &device,
    );
    let xt = Tensor::<Autodiff<Wgpu>, 3>::from_data(TensorData::new(x.to_vec(), shape), &device)
        .require_grad();
    let (t, s) = (
        xt.clone().into_primitive().tensor(),
        seed_t.into_primitive(),
    );
    let drop = fused::Drop { keep, relu, out };
    let y = fused::dropout::<Autodiff<Wgpu>>(t, s, drop)
        .unwrap_or_else(|_| panic!("wgpu runs the hashed dropout"));
    let y = Tensor::<Autodiff<Wgpu>, 3>::from_primitive(TensorPrimitive::Float(y));
    assert_eq!(y.dtype(), out);
    let y = y.cast(FloatDType::F32);
    let wt = Tensor::<Autodiff<Wgpu>, 3>::from_data(TensorData::new(w.to_vec(), shape), &device);
    let grads = (y.clone() * wt).sum().backward();
    let vec = |d: TensorData| d.into_vec::<f32>().expect("f32");
    (
        vec(y.into_data()),
        vec(xt.grad(&grads).expect("a gradient").into_data()),
    )
}

/// The lean LayerNorm (`layer_norm.rs`, saving `x̂` and `rstd` only) against burn's LayerNorm on
/// the same device: the output and the gradients of the input, γ and β within 1e-5.
#[test]
fn lean_layer_norm_equals_burns_on_wgpu() {
    use burn::module::Param;
    use burn::nn::LayerNormConfig;
    use scgenept_model::layer_norm::layer_norm;
    type A = Autodiff<Wgpu>;
    let device = WgpuDevice::DefaultDevice;
    let (b, l, d) = (3, 37, 48);
    let run = |lean: bool| {
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(1e-5)
            .init::<A>(&device);
        let vec1 = |v: Vec<f32>| Tensor::<A, 1>::from_data(TensorData::new(v, [d]), &device);
        norm.gamma = Param::from_tensor(vec1(values(d, 31)));
        norm.beta = Some(Param::from_tensor(vec1(values(d, 32))));
        let x =
            Tensor::<A, 3>::from_data(TensorData::new(values(b * l * d, 33), [b, l, d]), &device)
                .require_grad();
        let w =
            Tensor::<A, 3>::from_data(TensorData::new(values(b * l * d, 34), [b, l, d]), &device);
        let y = match lean {
            true => layer_norm(&norm, x.clone(), 1e-5),
            false => norm.forward(x.clone()),
        };
        let grads = (y.clone() * w).sum().backward();
        let v = |t: Tensor<Wgpu, 1>| t.into_data().into_vec::<f32>().expect("f32");
        let v3 = |t: Tensor<Wgpu, 3>| t.into_data().into_vec::<f32>().expect("f32");
        let beta = norm.beta.as_ref().expect("beta").val();
        [
            v3(y.inner()),
            v3(x.grad(&grads).expect("dx")),
            v(norm.gamma.val().grad(&grads).expect("dγ")),
            v(beta.grad(&grads).expect("dβ")),
        ]
    };
    let (lean, burn) = (run(true), run(false));
    let e = (lean.iter().zip(&burn))
        .map(|(a, b)| worst(a, b))
        .fold(0.0, f32::max);
    println!("lean layer norm: worst relative difference {e:.2e}");
    assert!(e <= 1e-5, "{e:e}");
}
