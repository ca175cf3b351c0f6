//! `scgenept demo`: the network on the committed parity fixture (a checkpoint and inputs written
//! by the reference PyTorch code), on any device: the forward pass against PyTorch's output, a
//! checkpoint's export/reload round trip, and what a training step costs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

use scgenept_model::checkpoint::{
    export_safetensors, import_checkpoint, load_checkpoint, read_config, read_state_dict,
};
use scgenept_model::host::on_host;
use scgenept_model::state_dict::model_state_dict;
use scgenept_model::{HostTensor, ScGenePT};

use crate::bench::step::StepBench;
use crate::device::WithBackend;

/// The demo's inputs: the fixture directory and where the exported bundle goes.
pub struct DemoJob {
    pub fixtures: PathBuf,
    pub out: PathBuf,
}

/// Largest forward difference from PyTorch accepted on the CPU, where the attention computes in
/// f32 as PyTorch's does; GPU backends' fused attention may compute in reduced precision, so
/// there the demo reports the difference against a looser bound.
const CPU_BOUND: f32 = 1e-5;
const GPU_BOUND: f32 = 1e-2;

impl WithBackend for DemoJob {
    /// The numbered lines the demo prints.
    type Output = Vec<String>;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<Vec<String>> {
        let fx = &self.fixtures;
        if !fx.join("config.json").is_file() {
            bail!(
                "{}: no parity fixture here; run from the repository root or pass --fixtures DIR",
                fx.display()
            );
        }
        let cfg = read_config(fx)?;
        let sources: Vec<String> = (cfg.knowledge_sources.iter())
            .map(|s| s.source.to_string())
            .collect();
        let mut lines = vec![format!(
            "1. network: d_model {} · {} layers · {} heads · sources [{}]",
            cfg.d_model,
            cfg.nlayers,
            cfg.nhead,
            sources.join(", ")
        )];
        let model = ScGenePT::<B::InnerBackend>::new(&cfg, &device)?;
        let ckpt = fx.join("state_dict_flash.pt");
        let (model, report) = import_checkpoint(model, &ckpt, None)?;
        lines.push(format!(
            "2. imported {} (flash-attn layout): {}",
            ckpt.display(),
            report.to_string().trim_end()
        ));
        lines.push(forward_parity(&model, &self, &device, label)?);
        export_safetensors(&model, &self.out)?;
        let reloaded = load_checkpoint::<B::InnerBackend>(&self.out, &device)?;
        if model_state_dict(&reloaded) != model_state_dict(&model) {
            bail!("export/reload round trip changed the weights");
        }
        lines.push(format!(
            "4. exported {} and reloaded it: identical",
            self.out.display()
        ));
        let r = StepBench::small().run::<B>(device, label)?;
        lines.push(format!(
            "5. one training step (forward + backward, batch {} × {} genes) on {label}: {:.1} ms",
            r.batch, r.seq_len, r.ms_per_step_mean
        ));
        Ok(lines)
    }
}

/// Runs the fixture's inputs through `model` and compares with PyTorch's output.
fn forward_parity<B: Backend>(
    model: &ScGenePT<B>,
    job: &DemoJob,
    device: &B::Device,
    label: &str,
) -> Result<String> {
    let io = read_state_dict(&job.fixtures.join("io.safetensors"))?;
    let tensor = |k: &str| -> Result<&HostTensor> {
        io.get(k)
            .with_context(|| format!("io.safetensors lacks '{k}'"))
    };
    let float = |t: &HostTensor| {
        Tensor::<B, 2>::from_data(TensorData::new(t.data.clone(), t.shape.clone()), device)
    };
    let int = |t: &HostTensor| {
        let v: Vec<i64> = t.data.iter().map(|x| *x as i64).collect();
        Tensor::<B, 2, Int>::from_data(TensorData::new(v, t.shape.clone()), device)
    };
    let out = model.try_forward(
        int(tensor("gene_ids")?),
        float(tensor("values")?),
        int(tensor("pert_flags")?),
    )?;
    let shape = out.dims().to_vec();
    let values = out
        .into_data()
        .convert::<f32>()
        .into_vec()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let diff = HostTensor::new(shape, values)
        .max_abs_diff(tensor("output")?)
        .context("output shape differs from the reference")?;
    let bound = if on_host::<B>() { CPU_BOUND } else { GPU_BOUND };
    if diff > bound {
        bail!("forward pass on {label} differs from the reference by {diff:.2e} (> {bound:.0e})");
    }
    Ok(format!(
        "3. forward on {:?} inputs on {label}: max |scgenept - PyTorch| = {diff:.2e} (bound \
         {bound:.0e})",
        tensor("gene_ids")?.shape
    ))
}
