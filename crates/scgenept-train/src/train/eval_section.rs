//! `[eval]` of a run config: the rulebooks its test set is scored with (docs/evaluation.md, "In
//! training runs and sweeps").

use serde::{Deserialize, Serialize};

use scgenept_data::GearsSplit;
use scgenept_eval::baselines::Datasets;
use scgenept_eval::cell_eval::WholeSet;
use scgenept_eval::edistance::Dots;
use scgenept_eval::run_scores::{RunJudge, RunProfile};

/// The cell-eval metrics a run can leave out: those of the whole set.
const SKIPPABLE: [&str; 2] = ["pearson_edistance", "clustering_agreement"];

/// `[eval]`: the rulebooks a run is scored with (docs/evaluation.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// `gears` (always: GEARS' metrics are the run's report), and optionally `systema` and
    /// `cell-eval`.
    pub profiles: Vec<RunProfile>,
    /// cell-eval metrics not computed: `pearson_edistance` (the costliest) or
    /// `clustering_agreement`.
    pub skip_metrics: Vec<String>,
    /// Predict at most this many cells of each test condition (each from its paired control),
    /// drawn once with `train.pairing_seed`; the truths stay the means of every cell. Default:
    /// every cell, as the reference. For screens too large to predict in full on the CPU
    /// (docs/data.md, "A subsample of the test predictions"); not with cell-eval, which compares
    /// every cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cells_per_condition: Option<usize>,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            profiles: vec![RunProfile::Gears],
            skip_metrics: Vec::new(),
            max_cells_per_condition: None,
        }
    }
}

impl EvalSection {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The judge of a run's test predictions under these profiles.
    pub fn judge<'a>(
        &self,
        datasets: impl Into<Datasets<'a>>,
        split: &'a GearsSplit,
    ) -> RunJudge<'a> {
        RunJudge::new(
            datasets,
            split,
            &self.profiles,
            WholeSet::unless_skipped(&self.skip_metrics, Dots::default()),
        )
    }

    /// Why these settings cannot score a run, if they cannot.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.profiles.contains(&RunProfile::Gears) {
            anyhow::bail!(
                "eval.profiles = {:?} leaves out \"gears\": GEARS' metrics are every run's report; \
                 list it first (e.g. profiles = [\"gears\", \"systema\"])",
                self.profiles
            );
        }
        if let Some(m) = (self.skip_metrics.iter()).find(|m| !SKIPPABLE.contains(&m.as_str())) {
            anyhow::bail!(
                "eval.skip_metrics: '{m}' cannot be skipped in a run; only \"pearson_edistance\" \
                 (the costliest cell-eval metric) and \"clustering_agreement\" can"
            );
        }
        match self.max_cells_per_condition {
            Some(0) => anyhow::bail!("eval.max_cells_per_condition must be at least 1 (it is 0)"),
            Some(n) if self.profiles.contains(&RunProfile::CellEval) => anyhow::bail!(
                "eval.max_cells_per_condition = {n} cannot be combined with the \"cell-eval\" \
                 profile: cell-eval compares every predicted cell with every real one; leave one out"
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::train_config::TrainConfig;
    use scgenept_eval::run_scores::RunProfile;

    #[test]
    fn eval_profiles_keep_gears_skip_only_the_edistance_and_stay_out_of_saved_defaults() {
        let base = "name = \"t\"\n[data]\npath = \"d.h5ad\"\n[model]\nmodel_type = \"scgpt\"\n";
        let with = |eval: &str| -> TrainConfig {
            toml::from_str(&format!("{base}[eval]\n{eval}\n")).unwrap()
        };
        let cfg = with("profiles = [\"gears\", \"systema\", \"cell-eval\"]");
        assert_eq!(
            cfg.eval.profiles,
            [RunProfile::Gears, RunProfile::Systema, RunProfile::CellEval]
        );
        let e = with("profiles = [\"systema\"]")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaves out \"gears\""), "{e}");
        let e = with("skip_metrics = [\"mse\"]")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("'mse' cannot be skipped"), "{e}");
        with("skip_metrics = [\"clustering_agreement\", \"pearson_edistance\"]")
            .validate()
            .unwrap();
        let e = with("max_cells_per_condition = 0").validate().unwrap_err();
        assert!(e.to_string().contains("at least 1 (it is 0)"), "{e}");
        let e = with("profiles = [\"gears\", \"cell-eval\"]\nmax_cells_per_condition = 4")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("cell-eval compares every"), "{e}");
        let capped = with("profiles = [\"gears\", \"systema\"]\nmax_cells_per_condition = 4");
        capped.validate().unwrap();
        assert!(toml::to_string(&capped)
            .unwrap()
            .contains("max_cells_per_condition = 4"));
        let e = toml::from_str::<TrainConfig>(&format!("{base}[eval]\nprofiles = [\"vcc\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `vcc`"), "{e}");
        // A default [eval] is not written, so runs saved before it existed are not stale.
        let plain: TrainConfig = toml::from_str(base).unwrap();
        assert!(!toml::to_string(&plain).unwrap().contains("[eval]"));
        assert!(toml::to_string(&cfg).unwrap().contains("[eval]"));
    }
}
