//! The Virtual Cell Challenge 2026 rulebook: cell-eval2 0.20.0's `vcc2026` profile on raw
//! counts (docs/evaluation.md, "vcc2026"). Six scored members and four diagnostics per
//! perturbation (`score_pair`), aggregated as cell-eval2's `run` does (`table.rs`).
//!
//! - `bulk.rs`: pseudobulks in the `bulk_lognorm` space and their jackknife corrections;
//! - `expr.rs`: the expression members and `pds_cosine`;
//! - `de.rs`, `de_metrics.rs`: the CPU differential expression and the DE members;
//! - `targets.rs`: which gene a perturbation label targets;
//! - `table.rs`: the long `results.csv` and the wide `agg_results.csv`;
//! - `baseline.rs`, `anchor.rs`, `score.rs`: the scale's two ends (the generic-response arm and
//!   the split-half replicate) and the score between them (`competition`).

pub mod anchor;
pub mod baseline;
pub mod bulk;
pub mod de;
pub mod de_metrics;
pub mod expr;
pub mod report;
pub mod score;
pub mod table;
pub mod targets;

use crate::pair::Cells;
use crate::scores::Scores;

use self::bulk::Pseudobulk;
use self::de::{de_table, DeTable};
use self::de_metrics::de_scores;
use self::expr::expr_scores;
use self::targets::Targets;

/// The per-perturbation members, in the order cell-eval2's catalog lists the profile (its
/// derived `expr_mse_unbiased_capped_norm` is an aggregate only: `table::aggregate`).
pub const METRICS: [&str; 9] = [
    "pds_cosine",
    "expr_mse_unbiased",
    "expr_mse_unbiased_capped",
    "expr_distance_unbiased",
    "expr_real_mass_ratio",
    "de_wilcoxon_lfc_nmae",
    "de_wilcoxon_direction_fidelity_yield_raw",
    "de_wilcoxon_direction_reach_raw",
    "de_wilcoxon_sig_jaccard",
];

/// What a prediction is scored against, computed once per set of real cells: their
/// pseudobulks, their DE table (against their own `control` cells) and their genes' targets.
pub struct Reference {
    pub bulk: Pseudobulk,
    pub de: DeTable,
    targets: Targets,
}

impl Reference {
    pub fn of(real: &Cells, control: &str) -> Reference {
        Reference {
            bulk: Pseudobulk::of(real),
            de: de_table(real, control),
            targets: Targets::new(&real.genes),
        }
    }
}

/// One prediction scored: the members per perturbation and its DE table.
pub struct Scored {
    pub scores: Scores,
    pub de_pred: DeTable,
}

/// Scores `pred` against the real cells of `real`, both raw counts over the same genes with the
/// same perturbations; `pred`'s DE is against its own `control` cells (give it the real control
/// cells for cell-eval2's `control_source: real`).
pub fn score_pair(real: &Reference, pred: &Cells, control: &str) -> anyhow::Result<Scored> {
    let expr = expr_scores(&Pseudobulk::of(pred), &real.bulk, control, &real.targets)?;
    let de_pred = de_table(pred, control);
    let de = de_scores(&real.de, &de_pred, &real.targets)?;
    if de.perts != expr.perts {
        anyhow::bail!("the DE tables and the pseudobulks name different perturbations");
    }
    let values = (0..expr.perts.len())
        .map(|k| {
            vec![
                Some(expr.pds_cosine[k]),
                Some(expr.mse_unbiased[k]),
                Some(expr.mse_unbiased_capped[k]),
                Some(expr.distance_unbiased[k]),
                Some(expr.real_mass_ratio[k]),
                de.lfc_nmae[k],
                Some(de.fidelity_yield_raw[k]),
                Some(de.reach_raw[k]),
                Some(de.sig_jaccard[k]),
            ]
        })
        .collect();
    Ok(Scored {
        scores: Scores {
            perts: expr.perts,
            metrics: METRICS.to_vec(),
            values,
        },
        de_pred,
    })
}

/// The seed of the baseline arm's resampling (`cell-eval2 baseline --seed`).
pub const BASELINE_SEED: u64 = 0;

/// A prediction scored as the competition scores it.
pub struct Competition {
    pub reference: Reference,
    pub run: Scored,
    /// The baseline arm's aggregates (metric name order).
    pub baseline: Vec<(&'static str, f64)>,
    pub anchor: anchor::Anchor,
    pub scores: Vec<score::ScoredMetric>,
    /// The mean of the six `from_replicate` scores: the competition score.
    pub avg_score: f64,
}

/// `pred` (with the real control cells) scored against `real`, and placed on the scale from the
/// generic-response baseline to the split-half replicate of `real`.
pub fn competition(real: &Cells, pred: &Cells, control: &str) -> anyhow::Result<Competition> {
    let t = std::time::Instant::now();
    let reference = Reference::of(real, control);
    let run = score_pair(&reference, pred, control)?;
    tracing::info!(
        "vcc2026 metrics of the prediction ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let arm = baseline::baseline_arm(real, control, BASELINE_SEED)?;
    let baseline = table::aggregate(&score_pair(&reference, &arm, control)?.scores)?;
    tracing::info!("baseline arm scored ({:.1} s)", t.elapsed().as_secs_f64());
    let anchor = anchor::anchor(real, &reference.de, control)?;
    let user = table::aggregate(&run.scores)?;
    let (scores, avg_score) = score::score(&user, &baseline, &anchor.replicate())?;
    Ok(Competition {
        reference,
        run,
        baseline,
        anchor,
        scores,
        avg_score,
    })
}
