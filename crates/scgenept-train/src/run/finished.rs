//! A finished run read back from its directory: each method's summary metrics
//! (`metrics.json`), which knowledge table its embedding baselines used (`run.json`), whether the
//! data was synthetic, and where a baseline scored only part of a subgroup (`results.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::run::dir::RunDir;
use crate::run::manifest::RunManifest;
use crate::train_config::TrainConfig;
use scgenept_eval::method::Method;
use scgenept_eval::metric_key::{from_strings, Summary};

/// The metrics a finished run reported: method → `test_…` key → value, and which knowledge source
/// its embedding baselines used.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub label: String,
    pub seed: u64,
    pub methods: BTreeMap<Method, Summary>,
    pub baseline_source: Option<scgenept_model::KnowledgeSource>,
    /// Trained and scored on synthetic data (`"synthetic": true` in metrics.json).
    pub synthetic: bool,
    /// Per method, the subgroups (and `all`) where it scored fewer conditions than the model:
    /// `(subgroup, scored, of)`, from results.csv. Its means there are left out of the tables.
    pub partial: BTreeMap<Method, Vec<(String, usize, usize)>>,
}

/// [`FinishedRun::partial`] from a run's `results.csv` (`condition,subgroup,method,metric,value`);
/// empty when the file is absent (runs from before it existed keep every mean).
fn partial_coverage(path: &Path) -> BTreeMap<Method, Vec<(String, usize, usize)>> {
    use std::collections::BTreeSet;
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut scored: BTreeMap<(Method, String), BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.splitn(5, ',').collect();
        if let [condition, subgroup, method, _, _] = f[..] {
            let Ok(method) = method.parse::<Method>() else {
                continue;
            };
            for sg in [subgroup, "all"] {
                scored
                    .entry((method, sg.to_string()))
                    .or_default()
                    .insert(condition.to_string());
            }
        }
    }
    let model = |sg: &str| {
        scored
            .get(&(Method::Model, sg.to_string()))
            .map(|c| c.len())
    };
    let mut out: BTreeMap<Method, Vec<(String, usize, usize)>> = BTreeMap::new();
    for ((method, sg), conditions) in &scored {
        if let Some(of) = model(sg).filter(|of| *method != Method::Model && conditions.len() < *of)
        {
            out.entry(*method)
                .or_default()
                .push((sg.clone(), conditions.len(), of));
        }
    }
    out
}

impl FinishedRun {
    /// Reads `metrics.json` (and `run.json`) of the finished run `dir` of `config`, shown as
    /// `label`.
    pub fn read(dir: &RunDir, label: &str, seed: u64, config: &TrainConfig) -> Result<FinishedRun> {
        let path = dir.metrics();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let not_ours = || format!("{}: not a metrics file of scgenept train", path.display());
        let raw: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&text).with_context(not_ours)?;
        let mut methods = BTreeMap::new();
        let mut synthetic = None;
        for (key, value) in raw {
            match value {
                serde_json::Value::Bool(b) if key == "synthetic" => synthetic = Some(b),
                // NaN metrics are written as null.
                serde_json::Value::Object(m) => {
                    let method: Method = key
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!("{} ({e})", not_ours()))?;
                    let m = m.into_iter().filter_map(|(k, x)| Some((k, x.as_f64()?)));
                    methods.insert(method, from_strings(m));
                }
                _ => anyhow::bail!("{} (unexpected `{key}`)", not_ours()),
            }
        }
        // Runs from before metrics.json carried the flag: the data file's own marker.
        let synthetic = synthetic.unwrap_or_else(|| {
            scgenept_data::h5ad::H5ad::open(&config.data.path)
                .is_ok_and(|f| f.uns_string("synthetic").is_some())
        });
        // Runs from before run.json named it used the alphabetically first table.
        let baseline_source = RunManifest::read(dir)
            .and_then(|m| m.baseline_knowledge_source)
            .or_else(|| config.model.knowledge.keys().next().copied());
        Ok(FinishedRun {
            label: label.to_string(),
            seed,
            methods,
            baseline_source,
            synthetic,
            partial: partial_coverage(&dir.results()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_conditions_against_the_model() {
        let path =
            std::env::temp_dir().join(format!("scgenept-coverage-{}.csv", std::process::id()));
        let rows = [
            "condition,subgroup,method,metric,value",
            "A+B,combo_seen2,model,mse,0.1",
            "C+D,combo_seen2,model,mse,0.1",
            "E+ctrl,unseen_single,model,mse,0.1",
            "A+B,combo_seen2,additive,mse,0.2",
            "A+B,combo_seen2,control_mean,mse,0.3",
            "C+D,combo_seen2,control_mean,mse,0.3",
            "E+ctrl,unseen_single,control_mean,mse,0.3",
        ];
        std::fs::write(&path, rows.join("\n") + "\n").unwrap();
        let partial = partial_coverage(&path);
        assert_eq!(
            partial,
            BTreeMap::from([(
                Method::Baseline(scgenept_eval::method::Baseline::Additive),
                vec![("all".to_string(), 1, 3), ("combo_seen2".to_string(), 1, 2)]
            )])
        );
        std::fs::remove_file(&path).unwrap();
        assert!(partial_coverage(&path).is_empty(), "no file, no claims");
    }
}
