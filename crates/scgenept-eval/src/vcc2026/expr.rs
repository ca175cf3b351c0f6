//! The expression members of the vcc2026 profile, on the `bulk_lognorm` pseudobulks
//! (docs/evaluation.md, "vcc2026"): the unbiased squared distance between predicted and real
//! pseudobulks (`expr_mse_unbiased`), the same with the prediction's correction capped
//! (`expr_mse_unbiased_capped`), the real effect's own unbiased size (`expr_distance_unbiased`),
//! the real pseudobulk's mass over its target sum (`expr_real_mass_ratio`), and the cosine
//! discrimination score (`pds_cosine`). Each perturbation's own gene leaves its row's sum
//! (cell-eval2#172); every targeted gene leaves the ranked space of `pds_cosine`.

use std::collections::BTreeMap;

use super::bulk::{Pseudobulk, BULK_TARGET_SUM};
use super::targets::Targets;

/// The cap on the prediction's correction, as a multiple of the real side's
/// (cell-eval2's `PRED_TRACE_CAP_K`).
const PRED_TRACE_CAP_K: f64 = 1.0;

/// Per scored perturbation (sorted labels, control excluded), the expression members.
pub struct ExprScores {
    pub perts: Vec<String>,
    pub mse_unbiased: Vec<f64>,
    pub mse_unbiased_capped: Vec<f64>,
    pub distance_unbiased: Vec<f64>,
    pub real_mass_ratio: Vec<f64>,
    pub pds_cosine: Vec<f64>,
}

/// The pairs of rows compared: each predicted perturbation's row and its real row.
struct Aligned<'a> {
    pred: &'a Pseudobulk,
    real: &'a Pseudobulk,
    perts: Vec<String>,
    pred_rows: Vec<usize>,
    real_rows: Vec<usize>,
    /// The real control's row.
    control: usize,
    /// Each scored perturbation's own gene column, where it has one.
    own: Vec<Option<usize>>,
}

pub fn expr_scores(
    pred: &Pseudobulk,
    real: &Pseudobulk,
    control: &str,
    targets: &Targets,
) -> anyhow::Result<ExprScores> {
    let a = align(pred, real, control, targets)?;
    Ok(ExprScores {
        mse_unbiased: mse_unbiased(&a, false),
        mse_unbiased_capped: mse_unbiased(&a, true),
        distance_unbiased: distance_unbiased(&a),
        real_mass_ratio: (a.real_rows.iter())
            .map(|&r| real.means[r].iter().map(|m| m.exp_m1()).sum::<f64>() / BULK_TARGET_SUM)
            .collect(),
        pds_cosine: pds_cosine(&a, targets)?,
        perts: a.perts,
    })
}

fn align<'a>(
    pred: &'a Pseudobulk,
    real: &'a Pseudobulk,
    control: &str,
    targets: &Targets,
) -> anyhow::Result<Aligned<'a>> {
    let control_row = real
        .index(control)
        .ok_or_else(|| anyhow::anyhow!("the real cells have no control group '{control}'"))?;
    let (mut perts, mut pred_rows, mut real_rows) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in pred.labels.iter().enumerate() {
        if p == control {
            continue;
        }
        let r = real.index(p).ok_or_else(|| {
            anyhow::anyhow!("perturbation '{p}' is predicted but has no real cells")
        })?;
        perts.push(p.clone());
        pred_rows.push(i);
        real_rows.push(r);
    }
    let real_perts: Vec<&str> = (real.labels.iter())
        .filter(|l| *l != control)
        .map(String::as_str)
        .collect();
    targets.require_some(&real_perts)?;
    let own = perts.iter().map(|p| targets.column(p)).collect();
    Ok(Aligned {
        pred,
        real,
        perts,
        pred_rows,
        real_rows,
        control: control_row,
        own,
    })
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Genes counted in row `k`'s mean: all, or all but its own.
fn n_row(a: &Aligned, k: usize) -> f64 {
    let g = a.real.means[0].len() as f64;
    match a.own[k] {
        Some(_) => g - 1.0,
        None => g,
    }
}

/// `(‖pred − real‖² − c_pred − c_real − own gene's term) / genes`, the prediction's correction
/// `c_pred` capped at the real side's and bounded by the predictions' spread when `cap`
/// (cell-eval2#247, #348).
fn mse_unbiased(a: &Aligned, cap: bool) -> Vec<f64> {
    let mut pred_term: Vec<f64> = a.pred_rows.iter().map(|&i| a.pred.jk[i]).collect();
    if cap {
        for (k, t) in pred_term.iter_mut().enumerate() {
            *t = t.min(PRED_TRACE_CAP_K * a.real.jk[a.real_rows[k]]);
        }
        let w: Vec<f64> = (0..a.perts.len()).map(|k| 1.0 / n_row(a, k)).collect();
        let claim: f64 = pred_term.iter().zip(&w).map(|(t, w)| t * w).sum();
        if claim > 0.0 {
            let ratio = across_pert_budget(a, &w) / claim;
            if ratio < 1.0 {
                pred_term.iter_mut().for_each(|t| *t *= ratio);
            }
        }
    }
    (0..a.perts.len())
        .map(|k| {
            let (p, r) = (&a.pred.means[a.pred_rows[k]], &a.real.means[a.real_rows[k]]);
            let mut summed = sq_dist(p, r) - pred_term[k] - a.real.jk[a.real_rows[k]];
            if let Some(c) = a.own[k] {
                summed -= (p[c] - r[c]) * (p[c] - r[c]);
            }
            summed / n_row(a, k)
        })
        .collect()
}

/// cell-eval2's `_across_pert_budget`: the weighted spread of the predicted pseudobulks around
/// their mean, per gene (each row's own gene left out), summed over genes with two or more rows.
fn across_pert_budget(a: &Aligned, w: &[f64]) -> f64 {
    let rows: Vec<&Vec<f64>> = a.pred_rows.iter().map(|&i| &a.pred.means[i]).collect();
    let (n, genes) = (rows.len(), rows[0].len());
    let mean: Vec<f64> = (0..genes)
        .map(|g| rows.iter().map(|r| r[g]).sum::<f64>() / n as f64)
        .collect();
    let dev = |k: usize, g: usize| rows[k][g] - mean[g];
    let (mut s1, mut s2) = (vec![0f64; genes], vec![0f64; genes]);
    for (k, wk) in w.iter().enumerate() {
        for g in 0..genes {
            s1[g] += dev(k, g) * wk;
            s2[g] += dev(k, g) * dev(k, g) * wk;
        }
    }
    let mut wsum = vec![w.iter().sum::<f64>(); genes];
    let mut cnt = vec![n as f64; genes];
    for (k, own) in a.own.iter().enumerate() {
        if let Some(c) = *own {
            let v = dev(k, c);
            s1[c] -= w[k] * v;
            s2[c] -= w[k] * v * v;
            wsum[c] -= w[k];
            cnt[c] -= 1.0;
        }
    }
    (0..genes)
        .filter(|&g| cnt[g] >= 2.0 && wsum[g] > 0.0)
        .map(|g| (s2[g] - s1[g] * s1[g] / wsum[g]).max(0.0))
        .sum()
}

/// `(‖real − real control‖² − c_real − c_control − own gene's term) / genes`.
fn distance_unbiased(a: &Aligned) -> Vec<f64> {
    let ctrl = &a.real.means[a.control];
    (0..a.perts.len())
        .map(|k| {
            let r = &a.real.means[a.real_rows[k]];
            let mut summed = sq_dist(r, ctrl) - a.real.jk[a.real_rows[k]] - a.real.jk[a.control];
            if let Some(c) = a.own[k] {
                summed -= (r[c] - ctrl[c]) * (r[c] - ctrl[c]);
            }
            summed / n_row(a, k)
        })
        .collect()
}

/// The cosine discrimination score: each predicted effect (against the real control) ranked
/// among every real effect by cosine distance, ties at their mid-rank; `1 − rank / (n − 1)`.
/// Every gene some real perturbation targets leaves the space (cell-eval2#343).
fn pds_cosine(a: &Aligned, targets: &Targets) -> anyhow::Result<Vec<f64>> {
    let ctrl = &a.real.means[a.control];
    let real_perts: Vec<usize> = (0..a.real.labels.len())
        .filter(|&i| i != a.control)
        .collect();
    let panel: std::collections::BTreeSet<usize> = (real_perts.iter())
        .filter_map(|&i| targets.column(&a.real.labels[i]))
        .collect();
    let keep: Vec<usize> = (0..ctrl.len()).filter(|g| !panel.contains(g)).collect();
    if keep.is_empty() {
        anyhow::bail!(
            "pds_cosine: every measured gene is the target of some perturbation, so nothing is \
             left to rank"
        );
    }
    let effect = |m: &[f64]| -> Vec<f64> { keep.iter().map(|&g| m[g] - ctrl[g]).collect() };
    let real_eff: Vec<Vec<f64>> = real_perts
        .iter()
        .map(|&i| effect(&a.real.means[i]))
        .collect();
    let real_norm: Vec<f64> = real_eff.iter().map(|e| dot(e, e).sqrt()).collect();
    let position: BTreeMap<&str, usize> = (real_perts.iter().enumerate())
        .map(|(j, &i)| (a.real.labels[i].as_str(), j))
        .collect();
    let d = real_eff.len() as f64 - 1.0;
    Ok((0..a.perts.len())
        .map(|k| {
            let p = effect(&a.pred.means[a.pred_rows[k]]);
            let pn = dot(&p, &p).sqrt();
            let row: Vec<f64> = (real_eff.iter().zip(&real_norm))
                .map(|(r, rn)| {
                    let denom = pn * rn;
                    let cos = if denom != 0.0 {
                        dot(&p, r) / denom
                    } else {
                        0.0
                    };
                    (1.0 - cos).clamp(0.0, 2.0)
                })
                .collect();
            let m = row[position[a.perts[k].as_str()]];
            let less = row.iter().filter(|v| **v < m).count() as f64;
            let equal = row.iter().filter(|v| **v == m).count() as f64;
            match d <= 0.0 {
                true => 1.0,
                false => 1.0 - (less + (equal - 1.0) / 2.0) / d,
            }
        })
        .collect())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
