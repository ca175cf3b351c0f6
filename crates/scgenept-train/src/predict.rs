//! `scgenept predict` as a library call: the control cells a prediction starts from (the bundle's
//! pool or a dataset's controls), and the outputs: mean predictions per perturbation as CSV or
//! h5ad, or every predicted cell beside its controls as the h5ad cell-eval scores.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad::H5ad;
use scgenept_data::h5ad_write::{output_kind, AnnData, Frame, FrameColumn};
use scgenept_data::{ObsColumns, PerturbData};
use scgenept_model::{load_checkpoint, ScGenePT};

use crate::bundle::{predict_cells, predict_means, BundleMeta};
use crate::device::WithBackend;

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

/// The control cells predictions start from, over the bundle's genes: the controls of the
/// dataset at `dataset` when given, else the pool shipped in the bundle.
pub fn control_cells(
    meta: &BundleMeta,
    bundle: &Path,
    dataset: Option<&Path>,
) -> Result<CsrMatrix> {
    let Some(path) = dataset else {
        return Ok(H5ad::open(&bundle.join("controls.h5ad"))?.read_matrix("X")?);
    };
    let d = PerturbData::load(path, &ObsColumns::default())?;
    let index = d.gene_index();
    let cols: Vec<usize> = meta
        .genes
        .iter()
        .map(|g| {
            index.get(g.as_str()).copied().with_context(|| {
                format!("{}: has no gene {g}, which the model needs", path.display())
            })
        })
        .collect::<Result<_>>()?;
    let cells = &d.cells_by_condition()[d.control_index()];
    let mut scratch = vec![0f32; d.n_genes()];
    let mut rows = Vec::new();
    let mut row = vec![0f32; cols.len()];
    for c in cells {
        d.x.gather_row(*c as usize, &mut scratch, &cols, &mut row);
        rows.extend_from_slice(&row);
    }
    Ok(CsrMatrix::from_dense(cells.len(), cols.len(), &rows))
}

/// How the predictions are drawn: controls per perturbation (with replacement) and the seed.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub size: usize,
    pub seed: u64,
}

/// What a prediction reads: the model with its bundle's metadata, the control cells it starts
/// from, the perturbations, and how controls are drawn.
pub struct Prediction<'a, B: Backend> {
    pub model: &'a ScGenePT<B>,
    pub meta: &'a BundleMeta,
    pub controls: &'a CsrMatrix,
    pub perts: &'a [String],
    pub pool: Pool,
    pub device: &'a B::Device,
}

impl<B: Backend> Prediction<'_, B> {
    /// Each perturbation's mean prediction over its pool of controls.
    fn means(&self) -> Result<Vec<Vec<f64>>> {
        let (pool, meta) = (self.pool, self.meta);
        predict_means(
            self.model,
            meta,
            self.controls,
            self.perts,
            pool.size,
            pool.seed,
            self.device,
        )
    }

    /// Every predicted cell, per perturbation (index, `pool.size × genes` values).
    fn cells(&self, on_cells: impl FnMut(usize, &[f32])) -> Result<()> {
        let (pool, meta) = (self.pool, self.meta);
        let (controls, perts, device) = (self.controls, self.perts, self.device);
        predict_cells(
            self.model, meta, controls, perts, pool.size, pool.seed, device, on_cells,
        )
    }
}

/// Predicts the mean of each perturbation and writes it to `out`.
pub fn write_means<B: Backend>(p: &Prediction<'_, B>, out: &PredictionFile) -> Result<()> {
    let (meta, perts) = (p.meta, p.perts);
    let means = p.means()?;
    match out {
        PredictionFile::Csv(path) => {
            let mut s = format!("gene,{}\n", perts.join(","));
            for (j, g) in meta.genes.iter().enumerate() {
                let vals: Vec<String> = means.iter().map(|m| format!("{}", m[j])).collect();
                s.push_str(&format!("{g},{}\n", vals.join(",")));
            }
            scgenept_data::files::write_atomic(path, s.as_bytes())
                .with_context(|| path.display().to_string())
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
                uns: vec![output_kind("predicted means")],
            }
            .write(path)?;
            Ok(())
        }
    }
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
        labels.push("ctrl".to_string());
        names.push(format!("ctrl_{c}"));
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
        uns: vec![output_kind("predicted cells")],
    }
    .write(path)?;
    Ok(CellsWritten {
        predicted,
        controls: controls.n_rows,
        clamped,
    })
}

/// `scgenept predict` on a device: the bundle's model loaded on the device's backend without
/// autodiff (`B::InnerBackend`), then means or cells written to `out`.
pub struct PredictJob {
    pub bundle: PathBuf,
    pub meta: BundleMeta,
    pub controls: CsrMatrix,
    pub perts: Vec<String>,
    pub pool: Pool,
    pub out: PredictionFile,
    /// Every predicted cell (cell-eval's layout) instead of the means.
    pub per_cell: bool,
}

/// What a [`PredictJob`] wrote.
#[derive(Clone, Copy, Debug)]
pub enum Written {
    Means,
    Cells(CellsWritten),
}

impl WithBackend for PredictJob {
    type Output = Written;

    fn run<B: AutodiffBackend>(self, device: B::Device, _label: &str) -> Result<Written> {
        let model = load_checkpoint::<B::InnerBackend>(&self.bundle, &device)?;
        let p = Prediction {
            model: &model,
            meta: &self.meta,
            controls: &self.controls,
            perts: &self.perts,
            pool: self.pool,
            device: &device,
        };
        if self.per_cell {
            return Ok(Written::Cells(write_cells(&p, &self.out)?));
        }
        write_means(&p, &self.out)?;
        Ok(Written::Means)
    }
}
