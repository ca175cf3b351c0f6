//! Metric keys: `(subgroup, metric)` inside the program, and the reference's strings
//! (`test_pearson_delta_de`, `test_combo_seen1_mse`) only where `metrics.json` is written and
//! read. Also which way each metric is better.

use std::collections::BTreeMap;
use std::fmt;

/// The test subgroups in table order; `all` is every test condition.
pub const SUBGROUP_ORDER: [&str; 5] = [
    "all",
    "unseen_single",
    "combo_seen0",
    "combo_seen1",
    "combo_seen2",
];

/// One summary metric of one test subgroup.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    /// `all` or a GEARS subgroup (`unseen_single`, `combo_seen0`, …).
    pub subgroup: String,
    /// A GEARS metric name (`pearson_delta_de`, `mse`, …).
    pub metric: String,
}

impl MetricKey {
    pub fn new(subgroup: impl Into<String>, metric: impl Into<String>) -> Self {
        MetricKey {
            subgroup: subgroup.into(),
            metric: metric.into(),
        }
    }

    /// `test_combo_seen1_pearson_delta_de` → (`combo_seen1`, `pearson_delta_de`);
    /// `test_mse` → (`all`, `mse`); `None` for keys of other splits.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix("test_")?;
        for sg in &SUBGROUP_ORDER[1..] {
            if let Some(m) = rest.strip_prefix(sg).and_then(|r| r.strip_prefix('_')) {
                return Some(MetricKey::new(*sg, m));
            }
        }
        Some(MetricKey::new("all", rest))
    }
}

/// The reference's key: `test_{metric}` for all conditions, `test_{subgroup}_{metric}` otherwise.
impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subgroup == "all" {
            write!(f, "test_{}", self.metric)
        } else {
            write!(f, "test_{}_{}", self.subgroup, self.metric)
        }
    }
}

/// One method's summary metrics: each (subgroup, metric) → its mean over the subgroup's
/// conditions.
pub type Summary = BTreeMap<MetricKey, f64>;

/// A summary under the reference's key names, in their sorted order: how `metrics.json` holds it.
pub fn to_strings(summary: &Summary) -> BTreeMap<String, f64> {
    summary.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// A summary read back from the reference's key names; keys of other splits are left out.
pub fn from_strings(entries: impl IntoIterator<Item = (String, f64)>) -> Summary {
    entries
        .into_iter()
        .filter_map(|(k, v)| Some((MetricKey::parse(&k)?, v)))
        .collect()
}

/// Whether higher values of `metric` are better (correlations) or lower (errors, ranks).
pub fn higher_is_better(metric: &str) -> bool {
    !(metric.starts_with("mse") || metric.starts_with("rank_"))
}

/// ↑ or ↓ after a metric name.
pub fn direction(metric: &str) -> &'static str {
    if higher_is_better(metric) {
        "↑"
    } else {
        "↓"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_subgroup_and_metric() {
        let parsed = |k: &str| MetricKey::parse(k).map(|m| (m.subgroup, m.metric));
        assert_eq!(
            parsed("test_combo_seen1_pearson_delta_de"),
            Some(("combo_seen1".into(), "pearson_delta_de".into()))
        );
        assert_eq!(
            parsed("test_unseen_single_mse"),
            Some(("unseen_single".into(), "mse".into()))
        );
        assert_eq!(parsed("test_mse_de"), Some(("all".into(), "mse_de".into())));
        assert_eq!(parsed("val_mse"), None);
    }

    #[test]
    fn keys_are_written_back_as_the_reference_names_them() {
        for key in [
            "test_combo_seen1_pearson_delta_de",
            "test_mse_de",
            "test_unseen_single_mse",
        ] {
            assert_eq!(MetricKey::parse(key).unwrap().to_string(), key);
        }
    }
}
