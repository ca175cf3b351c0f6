"""Runs cell-eval on a `scgenept predict --per-cell` output against the real cells of the same
conditions (called by scripts/check_cell_eval.sh). Usage: check_cell_eval.py DATA PRED OUTDIR"""
import sys

import anndata as ad
import polars as pl
from cell_eval import MetricsEvaluator

data_path, pred_path, outdir = sys.argv[1:4]
pred = ad.read_h5ad(pred_path)
real = ad.read_h5ad(data_path)
conditions = set(pred.obs["condition"].astype(str))
real = real[real.obs["condition"].astype(str).isin(conditions)].copy()
real.obs["condition"] = real.obs["condition"].astype(str).astype("category")
print(f"pred {pred.shape}, real {real.shape}, {len(conditions) - 1} perturbations + ctrl")
evaluator = MetricsEvaluator(
    adata_pred=pred,
    adata_real=real,
    control_pert="ctrl",
    pert_col="condition",
    outdir=outdir,
    allow_discrete=False,
)
results, agg = evaluator.compute(profile="full", break_on_error=True)
mean = agg.filter(pl.col("statistic") == "mean").drop("statistic").row(0, named=True)
print(f"cell-eval scored {results.height} perturbations × {len(mean)} metrics; mean over perturbations:")
for name, value in mean.items():
    print(f"  {name:40s} {value:.4f}")
assert results.height > 0, "cell-eval produced no rows"
