//! What a finished run leaves besides its checkpoints: `predictions.h5ad`, `results.csv`,
//! `plots/` and `metrics.json`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use scgenept_data::GearsSplit;

use crate::run::dir::RunDir;
use crate::train::prepare::Prepared;
use scgenept_eval::baselines::MethodReport;
use scgenept_eval::method::Method;

/// Mean predicted expression per test condition (obs: condition, subgroup; var: genes).
pub fn write_predictions(
    path: &Path,
    p: &Prepared,
    preds: &BTreeMap<String, Vec<f64>>,
) -> Result<()> {
    use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
    let names: Vec<String> = preds.keys().cloned().collect();
    let flat: Vec<f32> = preds.values().flatten().map(|v| *v as f32).collect();
    let x = scgenept_data::csr::CsrMatrix::from_dense(names.len(), p.test_data.n_genes(), &flat);
    let subgroup = |c: &String| {
        p.split
            .test_subgroup
            .subgroup_of(c)
            .unwrap_or("none")
            .to_string()
    };
    AnnData {
        x: &x,
        layers: vec![],
        obs: Frame {
            index_name: "condition_index".into(),
            index: names.clone(),
            columns: vec![
                ("condition".into(), FrameColumn::Categorical(names.clone())),
                (
                    "subgroup".into(),
                    FrameColumn::Categorical(names.iter().map(subgroup).collect()),
                ),
            ],
        },
        var: Frame::genes(&p.test_data.gene_ids, &p.test_data.gene_names),
        uns: vec![scgenept_data::h5ad_write::output_kind("predicted means")],
    }
    .write(path)?;
    Ok(())
}

/// One row per test condition × method × metric.
pub fn write_results_csv(
    path: &Path,
    split: &GearsSplit,
    model: &MethodReport,
    baselines: &BTreeMap<Method, MethodReport>,
) -> Result<()> {
    let mut out = String::from("condition,subgroup,method,metric,value\n");
    let methods =
        std::iter::once((Method::Model, model)).chain(baselines.iter().map(|(k, r)| (*k, r)));
    for (method, r) in methods {
        for (condition, metrics) in &r.per_condition {
            let sub = split.test_subgroup.subgroup_of(condition).unwrap_or("");
            for (metric, v) in metrics {
                out.push_str(&format!("{condition},{sub},{method},{metric},{v}\n"));
            }
        }
    }
    scgenept_data::files::write_atomic(path, out.as_bytes())
        .with_context(|| path.display().to_string())
}

/// `metrics.json`: method → metric → value, and `"synthetic"` (read back by sweeps,
/// `sweep/mod.rs`). Written last and atomically: its presence marks a finished run.
pub fn write_metrics(
    run: &RunDir,
    model: &MethodReport,
    baselines: &BTreeMap<Method, MethodReport>,
    synthetic: bool,
) -> Result<()> {
    let mut all = serde_json::Map::new();
    let summary =
        |r: &MethodReport| serde_json::to_value(scgenept_eval::metric_key::to_strings(&r.summary));
    all.insert(Method::Model.to_string(), summary(model)?);
    for (k, r) in baselines {
        all.insert(k.to_string(), summary(r)?);
    }
    all.insert("synthetic".to_string(), synthetic.into());
    let text = serde_json::to_string_pretty(&all)? + "\n";
    scgenept_data::files::write_atomic(&run.metrics(), text.as_bytes())
        .with_context(|| run.metrics().display().to_string())
}

/// Figures per run: the learning curve (marking the `tested` epoch) and the GEARS figure for the
/// first two test conditions of each subgroup (`scgenept plot` draws any other).
pub fn write_run_plots(
    run: &RunDir,
    p: &Prepared,
    preds: &BTreeMap<String, Vec<f64>>,
    title: &str,
    tested: usize,
) -> Result<Vec<std::path::PathBuf>> {
    let plots = run.plots();
    let mut written = Vec::new();
    let curve = plots.join("learning_curve.png");
    let title = if p.data.synthetic.is_some() {
        format!("{title} — SYNTHETIC data")
    } else {
        title.to_string()
    };
    crate::figures::learning_curve::LearningCurve::read(run, Some(tested), &title)?.draw(&curve)?;
    written.push(curve);
    let ctrl = scgenept_eval::metrics::control_mean(&p.test_data);
    for group in scgenept_data::Subgroups::NAMES {
        let members = p.split.test_subgroup.get(group).unwrap_or(&[]);
        for condition in members.iter().filter(|c| preds.contains_key(*c)).take(2) {
            let fig = crate::figures::plots::PerturbationFigure::new(
                &p.test_data,
                &ctrl,
                condition,
                &preds[condition],
            );
            // A condition without DE genes has nothing to show; the metrics skip it too.
            let Ok(fig) = fig else { continue };
            let out = plots.join(format!("{}.png", file_safe(condition)));
            fig.draw(&out)?;
            written.push(out);
        }
    }
    Ok(written)
}

/// A condition as a file name (`FOSB+CEBPB` stays; path separators and spaces do not).
pub fn file_safe(condition: &str) -> String {
    condition
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
