//! `scgenept eval --pred P.h5ad --real R.h5ad --pert-col target --control-pert non-targeting
//! --profile cell-eval-anndata --out DIR`: predicted cells scored against real cells with a
//! rulebook's metrics, written as the reference package writes them (docs/evaluation.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use scgenept_eval::cell_eval::DiscriminationEffect;
use scgenept_eval::de::FdrScope;
use scgenept_eval::edistance::Dots;
use scgenept_eval::judge::{evaluate, CellEvalSet, EvalRequest, Profile};
use scgenept_eval::pair::ControlSource;
use scgenept_eval::systema::SplitSource;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProfileArg {
    /// cell-eval 0.8.2's `full` profile: the DE metrics (from pdex's Mann-Whitney tables), then
    /// the anndata metrics.
    #[value(name = "cell-eval")]
    Full,
    /// cell-eval 0.8.2's `de` profile: overlap and precision at N/50/100/200/500, Spearman of
    /// significant counts and of fold changes, direction match, recall, counts, PR and ROC AUC.
    #[value(name = "cell-eval-de")]
    De,
    /// cell-eval 0.8.2's `anndata` profile (pearson_delta, mse, mae, mse_delta, mae_delta,
    /// discrimination scores l1/l2/cosine, pearson_edistance, clustering_agreement).
    #[value(name = "cell-eval-anndata")]
    Anndata,
    /// GEARS' per-condition metrics (pearson_delta_de, mse_de, …, rank_l1_delta) against a
    /// GEARS-format dataset, whose uns DE keys choose each condition's DE genes; predicted cells or
    /// predicted means (one row per perturbation) both work.
    #[value(name = "gears")]
    Gears,
    /// Systema's metrics (corr_all, corr_20de and their `_allpert` forms against the perturbed
    /// centroid, mse/rmse, jaccard, centroid_accuracy) against a GEARS-format dataset; needs the
    /// split (--split or --split-seed) whose training perturbations make the perturbed centroid.
    #[value(name = "systema")]
    Systema,
    /// cell-eval2 0.20.0's `vcc2026` profile (the Virtual Cell Challenge 2026) on raw counts:
    /// pds_cosine, expr_mse_unbiased_capped_norm, de_wilcoxon_lfc_nmae,
    /// de_wilcoxon_direction_fidelity_yield_raw, de_wilcoxon_direction_reach_raw,
    /// de_wilcoxon_sig_jaccard and four diagnostics, scored between the generic-response
    /// baseline (0) and a split-half replicate of the real data (1): scored.csv, scale.csv.
    #[value(name = "vcc2026")]
    Vcc2026,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Predicted cells (an h5ad in cell-eval's layout, e.g. `scgenept predict --per-cell`; raw
    /// counts for the vcc2026 profile).
    #[arg(long)]
    pred: PathBuf,
    /// Real cells over the same genes, in the same order.
    #[arg(long)]
    real: PathBuf,
    /// obs column naming each cell's perturbation.
    #[arg(long, default_value = "target")]
    pert_col: String,
    /// The label of control cells in that column.
    #[arg(long, default_value = "non-targeting")]
    control_pert: String,
    #[arg(long, value_enum, default_value = "cell-eval")]
    profile: ProfileArg,
    /// Directory for results.csv, agg_results.csv and summary.md (vcc2026 also: scored.csv,
    /// scale.csv, anchor_splits.csv).
    #[arg(long)]
    out: PathBuf,
    /// Also write each side's differential expression against the control cells
    /// (`real_de.csv`, `pred_de.csv`: pdex 0.3.0's Mann-Whitney U test, its columns; vcc2026:
    /// `de_real.csv`, `de_pred.csv`, cell-eval2's scanpy Wilcoxon tables).
    #[arg(long)]
    write_de: bool,
    /// Score only the perturbations the predictions have: real cells of other perturbations are
    /// left out (cell-eval refuses a pair whose perturbations differ).
    #[arg(long)]
    only_predicted: bool,
    /// Which tests one Benjamini-Hochberg correction covers: each perturbation's genes (pdex
    /// 0.3.0, as cell-eval 0.8.2 runs it), or every test of a side at once (earlier pdex;
    /// cell-eval#217).
    #[arg(long, value_enum, default_value = "perturbation")]
    fdr_scope: FdrScopeArg,
    /// Whose control cells the predicted effects are measured from: the predicted file's own
    /// (cell-eval 0.8.2; the default), or the real ones, replacing the predicted control cells
    /// before anything is computed (cell-eval#183/#196; cell-eval2's `control_source: real`,
    /// which the vcc2026 profile always uses).
    #[arg(long, value_enum)]
    control_source: Option<ControlSourceArg>,
    /// What the discrimination scores rank: the signed effects (cell-eval 0.8.2) or their
    /// absolute values (earlier cell-eval; cell-eval#189).
    #[arg(long, value_enum, default_value = "signed")]
    discrimination_effect: DiscriminationArg,
    /// cell-eval profiles: metrics not to compute or write, comma-separated, by cell-eval's
    /// names (as `cell-eval run --skip-metrics`), e.g. `pearson_edistance`, the costliest.
    #[arg(long, value_delimiter = ',')]
    skip_metrics: Vec<String>,
    /// cell-eval profiles: the arithmetic of `pearson_edistance`'s dot products. `f64`: float64,
    /// as sklearn computes them for cell-eval (within 1e-6 of it); `f32`: float32 products, 1.5×
    /// faster on a Norman-sized pair but 1.4e-5 from cell-eval there (docs/evaluation.md,
    /// "Energy distance").
    #[arg(long, value_enum, default_value = "f64")]
    edistance_dots: DotsArg,
    /// systema: the split file (JSON from `scgenept data split`, or GEARS' .pkl) whose training
    /// perturbations make the perturbed centroid.
    #[arg(long, conflicts_with = "split_seed")]
    split: Option<PathBuf>,
    /// systema: GEARS' simulation split of the real data with this seed (as `scgenept train`'s
    /// `split_seed`), instead of --split.
    #[arg(long)]
    split_seed: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ControlSourceArg {
    Pred,
    Real,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DotsArg {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DiscriminationArg {
    Signed,
    Abs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FdrScopeArg {
    Perturbation,
    All,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let req = EvalRequest {
        pred: a.pred,
        real: a.real,
        pert_col: a.pert_col,
        control_pert: a.control_pert,
        profile: match a.profile {
            ProfileArg::Full => Profile::CellEval(CellEvalSet::Full),
            ProfileArg::De => Profile::CellEval(CellEvalSet::De),
            ProfileArg::Anndata => Profile::CellEval(CellEvalSet::Anndata),
            ProfileArg::Gears => Profile::Gears,
            ProfileArg::Systema => Profile::Systema,
            ProfileArg::Vcc2026 => Profile::Vcc2026,
        },
        out: a.out,
        write_de: a.write_de,
        only_predicted: a.only_predicted,
        fdr_scope: match a.fdr_scope {
            FdrScopeArg::Perturbation => FdrScope::Perturbation,
            FdrScopeArg::All => FdrScope::All,
        },
        split: match (a.split, a.split_seed) {
            (Some(file), _) => Some(SplitSource::File(file)),
            (None, Some(seed)) => Some(SplitSource::Seed(seed)),
            (None, None) => None,
        },
        controls: match a.control_source {
            None | Some(ControlSourceArg::Pred) => ControlSource::Pred,
            Some(ControlSourceArg::Real) => ControlSource::Real,
        },
        controls_given: a.control_source.is_some(),
        skip: a.skip_metrics,
        edistance_dots: match a.edistance_dots {
            DotsArg::F32 => Dots::F32,
            DotsArg::F64 => Dots::F64,
        },
        discrimination: match a.discrimination_effect {
            DiscriminationArg::Signed => DiscriminationEffect::Signed,
            DiscriminationArg::Abs => DiscriminationEffect::Abs,
        },
    };
    let scores = evaluate(&req)?;
    println!(
        "scored {} perturbations with {}: {}/results.csv, agg_results.csv, summary.md",
        scores.perts.len(),
        req.profile.name(),
        req.out.display()
    );
    Ok(())
}
