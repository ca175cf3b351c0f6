//! `scgenept eval` as a library call: read and check the pair, score it with a profile, write
//! `results.csv` (one row per perturbation) and `agg_results.csv` as cell-eval names them, and a
//! Markdown summary with each metric's direction. Files are written whole or not at all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cell_eval::{anndata_profile, describe, Scores, ANNDATA_METRICS};
use crate::pair::{Cells, Pair};

/// A rulebook: which metrics, computed how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// cell-eval 0.8.2's `anndata` profile without `clustering_agreement`.
    CellEvalAnndata,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::CellEvalAnndata => "cell-eval-anndata",
        }
    }
}

/// What to score and where the tables go.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    pub pred: PathBuf,
    pub real: PathBuf,
    pub pert_col: String,
    pub control_pert: String,
    pub profile: Profile,
    pub out: PathBuf,
    /// Also write each side's DE table (`real_de.csv`, `pred_de.csv`), as cell-eval does.
    pub write_de: bool,
}

/// Reads, scores and writes; returns the scores.
pub fn evaluate(req: &EvalRequest) -> Result<Scores> {
    let real = Cells::read(&req.real, &req.pert_col)?;
    let pred = Cells::read(&req.pred, &req.pert_col)?;
    let pair = Pair::new(real, pred, &req.control_pert)?;
    let scores = match req.profile {
        Profile::CellEvalAnndata => anndata_profile(&pair),
    };
    std::fs::create_dir_all(&req.out)
        .with_context(|| format!("{}: cannot create the output directory", req.out.display()))?;
    write(&req.out.join("results.csv"), &results_csv(&scores))?;
    write(&req.out.join("agg_results.csv"), &agg_csv(&scores))?;
    write(&req.out.join("summary.md"), &summary(&scores, req))?;
    if req.write_de {
        for (name, side) in [("real_de.csv", &pair.real), ("pred_de.csv", &pair.pred)] {
            let table = crate::de::de_table(side, &req.control_pert);
            write(&req.out.join(name), &crate::de::de_csv(&table))?;
        }
    }
    Ok(scores)
}

fn write(path: &Path, text: &str) -> Result<()> {
    scgenept_data::files::write_atomic(path, text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// A value as Python prints a float (`0.5`, `1.0`, `nan`).
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v:?}")
    }
}

/// One row per perturbation: `perturbation,<metric>,…`.
pub fn results_csv(s: &Scores) -> String {
    let mut out = format!("perturbation,{}\n", s.metrics.join(","));
    for (p, row) in s.perts.iter().zip(&s.values) {
        let cells: Vec<String> = row.iter().map(|v| num(*v)).collect();
        let _ = writeln!(out, "{},{}", csv_field(p), cells.join(","));
    }
    out
}

/// polars' `describe()` of the results: `statistic,<metric>,…`.
pub fn agg_csv(s: &Scores) -> String {
    let mut out = format!("statistic,{}\n", s.metrics.join(","));
    for (stat, values) in describe(s) {
        let cells: Vec<String> = values.iter().map(|v| num(*v)).collect();
        let _ = writeln!(out, "{stat},{}", cells.join(","));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Each metric's direction, mean and median over perturbations.
fn summary(s: &Scores, req: &EvalRequest) -> String {
    let stats = describe(s);
    let get = |name: &str, m: usize| {
        (stats.iter().find(|(n, _)| *n == name)).map_or(f64::NAN, |(_, v)| v[m])
    };
    let mut out = format!(
        "# {} scores ({} perturbations)\n\npredicted: `{}`\nreal: `{}`\n\n\
         | metric | better | mean | median |\n|---|---|---|---|\n",
        req.profile.name(),
        s.perts.len(),
        req.pred.display(),
        req.real.display()
    );
    for (m, name) in s.metrics.iter().enumerate() {
        let up = ANNDATA_METRICS
            .iter()
            .find(|x| x.0 == *name)
            .is_some_and(|x| x.1);
        let dir = if up { "↑ higher" } else { "↓ lower" };
        let _ = writeln!(
            out,
            "| {name} | {dir} | {:.4} | {:.4} |",
            get("mean", m),
            get("50%", m)
        );
    }
    out
}
