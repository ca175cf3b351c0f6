//! `scgenept predict` on a device: the bundle's model on the device's backend without autodiff,
//! the means (with their spread over control draws) or the cells written.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::{AutodiffBackend, Backend};

use scgenept_data::csr::CsrMatrix;
use scgenept_model::load_checkpoint;

use crate::device::WithBackend;
use crate::infer::batch::cells_per_batch;
use crate::infer::bundle::BundleMeta;
use crate::infer::outputs::{write_cells, write_means, CellsWritten, PredictionFile};
use crate::infer::predict::{Pool, Prediction};

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
    /// Cells per forward; `None` sizes batches to the device (`infer/batch.rs`).
    pub batch: Option<usize>,
    /// Control draws to report the spread over (`--draws`; 1: none). The output is always the
    /// first draw's (`pool.seed`).
    pub draws: usize,
}

/// What a [`PredictJob`] wrote: the means (with their spread over `draws` control draws when
/// more than one was asked for) or the cells.
#[derive(Clone, Debug)]
pub enum Written {
    Means(Vec<DrawSpread>),
    Cells(CellsWritten),
}

/// How much one perturbation's mean prediction moves between control draws: per gene, the
/// standard deviation of the mean over `draws` draws of `pool.size` controls (seeds `seed`,
/// `seed + 1`, …).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DrawSpread {
    pub perturbation: String,
    pub draws: usize,
    /// Median over genes of the per-gene SD.
    pub median_sd: f64,
    /// The largest per-gene SD, its gene, and that gene's mean prediction.
    pub max_sd: f64,
    pub max_sd_gene: String,
    pub max_sd_gene_mean: f64,
}

/// The spread of every perturbation's mean over `draws` control draws.
/// Every perturbation's means for `draws` control draws (seeds `seed`, `seed + 1`, …): the
/// first is what `write_means` writes.
pub fn draw_means<B: Backend>(p: &Prediction<'_, B>, draws: usize) -> Result<Vec<Vec<Vec<f64>>>> {
    (0..draws.max(1) as u64)
        .map(|k| {
            let pool = Pool {
                seed: p.pool.seed.wrapping_add(k),
                ..p.pool
            };
            Prediction { pool, ..*p }.means()
        })
        .collect()
}

/// The spread of every perturbation's mean over the draws of `all` ([`draw_means`], at least 2).
pub fn draw_spread<B: Backend>(p: &Prediction<'_, B>, all: &[Vec<Vec<f64>>]) -> Vec<DrawSpread> {
    let (draws, n) = (all.len(), all.len() as f64);
    (p.perts.iter().enumerate())
        .map(|(i, name)| {
            let genes = p.meta.genes.len();
            let (mut sds, mut means) = (Vec::with_capacity(genes), Vec::with_capacity(genes));
            for j in 0..genes {
                let mean = all.iter().map(|m| m[i][j]).sum::<f64>() / n;
                let var = all.iter().map(|m| (m[i][j] - mean).powi(2)).sum::<f64>() / (n - 1.0);
                sds.push(var.sqrt());
                means.push(mean);
            }
            let (jmax, max_sd) = (sds.iter().copied().enumerate()).fold((0, f64::MIN), |a, b| {
                if b.1 > a.1 {
                    b
                } else {
                    a
                }
            });
            let mut sorted = sds.clone();
            sorted.sort_by(f64::total_cmp);
            DrawSpread {
                perturbation: name.clone(),
                draws,
                median_sd: sorted[sorted.len() / 2],
                max_sd,
                max_sd_gene: p.meta.genes[jmax].clone(),
                max_sd_gene_mean: means[jmax],
            }
        })
        .collect()
}

impl WithBackend for PredictJob {
    type Output = Written;

    fn run<B: AutodiffBackend>(self, device: B::Device, label: &str) -> Result<Written> {
        let model = load_checkpoint::<B::InnerBackend>(&self.bundle, &device)?;
        let batch = self.batch.unwrap_or_else(|| {
            let d: crate::Device = label.parse().unwrap_or_else(|_| crate::Device::cpu());
            cells_per_batch(&d, model.config(), self.meta.genes.len())
        });
        let p = Prediction {
            model: &model,
            meta: &self.meta,
            controls: &self.controls,
            perts: &self.perts,
            pool: self.pool,
            batch,
            device: &device,
        };
        if self.per_cell {
            return Ok(Written::Cells(write_cells(&p, &self.out)?));
        }
        // Each draw predicted once: the first is the output, all of them the spread.
        let all = draw_means(&p, self.draws)?;
        let spread = match all.len() {
            1 => Vec::new(),
            _ => draw_spread(&p, &all),
        };
        write_means(&p, &all[0], &self.out)?;
        Ok(Written::Means(spread))
    }
}
