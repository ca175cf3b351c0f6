//! Parity with the reference PyTorch code (fixtures from `scripts/make_model_fixtures.py`, which
//! runs scGPT's own modules): forward, loss, every gradient, both checkpoint layouts, and the
//! export round trip.

use std::path::PathBuf;

use crate::common::tempdir;
use burn::backend::{Autodiff, Flex};
use burn::tensor::{Int, Tensor, TensorData};
use scgenept_model::checkpoint::{import_checkpoint, read_state_dict};
use scgenept_model::state_dict::{grads_state_dict, model_state_dict};
use scgenept_model::{export_safetensors, HostTensor, ModelConfig, ScGenePT, StateDict};

type B = Autodiff<Flex>;

fn fixtures() -> PathBuf {
    crate::common::fixture("model")
}

fn config() -> ModelConfig {
    let text = std::fs::read_to_string(fixtures().join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn reference_model(file: &str) -> ScGenePT<B> {
    let device = Default::default();
    let model = ScGenePT::<B>::new(&config(), &device).unwrap();
    let (model, report) = import_checkpoint(model, &fixtures().join(file), None).unwrap();
    assert!(report.missing.is_empty(), "missing: {:?}", report.missing);
    assert!(report.unused.is_empty(), "unused: {:?}", report.unused);
    assert!(report.mismatched.is_empty());
    model
}

struct Io {
    gene_ids: Tensor<B, 2, Int>,
    values: Tensor<B, 2>,
    pert_flags: Tensor<B, 2, Int>,
    target: Tensor<B, 2>,
    output: HostTensor,
    loss: f32,
}

fn io() -> Io {
    let sd = read_state_dict(&fixtures().join("io.safetensors")).unwrap();
    let device = Default::default();
    let float = |k: &str| {
        let t = &sd[k];
        Tensor::<B, 2>::from_data(TensorData::new(t.data.clone(), t.shape.clone()), &device)
    };
    let int = |k: &str| {
        let t = &sd[k];
        let v: Vec<i64> = t.data.iter().map(|x| *x as i64).collect();
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, t.shape.clone()), &device)
    };
    Io {
        gene_ids: int("gene_ids"),
        values: float("values"),
        pert_flags: int("pert_flags"),
        target: float("target"),
        output: sd["output"].clone(),
        loss: sd["loss"].data[0],
    }
}

fn host<const D: usize>(t: Tensor<B, D>) -> HostTensor {
    let shape = t.dims().to_vec();
    HostTensor::new(shape, t.into_data().convert::<f32>().into_vec().unwrap())
}

#[test]
fn forward_loss_and_every_gradient_match_pytorch() {
    let model = reference_model("state_dict_torch.pt");
    let io = io();
    let out = model.forward(io.gene_ids, io.values, io.pert_flags);
    let fwd = host(out.clone()).max_abs_diff(&io.output).unwrap();
    println!("forward max |ours - torch| = {fwd:.3e}");
    assert!(fwd <= 1e-5, "forward differs by {fwd}");

    let loss = (out - io.target).powf_scalar(2.0).mean();
    let ours: f32 = loss.clone().into_scalar();
    println!("loss ours {ours:.7} torch {:.7}", io.loss);
    assert!((ours - io.loss).abs() <= 1e-6);

    let grads = loss.backward();
    let ours = grads_state_dict(&model, &grads);
    let theirs = read_state_dict(&fixtures().join("grads.safetensors")).unwrap();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "every parameter has a gradient on both sides"
    );
    let mut worst = (0.0f32, String::new());
    for (k, g) in &theirs {
        let d = ours[k]
            .max_abs_diff(g)
            .unwrap_or_else(|| panic!("{k}: shape"));
        if d > worst.0 {
            worst = (d, k.clone());
        }
        assert!(d <= 1e-4, "gradient of {k} differs by {d}");
    }
    println!(
        "gradients: max |ours - torch| = {:.3e} ({})",
        worst.0, worst.1
    );

    // Padding rows get exactly no gradient, as with PyTorch's padding_idx.
    let cfg = config();
    for k in [
        "encoder.embedding.weight",
        "genept_encoder.embedding.weight",
        "gopt_encoder_c.embedding.weight",
    ] {
        let g = &ours[k];
        let d = g.shape[1];
        let pad = &g.data[cfg.pad_token_id * d..(cfg.pad_token_id + 1) * d];
        assert!(pad.iter().all(|x| *x == 0.0), "{k} pad row has gradient");
        assert!(g.data.iter().any(|x| *x != 0.0));
    }
    let g = &ours["pert_encoder.weight"];
    let d = g.shape[1];
    assert!(g.data[cfg.pert_pad_id * d..(cfg.pert_pad_id + 1) * d]
        .iter()
        .all(|x| *x == 0.0));
}

/// Without autodiff, burn-flex runs attention through the host kernels (`attention/infer.rs`, `attention/host.rs`).
#[test]
fn inference_forward_matches_pytorch() {
    use burn::module::AutodiffModule;
    let model = reference_model("state_dict_torch.pt").valid();
    let io = io();
    let out = model.forward(
        io.gene_ids.inner(),
        io.values.inner(),
        io.pert_flags.inner(),
    );
    let shape = out.dims().to_vec();
    let got = HostTensor::new(shape, out.into_data().convert::<f32>().into_vec().unwrap());
    let d = got.max_abs_diff(&io.output).unwrap();
    println!("inference forward max |ours - torch| = {d:.3e}");
    assert!(d <= 1e-5, "inference forward differs by {d}");
}

#[test]
fn flash_and_torch_layouts_load_identically() {
    let a = model_state_dict(&reference_model("state_dict_torch.pt"));
    let b = model_state_dict(&reference_model("state_dict_flash.pt"));
    assert_eq!(a, b);
}

#[test]
fn import_export_round_trip_is_exact() {
    let model = reference_model("state_dict_torch.pt");
    let torch_sd = read_state_dict(&fixtures().join("state_dict_torch.pt")).unwrap();
    let ours = model_state_dict(&model);
    assert_eq!(
        &ours, &torch_sd,
        "imported parameters equal the checkpoint exactly"
    );

    let dir = tempdir("parity-roundtrip");
    export_safetensors(&model, &dir).unwrap();
    let back: StateDict = read_state_dict(&dir.join("model.safetensors")).unwrap();
    assert_eq!(back, torch_sd);
    let reloaded = scgenept_model::load_checkpoint::<B>(&dir, &Default::default()).unwrap();
    assert_eq!(model_state_dict(&reloaded), torch_sd);
    assert_eq!(reloaded.config(), &config());

    // The committed export that torch loaded strictly (scripts/make_model_fixtures.py
    // --check-export) is byte-for-byte what the exporter writes today.
    let committed = std::fs::read(fixtures().join("exported/model.safetensors")).unwrap();
    let fresh = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(
        committed == fresh,
        "exporter output changed since torch verified it"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
