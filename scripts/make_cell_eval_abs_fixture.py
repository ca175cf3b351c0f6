"""Writes tests/fixtures/cell_eval/discrimination_abs/: cell-eval 0.5.45's `anndata` profile
(clustering_agreement left out) on the committed pair (`real.h5ad`, `pred.h5ad`). That release
ranked the absolute effects in its discrimination scores (cell-eval#189; 0.6.0 and later rank the
signed effects), which `scgenept eval --discrimination-effect abs` reproduces.

    python3 -m venv /tmp/ce05 && /tmp/ce05/bin/pip install "cell-eval==0.5.45"
    /tmp/ce05/bin/pip install "pdex==0.1.27"  # 0.5.45 needs pdex's older API
    /tmp/ce05/bin/python scripts/make_cell_eval_abs_fixture.py
"""

import os

import anndata as ad
from cell_eval import MetricsEvaluator

DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "cell_eval")


def main():
    MetricsEvaluator(
        adata_pred=ad.read_h5ad(os.path.join(DIR, "pred.h5ad")),
        adata_real=ad.read_h5ad(os.path.join(DIR, "real.h5ad")),
        control_pert="non-targeting",
        pert_col="target",
        outdir=os.path.join(DIR, "discrimination_abs"),
        num_threads=1,
    ).compute(profile="anndata", skip_metrics=["clustering_agreement"], break_on_error=True)
    for de in ["real_de.csv", "pred_de.csv"]:  # this release always runs pdex; not compared
        os.remove(os.path.join(DIR, "discrimination_abs", de))


if __name__ == "__main__":
    main()
