//! A table of scores as cell-eval writes it: one row per perturbation, one column per metric, a
//! missing value (null) where a metric does not apply to a perturbation; and polars' `describe()`
//! of it (`agg_results.csv`).

/// Per perturbation (rows) × metric (columns); `None` is polars' null (written empty).
#[derive(Debug, Clone)]
pub struct Scores {
    pub perts: Vec<String>,
    pub metrics: Vec<&'static str>,
    pub values: Vec<Vec<Option<f64>>>,
}

impl Scores {
    /// Columns side by side: `self`'s, then `other`'s (same perturbations, same order).
    pub fn beside(mut self, other: Scores) -> Scores {
        debug_assert_eq!(self.perts, other.perts);
        self.metrics.extend(other.metrics);
        for (row, more) in self.values.iter_mut().zip(other.values) {
            row.extend(more);
        }
        self
    }

    /// Without the columns `skip` names (cell-eval's `--skip-metrics`: a metric's registry name
    /// is its column's, `de_nsig_counts` stands for both count columns).
    pub fn without(mut self, skip: &[String]) -> Scores {
        let skipped = |m: &str| {
            (skip.iter())
                .any(|s| s == m || (s == "de_nsig_counts" && m.starts_with("de_nsig_counts_")))
        };
        let keep: Vec<usize> = (0..self.metrics.len())
            .filter(|&m| !skipped(self.metrics[m]))
            .collect();
        self.metrics = keep.iter().map(|&m| self.metrics[m]).collect();
        for row in &mut self.values {
            *row = keep.iter().map(|&m| row[m]).collect();
        }
        self
    }

    /// Column `m`'s non-null values.
    fn column(&self, m: usize) -> Vec<f64> {
        self.values.iter().filter_map(|r| r[m]).collect()
    }
}

/// A value as the reference packages write a float (`0.5`, `1.0`, `NaN`, `inf`): Rust's `{:?}`
/// of an f64 but for NaN.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v:?}")
    }
}

/// polars' `describe()` of each column, as cell-eval's `agg_results.csv`: count and null_count
/// (a NaN is a value, a null is not), mean and std (n − 1; a NaN makes them NaN), min and max
/// (NaN left out), 25%, 50%, 75% (nearest rank, halves up, NaN sorted last).
pub fn describe(scores: &Scores) -> Vec<(&'static str, Vec<f64>)> {
    let cols: Vec<Vec<f64>> = (0..scores.metrics.len())
        .map(|m| {
            let mut c = scores.column(m);
            c.sort_by(f64::total_cmp);
            c
        })
        .collect();
    let nulls: Vec<f64> = (0..scores.metrics.len())
        .map(|m| scores.values.iter().filter(|r| r[m].is_none()).count() as f64)
        .collect();
    let stat = |f: &dyn Fn(&[f64]) -> f64| -> Vec<f64> { cols.iter().map(|c| f(c)).collect() };
    let mean = |c: &[f64]| c.iter().sum::<f64>() / c.len() as f64;
    let quantile = |q: f64| {
        move |c: &[f64]| -> f64 {
            match c.len() {
                0 => f64::NAN,
                n => c[((q * (n - 1) as f64) + 0.5).floor() as usize],
            }
        }
    };
    let std = |c: &[f64]| {
        let m = mean(c);
        (c.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (c.len() as f64 - 1.0)).sqrt()
    };
    let finite_min = |c: &[f64]| c.iter().copied().find(|x| !x.is_nan()).unwrap_or(f64::NAN);
    let finite_max = |c: &[f64]| {
        (c.iter().rev().copied())
            .find(|x| !x.is_nan())
            .unwrap_or(f64::NAN)
    };
    vec![
        ("count", stat(&|c| c.len() as f64)),
        ("null_count", nulls),
        ("mean", stat(&mean)),
        ("std", stat(&std)),
        ("min", stat(&finite_min)),
        ("25%", stat(&quantile(0.25))),
        ("50%", stat(&quantile(0.5))),
        ("75%", stat(&quantile(0.75))),
        ("max", stat(&finite_max)),
    ]
}
