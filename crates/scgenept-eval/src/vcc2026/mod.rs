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

/// One pair scored: the members per perturbation and both sides' DE tables.
pub struct Scored {
    pub scores: Scores,
    pub de_real: DeTable,
    pub de_pred: DeTable,
}

/// Scores `pred` against `real`, both raw counts over the same genes with the same
/// perturbations; each side's DE is against its own `control` cells (give `pred` the real
/// control cells for cell-eval2's `control_source: real`).
pub fn score_pair(real: &Cells, pred: &Cells, control: &str) -> anyhow::Result<Scored> {
    let targets = Targets::new(&real.genes);
    let (real_bulk, pred_bulk) = (Pseudobulk::of(real), Pseudobulk::of(pred));
    let expr = expr_scores(&pred_bulk, &real_bulk, control, &targets)?;
    let (de_real, de_pred) = (de_table(real, control), de_table(pred, control));
    let de = de_scores(&de_real, &de_pred, &targets)?;
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
        de_real,
        de_pred,
    })
}

/// The seed of the baseline arm's resampling (`cell-eval2 baseline --seed`).
pub const BASELINE_SEED: u64 = 0;

/// A prediction scored as the competition scores it.
pub struct Competition {
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
    let run = score_pair(real, pred, control)?;
    tracing::info!(
        "vcc2026 metrics of the prediction ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let arm = baseline::baseline_arm(real, control, BASELINE_SEED)?;
    let baseline = table::aggregate(&score_pair(real, &arm, control)?.scores)?;
    tracing::info!("baseline arm scored ({:.1} s)", t.elapsed().as_secs_f64());
    let anchor = anchor::anchor(real, control)?;
    let user = table::aggregate(&run.scores)?;
    let (scores, avg_score) = score::score(&user, &baseline, &anchor.replicate())?;
    Ok(Competition {
        run,
        baseline,
        anchor,
        scores,
        avg_score,
    })
}
