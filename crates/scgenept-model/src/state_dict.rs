//! Host-side state dicts in PyTorch layout, and the name-for-name transfer to and from a model.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};

use crate::error::{ModelError, Result};
use crate::model::ScGenePT;
use crate::params::ParamSlot;

/// A dense f32 tensor on the host, in PyTorch layout (row-major, `[out, in]` for Linear weights).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    fn from_tensor<B: Backend, const D: usize>(t: Tensor<B, D>) -> Self {
        let shape = t.dims().to_vec();
        let data = t
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("f32 after convert");
        Self { shape, data }
    }

    /// The transpose of a 2-D tensor, laid out contiguously. Loading burn `Linear` weights this
    /// way (rather than as a transposed view of the PyTorch layout) matters on burn-flex: a view
    /// is copied element by element in every forward pass.
    pub fn transposed(&self) -> HostTensor {
        let [r, c] = [self.shape[0], self.shape[1]];
        let mut data = vec![0f32; r * c];
        for (i, row) in self.data.chunks_exact(c).enumerate() {
            for (j, v) in row.iter().enumerate() {
                data[j * r + i] = *v;
            }
        }
        HostTensor::new(vec![c, r], data)
    }

    fn to_tensor<B: Backend, const D: usize>(&self, device: &B::Device) -> Tensor<B, D> {
        Tensor::from_data(
            TensorData::new(self.data.clone(), self.shape.clone()),
            device,
        )
    }

    /// Largest absolute element-wise difference; `None` when shapes differ.
    pub fn max_abs_diff(&self, other: &HostTensor) -> Option<f32> {
        (self.shape == other.shape).then(|| {
            self.data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max)
        })
    }
}

/// Reference parameter name → tensor, sorted by name.
pub type StateDict = BTreeMap<String, HostTensor>;

fn slot_value<B: Backend>(slot: &ParamSlot<'_, B>) -> HostTensor {
    match slot {
        ParamSlot::Vector(p) => HostTensor::from_tensor(p.val()),
        ParamSlot::Transposed(p) => HostTensor::from_tensor(p.val().transpose()),
        ParamSlot::Matrix(p) => HostTensor::from_tensor(p.val()),
    }
}

/// Every parameter of `model` under its reference name, in PyTorch layout.
pub fn model_state_dict<B: Backend>(model: &ScGenePT<B>) -> StateDict {
    let mut m = model.clone();
    let mut out = StateDict::new();
    m.visit_named_params(&mut |name, slot| {
        out.insert(name, slot_value(&slot));
    });
    out
}

/// The gradient of every parameter that has one, under its reference name, in PyTorch layout.
pub fn grads_state_dict<B: AutodiffBackend>(
    model: &ScGenePT<B>,
    grads: &B::Gradients,
) -> StateDict {
    let mut m = model.clone();
    let mut out = StateDict::new();
    m.visit_named_params(&mut |name, slot| {
        let g = match slot {
            ParamSlot::Vector(p) => p.grad(grads).map(HostTensor::from_tensor),
            ParamSlot::Transposed(p) => p
                .grad(grads)
                .map(|g| HostTensor::from_tensor(g.transpose())),
            ParamSlot::Matrix(p) => p.grad(grads).map(HostTensor::from_tensor),
        };
        if let Some(g) = g {
            out.insert(name, g);
        }
    });
    out
}

/// What happened to each key when a state dict was applied to a model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Model parameters set from the checkpoint.
    pub applied: Vec<String>,
    /// Model parameters the checkpoint does not have (left at their init).
    pub missing: Vec<String>,
    /// Checkpoint keys the model has no parameter for, or that the prefix filter skipped.
    pub unused: Vec<String>,
    /// Gene-indexed tables grown from the checkpoint's vocabulary to the model's: the first rows
    /// copied, the added rows (out-of-vocabulary genes) started from the checkpoint's pad row.
    pub extended: Vec<String>,
    /// `(key, model shape, checkpoint shape)`: refused.
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checkpoint: {} applied, {} missing (fresh init), {} unused, {} extended, {} shape-mismatched",
            self.applied.len(),
            self.missing.len(),
            self.unused.len(),
            self.extended.len(),
            self.mismatched.len()
        )?;
        let list = |f: &mut fmt::Formatter<'_>, label: &str, keys: &[String]| -> fmt::Result {
            if keys.is_empty() {
                return Ok(());
            }
            const SHOW: usize = 12;
            let shown: Vec<&str> = keys.iter().take(SHOW).map(String::as_str).collect();
            let more = keys.len().saturating_sub(SHOW);
            let tail = if more > 0 {
                format!(", … (+{more})")
            } else {
                String::new()
            };
            writeln!(f, "  {label}: {}{tail}", shown.join(", "))
        };
        list(f, "missing", &self.missing)?;
        list(f, "unused", &self.unused)?;
        list(f, "extended", &self.extended)?;
        for (k, e, found) in &self.mismatched {
            writeln!(f, "  mismatched: {k}: model {e:?}, checkpoint {found:?}")?;
        }
        Ok(())
    }
}

/// Maps checkpoint spellings onto ours: flash-attn's `Wqkv.` is torch's `in_proj_`, and
/// `DataParallel`'s `module.` prefix is dropped.
pub fn canonical_key(key: &str) -> String {
    let key = key.strip_prefix("module.").unwrap_or(key);
    key.replace("self_attn.Wqkv.", "self_attn.in_proj_")
}

/// Which checkpoint keys to apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Only keys under one of these top-level prefixes (e.g. the pretrained-scGPT set
    /// `encoder`, `value_encoder`, `transformer_encoder`); `None` = all.
    pub prefixes: Option<Vec<String>>,
}

fn under_prefix(key: &str, prefixes: &Option<Vec<String>>) -> bool {
    match prefixes {
        None => true,
        Some(ps) => ps
            .iter()
            .any(|p| key == p || key.starts_with(&format!("{p}."))),
    }
}

/// Gene-indexed tables may be grown on import; the flag table may not.
fn is_gene_table(key: &str) -> bool {
    key.ends_with("embedding.weight") && !key.starts_with("pert_encoder")
}

/// Grows `[rows, d]` to `[model_rows, d]`, filling the new rows with row `pad` of the source.
fn extend_rows(t: &HostTensor, model_rows: usize, pad: usize) -> HostTensor {
    let d = t.shape[1];
    let mut data = t.data.clone();
    let pad_row = t.data[pad * d..(pad + 1) * d].to_vec();
    for _ in t.shape[0]..model_rows {
        data.extend_from_slice(&pad_row);
    }
    HostTensor::new(vec![model_rows, d], data)
}

/// Applies `sd` to `model` name for name. Fails (with every mismatch in the report) when a
/// selected key's shape disagrees with the model, or a tensor has NaN/inf values.
pub fn apply_state_dict<B: Backend>(
    model: ScGenePT<B>,
    sd: &StateDict,
    opts: &ApplyOptions,
    source: &Path,
) -> Result<(ScGenePT<B>, LoadReport)> {
    let mut model = model;
    let pad = model.config().pad_token_id;
    let canon: BTreeMap<String, &str> = sd.keys().map(|k| (canonical_key(k), k.as_str())).collect();
    let mut report = LoadReport::default();
    let mut used = std::collections::BTreeSet::new();
    let mut first_error: Option<ModelError> = None;
    let device = model.decoder.fc4.weight.val().device();

    model.visit_named_params(&mut |name, slot| {
        let Some(orig) = canon.get(&name) else {
            report.missing.push(name);
            return;
        };
        if !under_prefix(&name, &opts.prefixes) {
            report.missing.push(name);
            return;
        }
        used.insert(*orig);
        let t = &sd[*orig];
        let expected = slot.torch_shape();
        let mut value = t.clone();
        if t.shape != expected {
            let grow = is_gene_table(&name)
                && t.shape.len() == 2
                && t.shape[1] == expected[1]
                && t.shape[0] < expected[0]
                && pad < t.shape[0];
            if grow {
                value = extend_rows(t, expected[0], pad);
                report.extended.push(name.clone());
            } else {
                report
                    .mismatched
                    .push((name.clone(), expected.clone(), t.shape.clone()));
                first_error.get_or_insert(ModelError::ShapeMismatch {
                    path: source.to_path_buf(),
                    key: orig.to_string(),
                    expected,
                    found: t.shape.clone(),
                });
                return;
            }
        }
        if value.data.iter().any(|x| !x.is_finite()) {
            first_error.get_or_insert(ModelError::NonFinite {
                path: source.to_path_buf(),
                key: orig.to_string(),
            });
            return;
        }
        match slot {
            ParamSlot::Vector(p) => {
                *p = Param::initialized(p.id, value.to_tensor::<B, 1>(&device).require_grad())
            }
            ParamSlot::Transposed(p) => {
                let v = value.transposed().to_tensor::<B, 2>(&device);
                *p = Param::initialized(p.id, v.require_grad())
            }
            ParamSlot::Matrix(p) => {
                *p = Param::initialized(p.id, value.to_tensor::<B, 2>(&device).require_grad())
            }
        }
        report.applied.push(name);
    });
    report.unused = sd
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .cloned()
        .collect();
    if let Some(e) = first_error {
        if !report.mismatched.is_empty() {
            tracing::error!("{report}");
        }
        return Err(e);
    }
    Ok((model, report))
}
