//! Checkpoint files: reading PyTorch `.pt` state dicts (scGPT pretrained, scGenePT fine-tuned; flash
//! `Wqkv` or torch `in_proj` layout) and our safetensors bundles, and writing bundles that
//! `torch.load_state_dict` accepts.
//!
//! A bundle is a directory with `model.safetensors` (reference names, PyTorch layout, f32) and
//! `config.json` (the `ModelConfig`). Files are written under a temporary name and renamed, so
//! an interrupted export never leaves a half-written file behind.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use burn::tensor::backend::Backend;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::model::ScGenePT;
use crate::state_dict::{apply_state_dict, model_state_dict, ApplyOptions, HostTensor, StateDict};

pub use crate::state_dict::LoadReport;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";

fn corrupt(path: &Path, reason: impl ToString) -> ModelError {
    ModelError::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads a state dict from a `.pt` (torch zip or legacy pickle) or a `.safetensors` file,
/// converting every floating tensor to f32. The format is detected from the file's first bytes.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bytes_head = {
        use std::io::Read;
        let mut f = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let mut head = [0u8; 16];
        let n = f.read(&mut head).map_err(|e| ModelError::io(path, e))?;
        head[..n].to_vec()
    };
    if bytes_head.len() < 8 {
        return Err(corrupt(path, "file is too short to be a checkpoint"));
    }
    let is_zip = bytes_head.starts_with(b"PK");
    let is_pickle = bytes_head[0] == 0x80; // pickle PROTO opcode (legacy torch.save)
    if is_zip || is_pickle {
        read_torch(path)
    } else {
        read_safetensors(path)
    }
}

fn read_torch(path: &Path) -> Result<StateDict> {
    let reader = burn_store::pytorch::PytorchReader::new(path).map_err(|e| corrupt(path, e))?;
    let mut sd = StateDict::new();
    for (key, snap) in reader.into_tensors() {
        let data = snap
            .to_data()
            .map_err(|e| corrupt(path, format!("tensor '{key}': {e:?}")))?;
        if !data.dtype.is_float() {
            // Integer buffers (e.g. BatchNorm's num_batches_tracked) are not parameters here.
            continue;
        }
        let shape = data.shape.to_vec();
        let values = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| corrupt(path, format!("tensor '{key}': {e:?}")))?;
        sd.insert(key, HostTensor::new(shape, values));
    }
    strip_wrapper_prefix(&mut sd);
    if sd.is_empty() {
        return Err(corrupt(path, "no floating-point tensors found"));
    }
    Ok(sd)
}

/// Checkpoints saved as `{"model_state_dict": state_dict, ...}` come out with a common prefix.
fn strip_wrapper_prefix(sd: &mut StateDict) {
    for wrapper in ["model_state_dict.", "state_dict.", "model."] {
        if !sd.is_empty() && sd.keys().all(|k| k.starts_with(wrapper)) {
            *sd = std::mem::take(sd)
                .into_iter()
                .map(|(k, v)| (k[wrapper.len()..].to_string(), v))
                .collect();
        }
    }
}

fn read_safetensors(path: &Path) -> Result<StateDict> {
    let bytes = fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(path, e))?;
    let mut sd = StateDict::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => continue,
        };
        sd.insert(name, HostTensor::new(view.shape().to_vec(), values));
    }
    if sd.is_empty() {
        return Err(corrupt(path, "no floating-point tensors found"));
    }
    Ok(sd)
}

/// Writes `sd` as an f32 safetensors file (atomically).
pub fn write_safetensors(sd: &StateDict, path: &Path) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = sd
        .iter()
        .map(|(k, t)| {
            let b: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (k.clone(), b, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, b, s)| {
            let v = TensorView::new(Dtype::F32, s.clone(), b).expect("consistent tensor");
            (k.clone(), v)
        })
        .collect();
    let meta: HashMap<String, String> = HashMap::from([("format".to_string(), "pt".to_string())]);
    let out = safetensors::serialize(views, &Some(meta)).map_err(|e| corrupt(path, e))?;
    write_atomic(path, &out)
}

/// Writes `bytes` to a sibling temporary file, then renames it over `path`; the temporary is
/// removed if the command is interrupted (the data crate's `tempfiles.rs`).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    scgenept_data::files::write_atomic(path, bytes).map_err(|e| ModelError::io(path, e))
}

/// Exports `model` as a bundle in `dir`: `model.safetensors` + `config.json`.
pub fn export_safetensors<B: Backend>(model: &ScGenePT<B>, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let sd = model_state_dict(model);
    write_safetensors(&sd, &dir.join(WEIGHTS_FILE))?;
    let cfg = serde_json::to_vec_pretty(model.config()).expect("config serialises");
    write_atomic(&dir.join(CONFIG_FILE), &cfg)
}

/// Reads a bundle's `config.json`.
pub fn read_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let cfg: ModelConfig = serde_json::from_str(&text).map_err(|e| ModelError::BadConfigFile {
        path: path.clone(),
        reason: format!("not a scgenept model config: {e}"),
    })?;
    cfg.validate().map_err(|e| ModelError::BadConfigFile {
        path,
        reason: e.to_string(),
    })?;
    Ok(cfg)
}

/// Loads a bundle written by [`export_safetensors`]: every parameter must be present.
pub fn load_checkpoint<B: Backend>(dir: &Path, device: &B::Device) -> Result<ScGenePT<B>> {
    let cfg = read_config(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    let sd = read_state_dict(&weights)?;
    let model = ScGenePT::new(&cfg, device)?;
    let (model, report) = apply_state_dict(model, &sd, &ApplyOptions::default(), &weights)?;
    if let Some(key) = report.missing.first() {
        return Err(corrupt(
            &weights,
            format!(
                "parameter '{key}' is missing ({} missing in all); the bundle does not match its config.json",
                report.missing.len()
            ),
        ));
    }
    Ok(model)
}

/// Applies the tensors of any checkpoint file (`.pt` or `.safetensors`) to `model`, limited to
/// `prefixes` when given (the pretrained-scGPT set is `encoder`, `value_encoder`,
/// `transformer_encoder`). Logs and returns the applied/missing/unused summary.
pub fn import_checkpoint<B: Backend>(
    model: ScGenePT<B>,
    path: &Path,
    prefixes: Option<&[String]>,
) -> Result<(ScGenePT<B>, LoadReport)> {
    let sd = read_state_dict(path)?;
    let opts = ApplyOptions {
        prefixes: prefixes.map(|p| p.to_vec()),
    };
    let (model, report) = apply_state_dict(model, &sd, &opts, path)?;
    tracing::debug!("{}: {report}", path.display());
    Ok((model, report))
}
