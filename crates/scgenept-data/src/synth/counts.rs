//! Counts for a synthetic dataset: cells per condition, per-gene negative-binomial parameters,
//! each cell's counts under its condition's effect, then `normalize_total` (median) + `log1p`.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, LogNormal, Poisson};
use rayon::prelude::*;

use super::config::SynthConfig;
use super::effects::EffectModel;
use crate::csr::CsrMatrix;
use crate::error::{DataError, Result};
use crate::perturb_data::condition_genes;

/// Each cell's condition (0 = ctrl): the ctrl share fixed, the rest by log-normal weights, at
/// least 2 cells per perturbation, shuffled.
pub(super) fn cells_per_condition(cfg: &SynthConfig, n_perts: usize, rng: &mut StdRng) -> Vec<u32> {
    let n_ctrl = ((cfg.n_cells as f64) * cfg.ctrl_fraction).round() as usize;
    let lw = LogNormal::new(0.0, 0.4).expect("valid");
    let weights: Vec<f64> = (0..n_perts).map(|_| lw.sample(rng)).collect();
    let total_w: f64 = weights.iter().sum();
    let rest = cfg.n_cells.saturating_sub(n_ctrl);
    let mut sizes: Vec<usize> = vec![n_ctrl];
    sizes.extend(
        weights
            .iter()
            .map(|w| ((w / total_w) * rest as f64).floor().max(2.0) as usize),
    );
    let mut k = 1;
    while sizes.iter().sum::<usize>() < cfg.n_cells {
        sizes[k] += 1;
        k = 1 + k % n_perts.max(1);
    }
    let mut cell_condition: Vec<u32> = sizes
        .iter()
        .enumerate()
        .flat_map(|(k, n)| std::iter::repeat_n(k as u32, *n))
        .collect();
    cell_condition.shuffle(rng);
    cell_condition
}

/// Per-gene base means and negative-binomial sizes.
pub(super) struct GeneParams {
    mu: Vec<f64>,
    size: Vec<f64>,
}

impl GeneParams {
    pub(super) fn draw(g: usize, rng: &mut StdRng) -> Self {
        let mean_dist = LogNormal::new((0.04f64).ln(), 1.6).expect("valid");
        let mu: Vec<f64> = (0..g).map(|_| mean_dist.sample(rng).min(200.0)).collect();
        let size: Vec<f64> = (0..g)
            .map(|_| 1.0 / (0.1 + 0.9 * rng.random::<f64>()))
            .collect();
        GeneParams { mu, size }
    }
}

/// Per condition (ctrl first), gene index → log fold change.
pub(super) fn effects_by_condition(
    conditions: &[String],
    model: &EffectModel,
    pairs: &[(String, String)],
) -> Vec<HashMap<usize, f64>> {
    conditions
        .iter()
        .map(|c| {
            let genes = condition_genes(c);
            let e = match genes.as_slice() {
                [] => Vec::new(),
                [a] => model.singles[*a].clone(),
                [a, b] => {
                    let key = if pairs.binary_search(&(a.to_string(), b.to_string())).is_ok() {
                        (a.to_string(), b.to_string())
                    } else {
                        (b.to_string(), a.to_string())
                    };
                    model.pairs[&key].clone()
                }
                _ => unreachable!("conditions have at most two genes"),
            };
            e.into_iter().collect()
        })
        .collect()
}

/// Counts of the cells `rows`: one independent random stream per cell, so a block gives the
/// same rows whichever blocks come before it, in parallel.
pub(super) fn sample_rows(
    cell_condition: &[u32],
    effect_of: &[HashMap<usize, f64>],
    genes: &GeneParams,
    seed: u64,
    rows: std::ops::Range<usize>,
) -> Result<CsrMatrix> {
    let g = genes.mu.len();
    let n_rows = rows.len();
    let sampled: Vec<(Vec<u32>, Vec<f32>)> = rows
        .into_par_iter()
        .map(|cell| {
            let k = cell_condition[cell];
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (cell as u64 + 1));
            let lib = LogNormal::new(0.0, 0.35).expect("valid").sample(&mut rng);
            // Knock-down/activation efficiency varies; some cells escape the perturbation.
            let eff = if k == 0 || rng.random::<f64>() < 0.08 {
                0.0
            } else {
                0.6 + 0.6 * rng.random::<f64>()
            };
            let effect = &effect_of[k as usize];
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            for j in 0..g {
                let lfc = effect.get(&j).copied().unwrap_or(0.0) * eff;
                let m = lib * genes.mu[j] * lfc.exp();
                let lambda = Gamma::new(genes.size[j], m / genes.size[j])
                    .map(|d| d.sample(&mut rng))
                    .unwrap_or(0.0);
                if lambda > 0.0 {
                    let c = Poisson::new(lambda)
                        .map(|d| d.sample(&mut rng))
                        .unwrap_or(0.0);
                    if c > 0.0 {
                        idx.push(j as u32);
                        val.push(c as f32);
                    }
                }
            }
            (idx, val)
        })
        .collect();
    let mut indptr = vec![0u64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for (i, v) in sampled {
        indices.extend(i);
        data.extend(v);
        indptr.push(data.len() as u64);
    }
    CsrMatrix::new(n_rows, g, indptr, indices, data).map_err(|e| DataError::new("synth", e))
}

/// Each row's total count, in f64.
pub(super) fn row_totals(counts: &CsrMatrix) -> Vec<f64> {
    (0..counts.n_rows)
        .map(|r| counts.row(r).1.iter().map(|v| *v as f64).sum())
        .collect()
}

/// scanpy `normalize_total`'s default target: the median of the non-zero totals.
pub(super) fn median_total(totals: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = totals.iter().copied().filter(|t| *t > 0.0).collect();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    if sorted.is_empty() {
        1.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    }
}

/// `normalize_total` to `target` then `log1p` of a block of rows with totals `totals`.
pub(super) fn normalize_block(counts: &CsrMatrix, totals: &[f64], target: f64) -> CsrMatrix {
    let mut x = counts.clone();
    for (r, total) in totals.iter().enumerate() {
        let (a, b) = (x.indptr[r] as usize, x.indptr[r + 1] as usize);
        let scale = if *total > 0.0 { target / total } else { 0.0 };
        for v in &mut x.data[a..b] {
            *v = ((*v as f64) * scale).ln_1p() as f32;
        }
    }
    x
}

/// scanpy `normalize_total` (target = median total) then `log1p`.
pub fn normalize_log1p(counts: &CsrMatrix) -> CsrMatrix {
    let totals = row_totals(counts);
    normalize_block(counts, &totals, median_total(&totals))
}
