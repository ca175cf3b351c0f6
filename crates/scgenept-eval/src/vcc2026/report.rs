//! `scgenept eval --profile vcc2026`: reads both files as raw counts, gives the prediction the
//! real control cells (cell-eval2's `control_source: real`), scores it and places it on the
//! competition scale, and writes what cell-eval2's `run`, `prep-real-bundle` and `score` write
//! (docs/evaluation.md, "vcc2026"). Files are written whole or not at all.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::score::ScoredMetric;
use super::{competition, de, table, Competition};
use crate::pair::{Cells, ControlSource, Pair};
use crate::scores::Scores;

/// What to score and where the files go (`judge::EvalRequest`, checked for this profile).
pub struct Request<'a> {
    pub pred: &'a Path,
    pub real: &'a Path,
    pub pert_col: &'a str,
    pub control: &'a str,
    pub out: &'a Path,
    /// Score only the perturbations the predictions have.
    pub only_predicted: bool,
    /// Also write both DE tables.
    pub write_de: bool,
}

pub fn evaluate(req: &Request) -> Result<Scores> {
    let t0 = std::time::Instant::now();
    let real = Cells::read_counts(req.real, req.pert_col)?;
    let pred = Cells::read_counts(req.pred, req.pert_col)?;
    let control = req.control;
    let pair = Pair::new(real, pred, control, req.only_predicted, ControlSource::Real)?;
    pair.log_read(t0);
    let c = competition(&pair.real, &pair.pred, control)?;
    let out = req.out;
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot create the output directory", out.display()))?;
    let files = [
        ("results.csv", table::results_csv(&c.run.scores)),
        ("agg_results.csv", table::agg_csv(&c.run.scores)?),
        ("scored.csv", scored_csv(&c.scores, c.avg_score)),
        ("scale.csv", scale_csv(&c)),
        ("anchor_splits.csv", splits_csv(&c)),
        (
            "summary.md",
            summary(req, &c, pair.real.synthetic.is_some())?,
        ),
    ];
    for (name, text) in &files {
        write(&out.join(name), text)?;
    }
    if req.write_de {
        write(&out.join("de_real.csv"), &de::de_csv(&c.reference.de))?;
        write(&out.join("de_pred.csv"), &de::de_csv(&c.run.de_pred))?;
    }
    Ok(c.run.scores)
}

fn write(path: &Path, text: &str) -> Result<()> {
    scgenept_data::files::write_atomic(path, text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:?}"))
}

/// cell-eval2's `score` table: each scored member's place on the fixed scale and on the
/// replicate scale, then the competition score (`avg_score`, from the replicate scale).
fn scored_csv(rows: &[ScoredMetric], avg: f64) -> String {
    let mut s = String::from("metric,from_baseline,from_replicate\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:?}",
            r.metric,
            opt(r.from_baseline),
            r.from_replicate
        );
    }
    let _ = writeln!(s, "avg_score,,{avg:?}");
    s
}

/// Both ends of the scale per metric: the baseline arm's aggregate and the replicate's (the mean
/// over the anchor's splits), with the splits' spread.
fn scale_csv(c: &Competition) -> String {
    let mut s =
        String::from("metric,baseline,replicate,replicate_sd,replicate_min,replicate_max\n");
    for (m, (name, rep)) in c.anchor.replicate().iter().enumerate() {
        let base = c.baseline.iter().find(|b| b.0 == *name).map(|b| b.1);
        let values: Vec<f64> = c.anchor.splits.iter().map(|split| split[m].1).collect();
        let sd = (values.iter().map(|v| (v - rep) * (v - rep)).sum::<f64>() / values.len() as f64)
            .sqrt();
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let _ = writeln!(s, "{name},{},{rep:?},{sd:?},{lo:?},{hi:?}", opt(base));
    }
    s
}

/// Each anchor split's value per metric (cell-eval2's `anchor_splits`).
fn splits_csv(c: &Competition) -> String {
    let mut s = String::from("split_index,seed,metric,value\n");
    for (i, (seed, split)) in c.anchor.seeds.iter().zip(&c.anchor.splits).enumerate() {
        for (name, v) in split {
            let _ = writeln!(s, "{i},{seed},{name},{v:?}");
        }
    }
    s
}

/// The competition score, each scored member on both scales, and the diagnostics.
fn summary(req: &Request, c: &Competition, synthetic: bool) -> Result<String> {
    let user = table::aggregate(&c.run.scores)?;
    let replicate = c.anchor.replicate();
    let get = |set: &[(&str, f64)], name: &str| {
        set.iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1)
    };
    let mut out = format!(
        "# vcc2026 score ({} perturbations){}\n\npredicted: `{}`\nreal: `{}`\n\n\
         **Competition score (avg of from_replicate): {:.4}** — 0 is the generic-response \
         baseline, 1 a split-half replicate of the real data.\n\n\
         | metric | better | prediction | baseline | replicate | from_replicate | from_baseline |\n\
         |---|---|---|---|---|---|---|\n",
        c.run.scores.perts.len(),
        if synthetic { " — SYNTHETIC data" } else { "" },
        req.pred.display(),
        req.real.display(),
        c.avg_score
    );
    for r in &c.scores {
        let _ = writeln!(
            out,
            "| {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} |",
            r.metric,
            crate::metric_key::direction(r.metric),
            get(&user, r.metric),
            get(&c.baseline, r.metric),
            get(&replicate, r.metric),
            r.from_replicate,
            r.from_baseline.map_or("–".into(), |v| format!("{v:.4}"))
        );
    }
    out.push_str("\nDiagnostics (not scored):\n\n| metric | prediction | baseline | replicate |\n|---|---|---|---|\n");
    for (name, v) in user
        .iter()
        .filter(|m| !c.scores.iter().any(|s| s.metric == m.0))
    {
        let _ = writeln!(
            out,
            "| {name} | {v:.4} | {:.4} | {:.4} |",
            get(&c.baseline, name),
            get(&replicate, name)
        );
    }
    Ok(out)
}
