//! What a finished run leaves besides its checkpoints: `predictions.h5ad`, `results.csv`,
//! `plots/`, and the git commit recorded in `run.json`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use scgenept_data::GearsSplit;

use crate::baselines::MethodReport;
use crate::trainer::Prepared;

/// Mean predicted expression per test condition (obs: condition, subgroup; var: genes).
pub fn write_predictions(
    path: &Path,
    p: &Prepared,
    preds: &BTreeMap<String, Vec<f64>>,
) -> Result<()> {
    use scgenept_data::h5ad_write::{AnnData, Frame, FrameColumn};
    let names: Vec<String> = preds.keys().cloned().collect();
    let flat: Vec<f32> = preds.values().flatten().map(|v| *v as f32).collect();
    let x = scgenept_data::csr::CsrMatrix::from_dense(names.len(), p.data.n_genes(), &flat);
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
        var: Frame::genes(&p.data.gene_ids, &p.data.gene_names),
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
    baselines: &BTreeMap<&'static str, MethodReport>,
) -> Result<()> {
    let mut out = String::from("condition,subgroup,method,metric,value\n");
    let methods = std::iter::once(("model", model)).chain(baselines.iter().map(|(k, r)| (*k, r)));
    for (method, r) in methods {
        for (condition, metrics) in &r.per_condition {
            let sub = split.test_subgroup.subgroup_of(condition).unwrap_or("");
            for (metric, v) in metrics {
                out.push_str(&format!("{condition},{sub},{method},{metric},{v}\n"));
            }
        }
    }
    scgenept_data::error::write_atomic(path, out.as_bytes())
        .with_context(|| path.display().to_string())
}

/// The working tree's commit, when run inside a git checkout (`+dirty` with local changes).
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if !out.status.success() || commit.is_empty() {
        return None;
    }
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

/// Figures per run: the learning curve (marking the `tested` epoch) and the GEARS figure for the
/// first two test conditions of each subgroup (`scgenept plot` draws any other).
pub fn write_run_plots(
    dir: &Path,
    p: &Prepared,
    preds: &BTreeMap<String, Vec<f64>>,
    title: &str,
    tested: usize,
) -> Result<Vec<std::path::PathBuf>> {
    let plots = dir.join("plots");
    let mut written = Vec::new();
    let curve = plots.join("learning_curve.png");
    let title = if p.data.synthetic.is_some() {
        format!("{title} — SYNTHETIC data")
    } else {
        title.to_string()
    };
    crate::learning_curve::LearningCurve::read(dir, Some(tested), &title)?.draw(&curve)?;
    written.push(curve);
    let ctrl = crate::metrics::control_mean(&p.data);
    for group in scgenept_data::Subgroups::NAMES {
        let members = p.split.test_subgroup.get(group).unwrap_or(&[]);
        for condition in members.iter().filter(|c| preds.contains_key(*c)).take(2) {
            let fig =
                crate::plots::PerturbationFigure::new(&p.data, &ctrl, condition, &preds[condition]);
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
