//! `scgenept eval --pred P.h5ad --real R.h5ad --pert-col target --control-pert non-targeting
//! --profile cell-eval-anndata --out DIR`: predicted cells scored against real cells with a
//! rulebook's metrics, written as the reference package writes them (docs/evaluation.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use scgenept_eval::de::FdrScope;
use scgenept_eval::judge::{evaluate, CellEvalSet, EvalRequest, Profile};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProfileArg {
    /// cell-eval 0.8.2's `full` profile without clustering_agreement: the DE metrics (from
    /// pdex's Mann-Whitney tables), then the anndata metrics.
    #[value(name = "cell-eval")]
    Full,
    /// cell-eval 0.8.2's `de` profile: overlap and precision at N/50/100/200/500, Spearman of
    /// significant counts and of fold changes, direction match, recall, counts, PR and ROC AUC.
    #[value(name = "cell-eval-de")]
    De,
    /// cell-eval 0.8.2's `anndata` profile (pearson_delta, mse, mae, mse_delta, mae_delta,
    /// discrimination scores l1/l2/cosine, pearson_edistance), without clustering_agreement.
    #[value(name = "cell-eval-anndata")]
    Anndata,
    /// GEARS' per-condition metrics (pearson_delta_de, mse_de, …, rank_l1_delta) against a
    /// GEARS-format dataset, whose uns DE keys choose each condition's DE genes; predicted cells or
    /// predicted means (one row per perturbation) both work.
    #[value(name = "gears")]
    Gears,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Predicted cells (an h5ad in cell-eval's layout, e.g. `scgenept predict --per-cell`).
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
    /// Directory for results.csv, agg_results.csv and summary.md.
    #[arg(long)]
    out: PathBuf,
    /// Also write each side's differential expression against the control cells
    /// (`real_de.csv`, `pred_de.csv`: pdex 0.3.0's Mann-Whitney U test, its columns).
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
        },
        out: a.out,
        write_de: a.write_de,
        only_predicted: a.only_predicted,
        fdr_scope: match a.fdr_scope {
            FdrScopeArg::Perturbation => FdrScope::Perturbation,
            FdrScopeArg::All => FdrScope::All,
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
