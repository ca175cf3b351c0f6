//! GEARS' evaluation, as scGenePT reports it (docs/reference.md §5): per test condition on
//! cell-averaged vectors, then averaged over conditions and over each test subgroup.
//!
//! Ported from `gears/inference.py` 0.0.2: `compute_metrics` (`mse`, `pearson`, `mse_de`,
//! `pearson_de`), `deeper_analysis` (`pearson_delta`, `pearson_delta_de`, direction fractions) and
//! `non_dropout_analysis` (`*_top20_de_non_dropout`). Pearson is scipy's `pearsonr` with NaN → 0;
//! MSE is sklearn's. The control mean is over all control cells of the dataset. Checked against
//! the real GEARS functions in `tests/metrics.rs`.

use crate::metric_key::{MetricKey, Summary};
use std::collections::BTreeMap;

use scgenept_data::cells::RowSource;
use scgenept_data::{GearsSplit, PerturbData, Subgroups};

/// Metric name → value for one condition (or one summary).
pub type Metrics = BTreeMap<String, f64>;

/// `scipy.stats.pearsonr(a, b)[0]`, with GEARS' NaN → 0 (constant input).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return 0.0;
    }
    let r = pearson_or_nan(a, b);
    if r.is_nan() {
        0.0
    } else {
        r
    }
}

/// Pearson's r clipped to [-1, 1], NaN when either input is constant (`np.corrcoef`).
pub fn pearson_or_nan(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    (sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0)
}

/// sklearn `mean_squared_error`.
pub fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len().max(1) as f64
}

fn at(v: &[f64], idx: &[usize]) -> Vec<f64> {
    idx.iter().map(|i| v[*i]).collect()
}

fn minus(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Genes where `sign(pred − ctrl) == sign(truth − ctrl)` (numpy `sign`, 0 for 0), over `denominator`.
fn frac_correct_direction(
    pred: &[f64],
    truth: &[f64],
    ctrl: &[f64],
    idx: &[usize],
    denominator: usize,
) -> f64 {
    let sign = |x: f64| -> f64 {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let same = idx
        .iter()
        .filter(|&&i| sign(pred[i] - ctrl[i]) == sign(truth[i] - ctrl[i]))
        .count();
    same as f64 / denominator.max(1) as f64
}

/// The DE genes GEARS scores a condition on.
#[derive(Clone, Debug, Default)]
pub struct DeGenes {
    /// `rank_genes_groups_cov_all[name][:20]`, as gene positions, in rank order.
    pub top20: Vec<usize>,
    /// `top_non_dropout_de_20[name]`, as gene positions.
    pub top20_non_dropout: Vec<usize>,
}

impl DeGenes {
    /// From the dataset's DE keys; `None` when the condition has none (ctrl, or not in `uns`).
    pub fn of(data: &PerturbData, condition: &str) -> Option<Self> {
        let k = data.conditions.iter().position(|c| c == condition)?;
        let name = &data.condition_names[k];
        let pos: BTreeMap<&str, usize> = data
            .gene_ids
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        let to_idx = |ids: &[String]| -> Vec<usize> {
            ids.iter()
                .filter_map(|g| pos.get(g.as_str()).copied())
                .collect()
        };
        let ranked = data.de.rank_genes_groups_cov_all.get(name)?;
        Some(Self {
            top20: to_idx(&ranked[..ranked.len().min(20)]),
            top20_non_dropout: data
                .de
                .top_non_dropout_de_20
                .get(name)
                .map(|v| to_idx(v))
                .unwrap_or_default(),
        })
    }
}

/// Every per-condition metric, from the mean prediction, mean truth and control mean.
pub fn condition_metrics(pred: &[f64], truth: &[f64], ctrl: &[f64], de: &DeGenes) -> Metrics {
    let mut m = Metrics::new();
    let put = |m: &mut Metrics, k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put(&mut m, "mse", mse(pred, truth));
    put(&mut m, "pearson", pearson(pred, truth));
    let (p20, t20, c20) = (
        at(pred, &de.top20),
        at(truth, &de.top20),
        at(ctrl, &de.top20),
    );
    put(&mut m, "mse_de", mse(&p20, &t20));
    put(&mut m, "pearson_de", pearson(&p20, &t20));
    put(
        &mut m,
        "pearson_delta",
        pearson(&minus(pred, ctrl), &minus(truth, ctrl)),
    );
    put(
        &mut m,
        "pearson_delta_de",
        pearson(&minus(&p20, &c20), &minus(&t20, &c20)),
    );
    let all: Vec<usize> = (0..pred.len()).collect();
    put(
        &mut m,
        "frac_correct_direction_all",
        frac_correct_direction(pred, truth, ctrl, &all, pred.len()),
    );
    // GEARS divides by 20 even when fewer genes exist.
    put(
        &mut m,
        "frac_correct_direction_20",
        frac_correct_direction(pred, truth, ctrl, &de.top20, 20),
    );
    let nd = &de.top20_non_dropout;
    let (pn, tn, cn) = (at(pred, nd), at(truth, nd), at(ctrl, nd));
    put(
        &mut m,
        "pearson_delta_top20_de_non_dropout",
        pearson(&minus(&pn, &cn), &minus(&tn, &cn)),
    );
    put(&mut m, "pearson_top20_de_non_dropout", pearson(&pn, &tn));
    put(
        &mut m,
        "mse_top20_de_non_dropout",
        mse(&minus(&pn, &cn), &minus(&tn, &cn)),
    );
    put(
        &mut m,
        "frac_correct_direction_top20_non_dropout",
        frac_correct_direction(pred, truth, ctrl, nd, nd.len()),
    );
    m
}

/// Mean expression over the given cells, in f64.
pub fn cell_mean(data: &PerturbData, cells: &[u32]) -> Vec<f64> {
    let mut m = vec![0f64; data.n_genes()];
    let rows: Vec<usize> = cells.iter().map(|c| *c as usize).collect();
    data.x.visit_rows(&rows, &mut |_, cols, vals| {
        for (j, v) in cols.iter().zip(vals) {
            m[*j as usize] += *v as f64;
        }
    });
    let n = cells.len().max(1) as f64;
    m.iter_mut().for_each(|v| *v /= n);
    m
}

/// The control mean GEARS subtracts: all control cells of the dataset.
pub fn control_mean(data: &PerturbData) -> Vec<f64> {
    cell_mean(data, &data.cells_by_condition()[data.control_index()])
}

/// Averages over conditions: `test_{metric}` over all, `test_{subgroup}_{metric}` per non-empty
/// subgroup (`MetricKey`; the reference's key names, e.g. `test_combo_seen1_pearson_delta_de`).
pub fn summarize(per_condition: &BTreeMap<String, Metrics>, subgroups: &Subgroups) -> Summary {
    let mean_of = |conds: &mut dyn Iterator<Item = &Metrics>, key: &str| -> Option<f64> {
        let v: Vec<f64> = conds.filter_map(|m| m.get(key).copied()).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mut out = Summary::new();
    let keys: Vec<String> = per_condition
        .values()
        .flat_map(|m| m.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for key in &keys {
        if let Some(v) = mean_of(&mut per_condition.values(), key) {
            out.insert(MetricKey::new("all", key), v);
        }
    }
    for name in Subgroups::NAMES {
        let members = subgroups.get(name).unwrap_or(&[]);
        for key in &keys {
            let mut it = members.iter().filter_map(|c| per_condition.get(c));
            if let Some(v) = mean_of(&mut it, key) {
                out.insert(MetricKey::new(name, key), v);
            }
        }
    }
    out
}

/// The legend line of `rank_l1_delta` under every table that shows it.
pub const RANK_L1_LEGEND: &str = "rank_l1_delta ↓: per condition, the share of the other test \
    conditions whose predicted Δ is closer (L1) to its true Δ than its own prediction is; 0 = its \
    own prediction is the closest, 0.5 = chance (predictions that all look alike).";

/// Discrimination: for each condition, where its true Δ ranks among all conditions' predicted Δ
/// by L1 distance, normalised to 0 (its own prediction is closest) … 1 (farthest); ties count
/// half. Predictions that all look alike (scGPT #277) score 0.5.
pub fn rank_metric(
    pred_delta: &BTreeMap<String, Vec<f64>>,
    true_delta: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, f64> {
    let l1 = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum() };
    let names: Vec<&String> = true_delta
        .keys()
        .filter(|k| pred_delta.contains_key(*k))
        .collect();
    let n = names.len();
    names
        .iter()
        .map(|p| {
            let truth = &true_delta[*p];
            let own = l1(&pred_delta[*p], truth);
            let (mut closer, mut ties) = (0.0, 0.0);
            for q in names.iter().filter(|q| *q != p) {
                let d = l1(&pred_delta[*q], truth);
                if d < own {
                    closer += 1.0;
                } else if d == own {
                    ties += 1.0;
                }
            }
            let rank = if n > 1 {
                (closer + 0.5 * ties) / (n - 1) as f64
            } else {
                0.0
            };
            ((*p).clone(), rank)
        })
        .collect()
}

/// Test conditions of a split that the dataset has (GEARS scores every test condition).
pub fn test_conditions(split: &GearsSplit, data: &PerturbData) -> Vec<String> {
    split
        .test
        .iter()
        .filter(|c| data.conditions.contains(c))
        .cloned()
        .collect()
}
