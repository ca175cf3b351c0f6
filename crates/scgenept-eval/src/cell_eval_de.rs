//! cell-eval 0.8.2's `de` profile, from the two sides' DE tables (`de.rs`): overlap and
//! precision of the top significant genes (all, 50, 100, 200, 500), the Spearman correlation of
//! significant-gene counts, direction agreement, the Spearman correlation of fold changes and the
//! recall of the real significant genes, the counts themselves, and PR/ROC AUC of recovering the
//! real significant genes from the predicted FDR. cell-eval reads the tables in float32 and calls
//! a gene significant when its FDR is below 0.05; so do we (docs/evaluation.md).

use std::collections::{BTreeMap, BTreeSet};

use crate::de::DeRow;
use crate::scores::Scores;

/// The profile's columns in cell-eval's order, each better high (`true`) or low.
pub const DE_METRICS: [(&str, bool); 18] = [
    ("overlap_at_N", true),
    ("overlap_at_50", true),
    ("overlap_at_100", true),
    ("overlap_at_200", true),
    ("overlap_at_500", true),
    ("precision_at_N", true),
    ("precision_at_50", true),
    ("precision_at_100", true),
    ("precision_at_200", true),
    ("precision_at_500", true),
    ("de_spearman_sig", true),
    ("de_direction_match", true),
    ("de_spearman_lfc_sig", true),
    ("de_sig_genes_recall", true),
    ("de_nsig_counts_real", true),
    ("de_nsig_counts_pred", true),
    ("pr_auc", true),
    ("roc_auc", true),
];

const FDR: f32 = 0.05;
const TOP: [Option<usize>; 5] = [None, Some(50), Some(100), Some(200), Some(500)];

/// One side's table as cell-eval holds it: per perturbation, its genes in table order with
/// (float32 log2 fold change, float32 FDR).
struct Side {
    genes: BTreeMap<String, Vec<(String, f32, f32)>>,
}

impl Side {
    fn new(rows: &[DeRow]) -> Side {
        let mut genes: BTreeMap<String, Vec<(String, f32, f32)>> = BTreeMap::new();
        for r in rows {
            let entry = (r.feature.clone(), r.log2_fold_change as f32, r.fdr as f32);
            genes.entry(r.target.clone()).or_default().push(entry);
        }
        Side { genes }
    }

    fn rows(&self, pert: &str) -> &[(String, f32, f32)] {
        self.genes.get(pert).map_or(&[], Vec::as_slice)
    }

    /// Significant genes by |log2 fold change|, largest first (ties in table order).
    fn top(&self, pert: &str) -> Vec<&str> {
        let mut sig: Vec<&(String, f32, f32)> =
            self.rows(pert).iter().filter(|g| g.2 < FDR).collect();
        sig.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        sig.into_iter().map(|g| g.0.as_str()).collect()
    }

    fn n_sig(&self, pert: &str) -> usize {
        self.rows(pert).iter().filter(|g| g.2 < FDR).count()
    }
}

/// Scores the two DE tables (perturbations: those of the tables, sorted).
pub fn de_profile(real: &[DeRow], pred: &[DeRow]) -> Scores {
    let (real, pred) = (Side::new(real), Side::new(pred));
    let perts: Vec<String> = real.genes.keys().cloned().collect();
    let any_sig = |s: &Side| perts.iter().any(|p| s.n_sig(p) > 0);
    let comparable = any_sig(&real) && any_sig(&pred);
    let spearman_sig = spearman_of_counts(&real, &pred, &perts);
    let values = (perts.iter())
        .map(|p| {
            let (rt, pt) = (real.top(p), pred.top(p));
            let mut row: Vec<Option<f64>> = Vec::with_capacity(DE_METRICS.len());
            for precision in [false, true] {
                for k in TOP {
                    let v = if comparable {
                        overlap(&rt, &pt, k, precision)
                    } else {
                        0.0
                    };
                    row.push(Some(v));
                }
            }
            row.push(Some(spearman_sig));
            row.extend(per_significant(&real, &pred, p));
            row.push(Some(real.n_sig(p) as f64));
            row.push(Some(pred.n_sig(p) as f64));
            let (pr, roc) = aucs(&real, &pred, p);
            row.push(Some(pr));
            row.push(Some(roc));
            row
        })
        .collect();
    Scores {
        perts,
        metrics: DE_METRICS.iter().map(|m| m.0).collect(),
        values,
    }
}

/// `|top_k(real) ∩ top_k(pred)| / k`, k all of the real (overlap) or predicted (precision)
/// significant genes, or at most `k`.
fn overlap(real: &[&str], pred: &[&str], k: Option<usize>, precision: bool) -> f64 {
    let base = if precision { pred.len() } else { real.len() };
    let k = k.unwrap_or(base).min(base);
    if k == 0 {
        return 0.0;
    }
    let r: BTreeSet<&str> = real.iter().take(k).copied().collect();
    let p: BTreeSet<&str> = pred.iter().take(k).copied().collect();
    r.intersection(&p).count() as f64 / k as f64
}

/// Over perturbations with significant real genes: Spearman's ρ between their counts of
/// significant genes, real and predicted (1 when no perturbation has any).
fn spearman_of_counts(real: &Side, pred: &Side, perts: &[String]) -> f64 {
    let with: Vec<&String> = perts.iter().filter(|p| real.n_sig(p) > 0).collect();
    if with.is_empty() {
        return 1.0;
    }
    let r: Vec<f64> = with.iter().map(|p| real.n_sig(p) as f64).collect();
    let q: Vec<f64> = with.iter().map(|p| pred.n_sig(p) as f64).collect();
    spearman(&r, &q)
}

/// Direction match, Spearman of fold changes, recall: over the real significant genes of `pert`
/// (all `None` when it has none, a null in cell-eval's table).
fn per_significant(real: &Side, pred: &Side, pert: &str) -> [Option<f64>; 3] {
    let sig: Vec<&(String, f32, f32)> = real.rows(pert).iter().filter(|g| g.2 < FDR).collect();
    if sig.is_empty() {
        return [None; 3];
    }
    let pred_of: BTreeMap<&str, (f32, f32)> = (pred.rows(pert).iter())
        .map(|g| (g.0.as_str(), (g.1, g.2)))
        .collect();
    let sign = |v: f32| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    let both: Vec<(f32, f32)> = (sig.iter())
        .filter_map(|g| pred_of.get(g.0.as_str()).map(|q| (g.1, q.0)))
        .collect();
    let direction =
        (both.iter().filter(|(a, b)| sign(*a) == sign(*b)).count() as f64) / both.len() as f64;
    let real_lfc: Vec<f64> = sig.iter().map(|g| g.1 as f64).collect();
    let pred_lfc: Vec<f64> = (sig.iter())
        .map(|g| pred_of.get(g.0.as_str()).map_or(0.0, |q| q.0 as f64))
        .collect();
    let found = (sig.iter())
        .filter(|g| pred_of.get(g.0.as_str()).is_some_and(|q| q.1 < FDR))
        .count();
    [
        Some(direction),
        Some(spearman(&real_lfc, &pred_lfc)),
        Some(found as f64 / sig.len() as f64),
    ]
}

/// Average ranks (ties share the mean of their positions), 1-based.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0f64; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            out[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    out
}

/// Spearman's ρ: Pearson's r of the average ranks (polars' `corr(method="spearman")`); NaN for
/// fewer than two values or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    crate::metrics::pearson_or_nan(&ranks(x), &ranks(y))
}

/// PR AUC (sklearn's `average_precision_score`) and ROC AUC (`roc_curve` + `auc`) of the
/// predicted `−log10(FDR)` (FDR clipped to [1e-10, 1], float32) for the real significant genes;
/// NaN when every gene or none is significant.
fn aucs(real: &Side, pred: &Side, pert: &str) -> (f64, f64) {
    let pred_fdr: BTreeMap<&str, f32> = (pred.rows(pert).iter())
        .map(|g| (g.0.as_str(), g.2))
        .collect();
    let points: Vec<(f64, bool)> = (real.rows(pert).iter())
        .map(|g| {
            let q = pred_fdr.get(g.0.as_str()).copied().unwrap_or(1.0);
            (-(q.clamp(1e-10, 1.0).log10()) as f64, g.2 < FDR)
        })
        .collect();
    let positives = points.iter().filter(|p| p.1).count();
    if points.is_empty() || positives == 0 || positives == points.len() {
        return (f64::NAN, f64::NAN);
    }
    let mut sorted = points;
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (total_p, total_n) = (positives as f64, (sorted.len() - positives) as f64);
    let (mut tp, mut fp, mut ap, mut roc) = (0f64, 0f64, 0f64, 0f64);
    let (mut last_r, mut last_fpr, mut last_tpr) = (0f64, 0f64, 0f64);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            if sorted[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let (recall, precision) = (tp / total_p, tp / (tp + fp));
        ap += (recall - last_r) * precision;
        let (fpr, tpr) = (fp / total_n, tp / total_p);
        roc += (fpr - last_fpr) * (tpr + last_tpr) / 2.0;
        (last_r, last_fpr, last_tpr) = (recall, fpr, tpr);
        i = j;
    }
    (ap, roc)
}
