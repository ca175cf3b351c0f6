//! What `scgenept predict` writes: mean predictions per perturbation as CSV or h5ad, or every
//! predicted cell beside its controls as the h5ad cell-eval scores, each stamped with the
//! bundle's provenance (in the h5ad's `uns`, or a `<out>.provenance.json` beside a CSV).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;

use scgenept_data::condition::{control_cell_name, CTRL};
use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad_write::{output_kind, AnnData, Frame, FrameColumn, UnsValue};

use crate::infer::predict::Prediction;

/// Where predictions go, by the file's extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PredictionFile {
    /// Genes × perturbations, mean predictions.
    Csv(PathBuf),
    /// Perturbations × genes (means) or cells × genes (`--per-cell`).
    H5ad(PathBuf),
}

impl PredictionFile {
    pub fn new(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(PredictionFile::Csv(path.to_path_buf())),
            Some("h5ad") => Ok(PredictionFile::H5ad(path.to_path_buf())),
            _ => bail!("{}: the output must end in .csv or .h5ad", path.display()),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            PredictionFile::Csv(p) | PredictionFile::H5ad(p) => p,
        }
    }
}

/// Writes `means` (one per perturbation of `p`, as `Prediction::means` gives them) to `out`.
pub fn write_means<B: Backend>(
    p: &Prediction<'_, B>,
    means: &[Vec<f64>],
    out: &PredictionFile,
) -> Result<()> {
    let (meta, perts) = (p.meta, p.perts);
    match out {
        PredictionFile::Csv(path) => {
            let mut s = format!("gene,{}\n", perts.join(","));
            for (j, g) in meta.genes.iter().enumerate() {
                let vals: Vec<String> = means.iter().map(|m| format!("{}", m[j])).collect();
                s.push_str(&format!("{g},{}\n", vals.join(",")));
            }
            scgenept_data::files::write_atomic(path, s.as_bytes())
                .with_context(|| path.display().to_string())?;
            write_provenance_sidecar(path, &provenance(p))
        }
        PredictionFile::H5ad(path) => {
            let flat: Vec<f32> = means.iter().flatten().map(|v| *v as f32).collect();
            let x = CsrMatrix::from_dense(perts.len(), meta.genes.len(), &flat);
            AnnData {
                x: &x,
                layers: vec![],
                obs: Frame {
                    index_name: "perturbation".into(),
                    index: perts.to_vec(),
                    columns: vec![("condition".into(), FrameColumn::Categorical(perts.to_vec()))],
                },
                var: Frame::genes(&meta.gene_ids, &meta.genes),
                uns: vec![output_kind("predicted means"), provenance_uns(p)],
            }
            .write(path)?;
            Ok(())
        }
    }
}

/// What a prediction's output records of where it came from: the bundle's stamp
/// (`BundleMeta::stamp`: its id, source run, data, the synthetic mark) and the draws.
pub fn provenance<B: Backend>(p: &Prediction<'_, B>) -> Vec<(String, String)> {
    let mut v = p.meta.stamp();
    v.push(("pool_size".into(), p.pool.size.to_string()));
    v.push(("seed".into(), p.pool.seed.to_string()));
    v
}

/// `uns["scgenept_provenance"]` of a prediction h5ad.
fn provenance_uns<B: Backend>(p: &Prediction<'_, B>) -> (String, UnsValue) {
    let entries = (provenance(p).into_iter())
        .map(|(k, v)| (k, UnsValue::Strings(vec![v])))
        .collect();
    ("scgenept_provenance".into(), UnsValue::Dict(entries))
}

/// Beside a CSV output (which has no place for metadata): `<out>.provenance.json`.
pub fn write_provenance_sidecar(out: &Path, stamp: &[(String, String)]) -> Result<()> {
    let side = provenance_sidecar(out);
    let map: serde_json::Map<String, serde_json::Value> = (stamp.iter())
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let text = serde_json::to_string_pretty(&map)? + "\n";
    scgenept_data::files::write_atomic(&side, text.as_bytes())
        .with_context(|| format!("{}: cannot write", side.display()))
}

/// `pred.csv` → `pred.csv.provenance.json`.
pub fn provenance_sidecar(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".provenance.json");
    out.with_file_name(name)
}

/// What `write_cells` wrote.
#[derive(Clone, Copy, Debug)]
pub struct CellsWritten {
    pub predicted: usize,
    pub controls: usize,
    /// Predicted values below 0 that were set to 0.
    pub clamped: usize,
}

/// The cell-eval layout: the control cells (`ctrl`), then `pool.size` predicted cells per
/// perturbation, negative predictions set to 0 (log-normalised expression cannot be negative, and
/// cell-eval refuses it). Only an h5ad holds cells.
pub fn write_cells<B: Backend>(
    p: &Prediction<'_, B>,
    out: &PredictionFile,
) -> Result<CellsWritten> {
    let (meta, controls, perts) = (p.meta, p.controls, p.perts);
    let PredictionFile::H5ad(path) = out else {
        bail!(
            "{}: --per-cell writes an .h5ad (cells × genes); use a .h5ad output",
            out.path().display()
        );
    };
    let g = meta.genes.len();
    let mut x = CsrMatrix::with_cols(g);
    let mut labels = Vec::new();
    let mut names = Vec::new();
    let mut row = vec![0f32; g];
    for c in 0..controls.n_rows {
        controls.row_into(c, &mut row);
        x.push_dense_row(&row);
        labels.push(CTRL.to_string());
        names.push(control_cell_name(c));
    }
    let mut clamped = 0usize;
    let each = |pi: usize, cells: &[f32]| {
        for (r, cell) in cells.chunks_exact(g).enumerate() {
            row.iter_mut().zip(cell).for_each(|(o, v)| {
                clamped += usize::from(*v < 0.0);
                *o = v.max(0.0);
            });
            x.push_dense_row(&row);
            labels.push(perts[pi].clone());
            names.push(format!("{}_{r}", perts[pi]));
        }
    };
    p.cells(each)?;
    let predicted = x.n_rows - controls.n_rows;
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "cell".into(),
            index: names,
            columns: vec![("condition".into(), FrameColumn::Categorical(labels))],
        },
        var: Frame::genes(&meta.gene_ids, &meta.genes),
        uns: vec![output_kind("predicted cells"), provenance_uns(p)],
    }
    .write(path)?;
    Ok(CellsWritten {
        predicted,
        controls: controls.n_rows,
        clamped,
    })
}
