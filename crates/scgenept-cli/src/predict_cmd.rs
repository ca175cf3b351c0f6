//! `scgenept export` (run → self-contained inference bundle) and `scgenept predict` (bundle +
//! perturbations → mean predicted expression as CSV or h5ad, or every predicted cell beside the
//! control cells as an h5ad that cell-eval can score).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad::H5ad;
use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
use scgenept_data::{ObsColumns, PerturbData};
use scgenept_model::load_checkpoint;
use scgenept_train::bundle::{
    check_perturbations, export_bundle, predict_cells, predict_means, read_meta, BundleMeta,
};
use scgenept_train::train_config::TrainConfig;
use scgenept_train::trainer::prepare;

type Cpu = burn::backend::Flex;

#[derive(Args)]
pub struct ExportArgs {
    /// A run directory (runs/<name>/seed_<s>).
    #[arg(long)]
    run: PathBuf,
    /// Bundle directory to write.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    which: String,
    /// Control cells to ship with the bundle (at least 1).
    #[arg(long, default_value_t = 300, value_parser = at_least_one)]
    pool_size: usize,
}

pub fn export(a: ExportArgs) -> Result<()> {
    if a.which != "best" && a.which != "last" {
        bail!("--which must be best or last");
    }
    let cfg_path = a.run.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{}: not a run directory", a.run.display()))?;
    let cfg: TrainConfig = toml::from_str(&text).with_context(|| cfg_path.display().to_string())?;
    let p = prepare(&cfg)?;
    let device = Default::default();
    let model = load_checkpoint::<Cpu>(&a.run.join("checkpoints").join(&a.which), &device)?;
    export_bundle(&model, &p, &a.run, &a.out, a.pool_size)?;
    println!(
        "exported {} ({} checkpoint) → {}",
        a.run.display(),
        a.which,
        a.out.display()
    );
    Ok(())
}

/// A count of control cells: 0 would predict from nothing.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => {
            Err("must be at least 1 (a prediction averages over that many control cells)".into())
        }
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

#[derive(Args)]
pub struct PredictArgs {
    /// A bundle from `scgenept export`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Comma-separated perturbations: "FOSB+CEBPB,KLF1".
    #[arg(long)]
    perturbations: String,
    /// Control cells to perturb (their ctrl cells are used); default: the bundle's pool.
    #[arg(long)]
    controls: Option<PathBuf>,
    /// Controls drawn (with replacement) per perturbation (at least 1).
    #[arg(long, default_value_t = 300, value_parser = at_least_one)]
    pool_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output: .csv (gene × perturbation) or .h5ad (perturbation × gene).
    #[arg(long)]
    out: PathBuf,
    /// Write every predicted cell (pool_size per perturbation) after the control cells they were
    /// predicted from, labelled `ctrl` in obs["condition"] (.h5ad only): the layout cell-eval
    /// scores (`cell-eval run --pert-col condition --control-pert ctrl`). Predicted values below 0
    /// are set to 0 here, since log-normalised expression cannot be negative and cell-eval
    /// refuses negative input; the mean outputs are never clamped.
    #[arg(long)]
    per_cell: bool,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let ext = a.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "csv" && ext != "h5ad" {
        bail!("{}: the output must end in .csv or .h5ad", a.out.display());
    }
    let meta = read_meta(&a.checkpoint)?;
    let perts = check_perturbations(&meta, &a.perturbations)
        .with_context(|| a.checkpoint.display().to_string())?;
    let controls = match &a.controls {
        Some(path) => {
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
            CsrMatrix::from_dense(cells.len(), cols.len(), &rows)
        }
        None => H5ad::open(&a.checkpoint.join("controls.h5ad"))?.read_matrix("X")?,
    };
    let device = Default::default();
    let model = load_checkpoint::<Cpu>(&a.checkpoint, &device)?;
    if a.per_cell {
        if ext != "h5ad" {
            bail!(
                "{}: --per-cell writes an .h5ad (cells × genes); use a .h5ad output",
                a.out.display()
            );
        }
        return write_per_cell(&a, &model, &meta, &controls, &perts, &device);
    }
    let means = predict_means(
        &model,
        &meta,
        &controls,
        &perts,
        a.pool_size,
        a.seed,
        &device,
    )?;
    if ext == "csv" {
        let mut s = format!("gene,{}\n", perts.join(","));
        for (j, g) in meta.genes.iter().enumerate() {
            let vals: Vec<String> = means.iter().map(|m| format!("{}", m[j])).collect();
            s.push_str(&format!("{g},{}\n", vals.join(",")));
        }
        scgenept_data::error::write_atomic(&a.out, s.as_bytes())
            .with_context(|| a.out.display().to_string())?;
    } else {
        let flat: Vec<f32> = means.iter().flatten().map(|v| *v as f32).collect();
        let x = CsrMatrix::from_dense(perts.len(), meta.genes.len(), &flat);
        AnnData {
            x: &x,
            layers: vec![],
            obs: Frame {
                index_name: "perturbation".into(),
                index: perts.clone(),
                columns: vec![("condition".into(), FrameColumn::Categorical(perts.clone()))],
            },
            var: Frame::genes(&meta.gene_ids, &meta.genes),
            uns: vec![scgenept_data::h5ad_write::output_kind("predicted means")],
        }
        .write(&a.out)?;
    }
    println!(
        "predicted {} perturbation(s) over {} genes ({} controls each) → {}",
        perts.len(),
        meta.genes.len(),
        a.pool_size,
        a.out.display()
    );
    Ok(())
}

/// The cell-eval layout: the control cells, then `pool_size` predicted cells per perturbation.
fn write_per_cell<B: burn::tensor::backend::Backend>(
    a: &PredictArgs,
    model: &scgenept_model::ScGenePT<B>,
    meta: &BundleMeta,
    controls: &CsrMatrix,
    perts: &[String],
    device: &B::Device,
) -> Result<()> {
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
    predict_cells(
        model,
        meta,
        controls,
        perts,
        a.pool_size,
        a.seed,
        device,
        |pi, cells| {
            for (r, cell) in cells.chunks_exact(g).enumerate() {
                row.iter_mut().zip(cell).for_each(|(o, v)| {
                    clamped += usize::from(*v < 0.0);
                    *o = v.max(0.0);
                });
                x.push_dense_row(&row);
                labels.push(perts[pi].clone());
                names.push(format!("{}_{r}", perts[pi]));
            }
        },
    )?;
    let n_cells = x.n_rows;
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "cell".into(),
            index: names,
            columns: vec![("condition".into(), FrameColumn::Categorical(labels))],
        },
        var: Frame::genes(&meta.gene_ids, &meta.genes),
        uns: vec![scgenept_data::h5ad_write::output_kind("predicted cells")],
    }
    .write(&a.out)?;
    println!(
        "predicted {} cells for {} perturbation(s) beside {} control cells ({} negative values set to 0) → {}",
        n_cells - controls.n_rows,
        perts.len(),
        controls.n_rows,
        clamped,
        a.out.display()
    );
    Ok(())
}
