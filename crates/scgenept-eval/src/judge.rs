//! `scgenept eval` as a library call: read and check the pair, score it with a profile, write
//! `results.csv` (one row per perturbation) and `agg_results.csv` as cell-eval names them, and a
//! Markdown summary with each metric's direction. Files are written whole or not at all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cell_eval::{anndata_profile, DiscriminationEffect, WholeSet, ANNDATA_METRICS};
use crate::cell_eval_de::{de_profile, DE_METRICS};
use crate::clustering::MIN_PERTURBATIONS;
use crate::de::{de_csv, de_table, FdrScope};
use crate::edistance::Dots;
use crate::gears::gears_profile;
use crate::pair::{Cells, ControlSource, Pair};
use crate::scores::{describe, num, Scores};
use crate::systema::{systema_profile, SplitSource};

/// A rulebook: which metrics, computed how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// cell-eval 0.8.2's metrics.
    CellEval(CellEvalSet),
    /// GEARS' per-condition metrics against a GEARS-format dataset (its DE keys).
    Gears,
    /// Systema's metrics: shifts against the control and the perturbed centroid, centroid
    /// accuracy (a GEARS-format dataset and its split).
    Systema,
    /// cell-eval2 0.20.0's `vcc2026` profile on raw counts, placed on the scale from the
    /// generic-response baseline to the split-half replicate.
    Vcc2026,
}

/// Which of cell-eval's metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellEvalSet {
    /// Its `full` profile: the DE metrics, then the anndata ones.
    Full,
    /// Its `de` profile (pdex's DE tables, then overlap, precision, …).
    De,
    /// Its `anndata` profile.
    Anndata,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::CellEval(CellEvalSet::Full) => "cell-eval",
            Profile::CellEval(CellEvalSet::De) => "cell-eval-de",
            Profile::CellEval(CellEvalSet::Anndata) => "cell-eval-anndata",
            Profile::Gears => "gears",
            Profile::Systema => "systema",
            Profile::Vcc2026 => "vcc2026",
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
    /// Score only the perturbations the predictions have (the real file may hold more).
    pub only_predicted: bool,
    /// Which tests one FDR correction covers.
    pub fdr_scope: FdrScope,
    /// The split whose training perturbations make Systema's references (`systema` only).
    pub split: Option<SplitSource>,
    /// Whose control cells the predicted effects are measured from (cell-eval profiles).
    pub controls: ControlSource,
    /// `controls` was asked for, not the default (vcc2026 refuses the predicted ones).
    pub controls_given: bool,
    /// What the discrimination scores rank (cell-eval profiles).
    pub discrimination: DiscriminationEffect,
    /// cell-eval metrics not to compute or write (cell-eval's `--skip-metrics`, its names).
    pub skip: Vec<String>,
    /// The arithmetic of `pearson_edistance`'s dot products (cell-eval profiles).
    pub edistance_dots: Dots,
}

/// The metric names `--skip-metrics` accepts for the cell-eval profiles: cell-eval's registry
/// names.
fn skippable() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = (ANNDATA_METRICS.iter().chain(&DE_METRICS))
        .map(|m| m.0)
        .filter(|m| !m.starts_with("de_nsig_counts_"))
        .collect();
    names.push("de_nsig_counts");
    names
}

/// Reads, scores and writes; returns the scores.
pub fn evaluate(req: &EvalRequest) -> Result<Scores> {
    if !req.skip.is_empty() && !matches!(req.profile, Profile::CellEval(_)) {
        bail!(
            "--skip-metrics names cell-eval metrics; the {} profile has none to skip",
            req.profile.name()
        );
    }
    let edistance = matches!(
        req.profile,
        Profile::CellEval(CellEvalSet::Full | CellEvalSet::Anndata)
    );
    if req.edistance_dots != Dots::default() && !edistance {
        bail!(
            "--edistance-dots sets pearson_edistance's arithmetic; the {} profile does not compute \
             it (cell-eval and cell-eval-anndata do)",
            req.profile.name()
        );
    }
    match req.profile {
        Profile::Gears => {
            let (scores, synthetic) =
                gears_profile(&req.pred, &req.real, &req.pert_col, &req.control_pert)?;
            write_tables(req, &scores, synthetic)?;
            Ok(scores)
        }
        Profile::Systema => {
            let Some(split) = &req.split else {
                bail!(
                    "the systema profile scores against the training perturbations' centroid: \
                     name the split with --split FILE (JSON or GEARS .pkl) or --split-seed N \
                     (GEARS' simulation split, as `scgenept train` derives it)"
                );
            };
            let (scores, synthetic) = systema_profile(
                &req.pred,
                &req.real,
                &req.pert_col,
                &req.control_pert,
                split,
            )?;
            write_tables(req, &scores, synthetic)?;
            Ok(scores)
        }
        Profile::CellEval(set) => cell_eval(req, set),
        Profile::Vcc2026 => vcc2026(req),
    }
}

/// cell-eval2's competition profile, which fixes what the cell-eval switches change.
fn vcc2026(req: &EvalRequest) -> Result<Scores> {
    if req.controls == ControlSource::Pred && req.controls_given {
        bail!(
            "the vcc2026 profile measures predictions from the real control cells (cell-eval2's \
             control_source: real); leave out --control-source pred"
        );
    }
    if req.fdr_scope != FdrScope::default() || req.discrimination != DiscriminationEffect::default()
    {
        bail!(
            "the vcc2026 profile fixes its FDR scope and discrimination score; leave out \
             --fdr-scope and --discrimination-effect"
        );
    }
    crate::vcc2026::report::evaluate(&crate::vcc2026::report::Request {
        pred: &req.pred,
        real: &req.real,
        pert_col: &req.pert_col,
        control: &req.control_pert,
        out: &req.out,
        only_predicted: req.only_predicted,
        write_de: req.write_de,
    })
}

/// cell-eval's metrics: the checked pair, its DE tables when the set needs them (or
/// `--write-de`), the scores.
fn cell_eval(req: &EvalRequest, set: CellEvalSet) -> Result<Scores> {
    let known = skippable();
    if let Some(bad) = req.skip.iter().find(|s| !known.contains(&s.as_str())) {
        bail!(
            "--skip-metrics: '{bad}' is not a cell-eval metric; known: {}",
            known.join(", ")
        );
    }
    let whole = WholeSet::unless_skipped(&req.skip, req.edistance_dots);
    let t0 = std::time::Instant::now();
    let real = Cells::read(&req.real, &req.pert_col)?;
    let pred = Cells::read(&req.pred, &req.pert_col)?;
    let pair = Pair::new(
        real,
        pred,
        &req.control_pert,
        req.only_predicted,
        req.controls,
    )?;
    pair.log_read(t0);
    let control = req.control_pert.as_str();
    let de_tables = || {
        let t = std::time::Instant::now();
        let scope = req.fdr_scope;
        let tables = (
            de_table(&pair.real, control, scope),
            de_table(&pair.pred, control, scope),
        );
        tracing::info!("DE tables, both sides ({:.1} s)", t.elapsed().as_secs_f64());
        tables
    };
    let (scores, de) = match set {
        CellEvalSet::Anndata => (
            anndata_profile(&pair, req.discrimination, whole),
            req.write_de.then(de_tables),
        ),
        CellEvalSet::De => {
            let (real, pred) = de_tables();
            (de_profile(&real, &pred), Some((real, pred)))
        }
        CellEvalSet::Full => {
            let (real, pred) = de_tables();
            let s =
                de_profile(&real, &pred).beside(anndata_profile(&pair, req.discrimination, whole));
            (s, Some((real, pred)))
        }
    };
    let mut leave_out = req.skip.clone();
    if whole.clustering && pair.perts.len() < MIN_PERTURBATIONS && set != CellEvalSet::De {
        tracing::warn!(
            "clustering_agreement needs at least {MIN_PERTURBATIONS} perturbations (there are {}); \
             left out, as cell-eval leaves out a metric it fails on",
            pair.perts.len()
        );
        leave_out.push("clustering_agreement".into());
    }
    let scores = scores.without(&leave_out);
    write_tables(req, &scores, pair.real.synthetic.is_some())?;
    if let (true, Some((real, pred))) = (req.write_de, &de) {
        write(&req.out.join("real_de.csv"), &de_csv(real))?;
        write(&req.out.join("pred_de.csv"), &de_csv(pred))?;
    }
    Ok(scores)
}

/// results.csv, agg_results.csv and summary.md into `req.out`.
fn write_tables(req: &EvalRequest, scores: &Scores, synthetic: bool) -> Result<()> {
    std::fs::create_dir_all(&req.out)
        .with_context(|| format!("{}: cannot create the output directory", req.out.display()))?;
    write(&req.out.join("results.csv"), &results_csv(scores))?;
    write(&req.out.join("agg_results.csv"), &agg_csv(scores))?;
    write(
        &req.out.join("summary.md"),
        &summary(scores, req, synthetic),
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    scgenept_data::files::write_atomic(path, text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// One row per perturbation: `perturbation,<metric>,…`.
pub fn results_csv(s: &Scores) -> String {
    let mut out = format!("perturbation,{}\n", s.metrics.join(","));
    for (p, row) in s.perts.iter().zip(&s.values) {
        let cells: Vec<String> = row.iter().map(|v| v.map_or(String::new(), num)).collect();
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

/// The switches that differ from the reference package's behaviour, one line (empty if none).
fn settings(req: &EvalRequest) -> String {
    let mut changed = Vec::new();
    if req.fdr_scope != FdrScope::default() {
        changed.push("FDR over every test of a side (--fdr-scope all)");
    }
    if req.controls != ControlSource::default() {
        changed.push("predicted effects from the real control cells (--control-source real)");
    }
    if req.discrimination != DiscriminationEffect::default() {
        changed.push("discrimination on |effect| (--discrimination-effect abs)");
    }
    if req.edistance_dots == Dots::F32 && !req.skip.iter().any(|m| m == "pearson_edistance") {
        changed.push("pearson_edistance from float32 dot products (--edistance-dots f32)");
    }
    match changed.is_empty() {
        true => String::new(),
        false => format!(
            "\n**Not the reference's defaults:** {}.\n",
            changed.join("; ")
        ),
    }
}

/// Each metric's direction, mean and median over perturbations.
fn summary(s: &Scores, req: &EvalRequest, synthetic: bool) -> String {
    let stats = describe(s);
    let get = |name: &str, m: usize| {
        (stats.iter().find(|(n, _)| *n == name)).map_or(f64::NAN, |(_, v)| v[m])
    };
    let mut out = format!(
        "# {} scores ({} perturbations){}\n\npredicted: `{}`\nreal: `{}`\n{}\n\
         | metric | better | mean | median |\n|---|---|---|---|\n",
        req.profile.name(),
        s.perts.len(),
        if synthetic { " — SYNTHETIC data" } else { "" },
        req.pred.display(),
        req.real.display(),
        settings(req)
    );
    for (m, name) in s.metrics.iter().enumerate() {
        // Every metric a profile writes is in the one metric table (metric_key.rs checks it).
        let dir = match crate::metric_key::higher_is_better(name) {
            true => "↑ higher",
            false => "↓ lower",
        };
        let _ = writeln!(
            out,
            "| {name} | {dir} | {:.4} | {:.4} |",
            get("mean", m),
            get("50%", m)
        );
    }
    out
}
