//! Metric keys: `(subgroup, metric)` inside the program, and the reference's strings
//! (`test_pearson_delta_de`, `test_combo_seen1_mse`) only where `metrics.json` is written and
//! read. And the one table of metrics ([`METRICS`]): each name, which way it is better, and
//! which tables show it; metrics, sweeps and the printed report all read it.

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

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Correlations, shares of correct directions.
    Higher,
    /// Errors and ranks.
    Lower,
}

/// One metric the program writes to `metrics.json`: its name there (without `test_` and the
/// subgroup), which way it is better, and which tables show it.
#[derive(Clone, Copy, Debug)]
pub struct MetricInfo {
    pub name: &'static str,
    pub better: Better,
    /// A column of the tables `train` and `baselines` print (the rest are in `metrics.json`).
    pub in_run_report: bool,
    /// A column of a sweep's overall table when its config names none (the paper's Table 3).
    pub in_sweep_default: bool,
}

const fn metric(
    name: &'static str,
    better: Better,
    in_run_report: bool,
    in_sweep_default: bool,
) -> MetricInfo {
    MetricInfo {
        name,
        better,
        in_run_report,
        in_sweep_default,
    }
}

/// Every metric, once: GEARS' per-condition metrics (`metrics.rs`), the rank metric of the
/// baselines (`baselines.rs`), Systema's (`systema.rs`), cell-eval's and cell-eval2's vcc2026
/// profile's, in the order tables show them.
pub const METRICS: [MetricInfo; 63] = {
    use Better::{Higher, Lower};
    [
        metric("pearson_delta_de", Higher, true, true),
        metric("pearson_delta", Higher, true, true),
        metric("pearson_delta_top20_de_non_dropout", Higher, true, false),
        metric("mse_de", Lower, true, true),
        metric("mse", Lower, false, true),
        metric("rank_l1_delta", Lower, true, false),
        metric("pearson", Higher, false, false),
        metric("pearson_de", Higher, false, false),
        metric("pearson_top20_de_non_dropout", Higher, false, false),
        metric("mse_top20_de_non_dropout", Lower, false, false),
        metric("frac_correct_direction_all", Higher, false, false),
        metric("frac_correct_direction_20", Higher, false, false),
        metric(
            "frac_correct_direction_top20_non_dropout",
            Higher,
            false,
            false,
        ),
        // Systema's (`systema.rs`), in runs whose config asks for them (`eval.profiles`).
        metric("corr_all", Higher, false, false),
        metric("corr_20de", Higher, false, false),
        metric("corr_all_allpert", Higher, false, false),
        metric("corr_20de_allpert", Higher, false, false),
        metric("mse_all", Lower, false, false),
        metric("mse_20de", Lower, false, false),
        metric("mse_all_allpert", Lower, false, false),
        metric("mse_20de_allpert", Lower, false, false),
        metric("jaccard", Higher, false, false),
        metric("rmse_all", Lower, false, false),
        metric("rmse_20de", Lower, false, false),
        metric("rmse_all_allpert", Lower, false, false),
        metric("rmse_20de_allpert", Lower, false, false),
        metric("centroid_accuracy", Higher, false, false),
        // cell-eval's (`cell_eval.rs`, `cell_eval_de.rs`) in runs that ask for them, but for its
        // `pearson_delta` and `mse`, which are GEARS' there (`run_cells.rs`).
        metric("mae", Lower, false, false),
        metric("mse_delta", Lower, false, false),
        metric("mae_delta", Lower, false, false),
        metric("discrimination_score_l1", Higher, false, false),
        metric("discrimination_score_l2", Higher, false, false),
        metric("discrimination_score_cosine", Higher, false, false),
        metric("pearson_edistance", Higher, false, false),
        metric("clustering_agreement", Higher, false, false),
        metric("overlap_at_N", Higher, false, false),
        metric("overlap_at_50", Higher, false, false),
        metric("overlap_at_100", Higher, false, false),
        metric("overlap_at_200", Higher, false, false),
        metric("overlap_at_500", Higher, false, false),
        metric("precision_at_N", Higher, false, false),
        metric("precision_at_50", Higher, false, false),
        metric("precision_at_100", Higher, false, false),
        metric("precision_at_200", Higher, false, false),
        metric("precision_at_500", Higher, false, false),
        metric("de_spearman_sig", Higher, false, false),
        metric("de_direction_match", Higher, false, false),
        metric("de_spearman_lfc_sig", Higher, false, false),
        metric("de_sig_genes_recall", Higher, false, false),
        metric("de_nsig_counts_real", Higher, false, false),
        metric("de_nsig_counts_pred", Higher, false, false),
        metric("pr_auc", Higher, false, false),
        metric("roc_auc", Higher, false, false),
        // cell-eval2's vcc2026 profile (`vcc2026/`): six scored members, then four diagnostics
        // (the real effect's size and mass have no better direction; listed as higher).
        metric("pds_cosine", Higher, false, false),
        metric("expr_mse_unbiased_capped_norm", Lower, false, false),
        metric("de_wilcoxon_lfc_nmae", Lower, false, false),
        metric(
            "de_wilcoxon_direction_fidelity_yield_raw",
            Higher,
            false,
            false,
        ),
        metric("de_wilcoxon_direction_reach_raw", Higher, false, false),
        metric("de_wilcoxon_sig_jaccard", Higher, false, false),
        metric("expr_mse_unbiased", Lower, false, false),
        metric("expr_mse_unbiased_capped", Lower, false, false),
        metric("expr_distance_unbiased", Higher, false, false),
        metric("expr_real_mass_ratio", Higher, false, false),
    ]
};

/// The table's entry for `metric`, or an error that lists the known names (for names a user
/// typed, such as a sweep config's columns).
pub fn metric_info(metric: &str) -> Result<&'static MetricInfo, String> {
    METRICS.iter().find(|m| m.name == metric).ok_or_else(|| {
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        format!("unknown metric '{metric}'; known: {}", names.join(", "))
    })
}

/// The columns of the tables `train` and `baselines` print.
pub fn run_report_metrics() -> Vec<&'static str> {
    (METRICS.iter().filter(|m| m.in_run_report))
        .map(|m| m.name)
        .collect()
}

/// The columns of a sweep's overall table when its config names none.
pub fn sweep_default_metrics() -> Vec<String> {
    (METRICS.iter().filter(|m| m.in_sweep_default))
        .map(|m| m.name.to_string())
        .collect()
}

/// Whether higher values of `metric` are better. Every name the program writes is in
/// [`METRICS`] (a test checks it); names users give are checked where they enter
/// ([`metric_info`]), so the fallback (higher) is never reached by a real metric.
pub fn higher_is_better(metric: &str) -> bool {
    metric_info(metric).map_or(true, |m| m.better == Better::Higher)
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

    #[test]
    fn every_metric_written_is_in_the_table_once() {
        let de = crate::metrics::DeGenes {
            top20: vec![0, 1, 2],
            top20_non_dropout: vec![1, 2],
        };
        let (pred, truth, ctrl) = ([1.0, 2.0, 3.5, 0.2], [1.1, 2.5, 3.0, 0.1], [1.0; 4]);
        let written = crate::metrics::condition_metrics(&pred, &truth, &ctrl, &de);
        let systema = crate::systema::SYSTEMA_METRICS.map(|m| m.0);
        let cell_eval = (crate::cell_eval::ANNDATA_METRICS.iter())
            .chain(&crate::cell_eval_de::DE_METRICS)
            .map(|m| m.0)
            .filter(|m| !crate::run_cells::SAME_AS_GEARS.contains(m));
        let vcc2026 =
            (crate::vcc2026::METRICS.iter().copied()).chain([crate::vcc2026::table::CAPPED_NORM]);
        let all: Vec<&str> = (written.keys().map(String::as_str))
            .chain(["rank_l1_delta"])
            .chain(systema)
            .chain(cell_eval)
            .chain(vcc2026)
            .collect();
        for name in &all {
            assert!(metric_info(name).is_ok(), "{name} is not in METRICS");
        }
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(
            names.len(),
            all.len(),
            "METRICS lists a metric nobody writes"
        );
        // Each Systema and cell-eval metric is better the same way in both tables.
        let profiles = (crate::systema::SYSTEMA_METRICS.iter())
            .chain(&crate::cell_eval::ANNDATA_METRICS)
            .chain(&crate::cell_eval_de::DE_METRICS);
        for &(name, up) in profiles {
            assert_eq!(higher_is_better(name), up, "{name}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert!(!higher_is_better("mse_de") && !higher_is_better("rank_l1_delta"));
        assert!(higher_is_better("frac_correct_direction_20"));
        assert!(metric_info("pearson_delta_dee")
            .unwrap_err()
            .contains("known: pearson_delta_de"));
    }
}
