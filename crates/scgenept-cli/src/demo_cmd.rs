//! `scgenept demo`: the README's main job until training lands. It runs the real network on the
//! committed parity fixture (a checkpoint and inputs produced by the reference PyTorch code) and
//! shows, on this machine, that the forward pass matches PyTorch, that a checkpoint survives
//! export/reload unchanged, and what a training step costs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;

use scgenept_model::checkpoint::{
    export_safetensors, import_checkpoint, load_checkpoint, read_state_dict,
};
use scgenept_model::state_dict::model_state_dict;
use scgenept_model::{HostTensor, ScGenePT};
use scgenept_train::bench::StepBench;
use scgenept_train::Device;

use crate::model_cmd::read_model_config;

type B = Flex;

#[derive(Args)]
pub struct DemoArgs {
    /// Parity fixture directory (from scripts/make_model_fixtures.py).
    #[arg(long, default_value = "tests/fixtures/model")]
    fixtures: PathBuf,
    /// Where to write the exported bundle.
    #[arg(long, default_value = "runs/demo/bundle")]
    out: PathBuf,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let fx = &a.fixtures;
    if !fx.join("config.json").is_file() {
        bail!(
            "{}: no parity fixture here; run from the repository root or pass --fixtures DIR",
            fx.display()
        );
    }
    let device = Default::default();
    let cfg = read_model_config(&fx.join("config.json"))?;
    println!(
        "1. network: d_model {} · {} layers · {} heads · sources [{}]",
        cfg.d_model,
        cfg.nlayers,
        cfg.nhead,
        cfg.knowledge_sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let model = ScGenePT::<B>::new(&cfg, &device)?;
    let ckpt = fx.join("state_dict_flash.pt");
    let (model, report) = import_checkpoint(model, &ckpt, None)?;
    print!(
        "2. imported {} (flash-attn layout): {report}",
        ckpt.display()
    );

    let io = read_state_dict(&fx.join("io.safetensors"))?;
    let tensor = |k: &str| -> Result<&HostTensor> {
        io.get(k)
            .with_context(|| format!("io.safetensors lacks '{k}'"))
    };
    let float = |t: &HostTensor| {
        Tensor::<B, 2>::from_data(TensorData::new(t.data.clone(), t.shape.clone()), &device)
    };
    let int = |t: &HostTensor| {
        let v: Vec<i64> = t.data.iter().map(|x| *x as i64).collect();
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, t.shape.clone()), &device)
    };
    let out = model.try_forward(
        int(tensor("gene_ids")?),
        float(tensor("values")?),
        int(tensor("pert_flags")?),
    )?;
    let shape = out.dims().to_vec();
    let ours = HostTensor::new(
        shape,
        out.into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    let diff = ours
        .max_abs_diff(tensor("output")?)
        .context("output shape differs from the reference")?;
    println!(
        "3. forward on {:?} inputs: max |scgenept - PyTorch| = {diff:.2e}",
        tensor("gene_ids")?.shape
    );
    if diff > 1e-5 {
        bail!("forward pass differs from the reference by {diff:.2e} (> 1e-5)");
    }

    export_safetensors(&model, &a.out)?;
    let reloaded = load_checkpoint::<B>(&a.out, &device)?;
    let same = model_state_dict(&reloaded) == model_state_dict(&model);
    println!(
        "4. exported {} and reloaded it: {}",
        a.out.display(),
        if same { "identical" } else { "DIFFERENT" }
    );
    if !same {
        bail!("export/reload round trip changed the weights");
    }

    let r = Device::cpu().dispatch(StepBench::small())?;
    println!(
        "5. one training step (forward + backward, batch {} × {} genes) on the CPU: {:.1} ms",
        r.batch, r.seq_len, r.ms_per_step_mean
    );
    println!("\nnext: `scgenept model types`, `scgenept model import --help`, `scgenept bench step --size full`");
    Ok(())
}
