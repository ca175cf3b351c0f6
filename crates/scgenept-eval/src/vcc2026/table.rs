//! cell-eval2's tables of one scored pair: `results.csv` in long form (perturbation, metric,
//! value; a member with no value for a perturbation has no row) and `agg_results.csv`, the
//! statistics of each metric (metrics in name order; NaN values left out of all but the count).
//! The derived `expr_mse_unbiased_capped_norm` has only a mean: the sum of
//! `expr_mse_unbiased_capped` over the sum of `expr_distance_unbiased`.

use std::fmt::Write as _;

use crate::scores::{num, Scores};

/// The derived member and its two components.
pub const CAPPED_NORM: &str = "expr_mse_unbiased_capped_norm";
const NUMERATOR: &str = "expr_mse_unbiased_capped";
const DENOMINATOR: &str = "expr_distance_unbiased";

const STATISTICS: [&str; 7] = ["count", "null_count", "mean", "std", "min", "max", "median"];

/// Each metric's aggregate (the mean, or the ratio of sums for the derived member), name order.
pub fn aggregate(s: &Scores) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let mut out: Vec<(&'static str, f64)> = (0..s.metrics.len())
        .map(|m| (s.metrics[m], stats(&column(s, m))[2]))
        .collect();
    out.push((CAPPED_NORM, ratio_of_sums(s)?));
    out.sort_by_key(|m| m.0);
    Ok(out)
}

fn column(s: &Scores, m: usize) -> Vec<f64> {
    s.values.iter().filter_map(|r| r[m]).collect()
}

/// count, null_count, mean, std (n − 1), min, max, median; NaN left out after the count.
fn stats(values: &[f64]) -> [f64; 7] {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    let median = match v.len() {
        0 => f64::NAN,
        k if k % 2 == 1 => v[k / 2],
        k => (v[k / 2 - 1] + v[k / 2]) / 2.0,
    };
    let (min, max) = (v.first(), v.last());
    [
        values.len() as f64,
        0.0,
        mean,
        if v.len() > 1 { std } else { f64::NAN },
        min.copied().unwrap_or(f64::NAN),
        max.copied().unwrap_or(f64::NAN),
        median,
    ]
}

/// Σ capped / Σ distance over the perturbations finite in both (cell-eval2 refuses a
/// non-positive denominator: the reference then has no measurable effect).
fn ratio_of_sums(s: &Scores) -> anyhow::Result<f64> {
    let at = |name: &str| s.metrics.iter().position(|m| *m == name);
    let (Some(n), Some(d)) = (at(NUMERATOR), at(DENOMINATOR)) else {
        anyhow::bail!("{CAPPED_NORM} needs {NUMERATOR} and {DENOMINATOR}");
    };
    let (mut num, mut den) = (0f64, 0f64);
    for row in &s.values {
        if let (Some(a), Some(b)) = (row[n], row[d]) {
            if a.is_finite() && b.is_finite() {
                num += a;
                den += b;
            }
        }
    }
    if den.is_nan() || den <= 0.0 {
        anyhow::bail!(
            "{CAPPED_NORM}: the real effects sum to {den} ({DENOMINATOR}), so the ratio is \
             undefined: the real data show no measurable effect at this depth"
        );
    }
    Ok(num / den)
}

/// `perturbation,metric,value`, one row per value, metric by metric.
pub fn results_csv(s: &Scores) -> String {
    let mut out = String::from("perturbation,metric,value\n");
    for (m, name) in s.metrics.iter().enumerate() {
        for (p, row) in s.perts.iter().zip(&s.values) {
            if let Some(v) = row[m] {
                let _ = writeln!(out, "{p},{name},{}", num(v));
            }
        }
    }
    out
}

/// `statistic,<metric>,…` with the metrics in name order.
pub fn agg_csv(s: &Scores) -> anyhow::Result<String> {
    let derived = ratio_of_sums(s)?;
    let mut cols: Vec<(&str, [f64; 7])> = (0..s.metrics.len())
        .map(|m| (s.metrics[m], stats(&column(s, m))))
        .collect();
    let mut only_mean = [f64::NAN; 7];
    only_mean[2] = derived;
    cols.push((CAPPED_NORM, only_mean));
    cols.sort_by_key(|c| c.0);
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let mut out = format!("statistic,{}\n", names.join(","));
    for (i, stat) in STATISTICS.iter().enumerate() {
        let cells: Vec<String> = cols.iter().map(|c| num(c.1[i])).collect();
        let _ = writeln!(out, "{stat},{}", cells.join(","));
    }
    Ok(out)
}
