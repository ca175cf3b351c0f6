"""Writes tests/fixtures/cell_eval/: a small real/predicted AnnData pair in cell-eval's layout and
what cell-eval 0.8.2 scores on it with its `anndata` profile, in `anndata/`: its
`results.csv` (one row per perturbation) and `agg_results.csv` (polars' `describe` of it), as
`cell-eval run` writes them; in `de/`, pdex's DE tables of both sides and the `de` profile's
scores; in `full/`, the `full` profile's; in
`control_real/`, the `full` profile's with the predicted control cells replaced by the real ones
(what `scgenept eval --control-source real` does). tests/cli_eval.rs checks `scgenept eval` (each profile) and tests/eval_de.rs the DE tables.

    python3 -m venv /tmp/ce && /tmp/ce/bin/pip install "cell-eval==0.8.2"
    /tmp/ce/bin/python scripts/make_cell_eval_fixtures.py
"""

import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from cell_eval import MetricsEvaluator

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "cell_eval")
GENES = [f"G{i}" for i in range(40)]
# Singles named after a measured gene (discrimination scores leave that gene out) and a pair.
PERTS = ["G1", "G3", "G5", "G8", "G13+G21", "G30"]
CONTROL = "non-targeting"


def cells(rng, n_per, effects, noise):
    """Log-normalised-looking expression: a per-gene base, each condition's shift, noise."""
    base = rng.gamma(2.0, 0.6, size=len(GENES))
    rows, labels = [], []
    for cond, n in n_per.items():
        shift = effects.get(cond, np.zeros(len(GENES)))
        x = base + shift + rng.normal(0.0, noise, size=(n, len(GENES)))
        x = np.log1p(np.clip(x, 0.0, None) * 3.0)
        # Dropouts, as in real data.
        x[rng.random(x.shape) < 0.3] = 0.0
        rows.append(x)
        labels += [cond] * n
    return np.vstack(rows).astype(np.float32), labels


def anndata(x, labels, sparse):
    obs = pd.DataFrame({"target": pd.Categorical(labels)}, index=[f"c{i}" for i in range(len(labels))])
    var = pd.DataFrame(index=GENES)
    return ad.AnnData(X=sp.csr_matrix(x) if sparse else x, obs=obs, var=var)


def main():
    rng = np.random.default_rng(7)
    effects = {p: rng.normal(0.0, 0.8, size=len(GENES)) * (rng.random(len(GENES)) < 0.3) for p in PERTS}
    n_real = {CONTROL: 40, **{p: int(rng.integers(8, 20)) for p in PERTS}}
    x_real, l_real = cells(rng, n_real, effects, 0.4)
    # The prediction: the effects partly right, other cell counts, more noise.
    guessed = {p: 0.6 * e + rng.normal(0.0, 0.3, size=len(GENES)) for p, e in effects.items()}
    n_pred = {CONTROL: 30, **{p: int(rng.integers(5, 15)) for p in PERTS}}
    x_pred, l_pred = cells(rng, n_pred, guessed, 0.5)
    os.makedirs(OUT, exist_ok=True)
    real = anndata(x_real, l_real, sparse=True)
    pred = anndata(x_pred, l_pred, sparse=False)
    real.write_h5ad(os.path.join(OUT, "real.h5ad"))
    pred.write_h5ad(os.path.join(OUT, "pred.h5ad"))

    def evaluator(sub, skip_de):
        return MetricsEvaluator(
            adata_pred=pred,
            adata_real=real,
            control_pert=CONTROL,
            pert_col="target",
            outdir=os.path.join(OUT, sub),
            skip_de=skip_de,
            num_threads=1,
        )

    evaluator("anndata", True).compute(profile="anndata", break_on_error=True)
    # pdex's DE tables (`real_de.csv`, `pred_de.csv`: Mann-Whitney U with tie correction,
    # Benjamini-Hochberg) and the DE profile's scores on them, as `cell-eval run` computes them.
    evaluator("de", False).compute(profile="de", break_on_error=True)
    # The full profile (DE metrics, then the anndata ones).
    evaluator("full", False).compute(profile="full", break_on_error=True)
    for copy in ["real_de.csv", "pred_de.csv"]:  # the same tables as in de/
        os.remove(os.path.join(OUT, "full", copy))
    # `--control-source real` (cell-eval#183/#196): the predicted control cells replaced by the
    # real ones (appended after the predicted perturbations' cells), scored by the full profile.
    keep = (pred.obs["target"] != CONTROL).values
    ctrl = (real.obs["target"] == CONTROL).values
    labels = list(pred.obs["target"][keep]) + list(real.obs["target"][ctrl])
    swapped = anndata(np.vstack([pred.X[keep], real.X[ctrl].toarray()]), labels, sparse=False)
    MetricsEvaluator(
        adata_pred=swapped,
        adata_real=real,
        control_pert=CONTROL,
        pert_col="target",
        outdir=os.path.join(OUT, "control_real"),
        num_threads=1,
    ).compute(profile="full", break_on_error=True)
    for copy in ["real_de.csv", "pred_de.csv"]:
        os.remove(os.path.join(OUT, "control_real", copy))
    for d in ["anndata", "de", "full", "control_real"]:
        print("wrote", d, sorted(os.listdir(os.path.join(OUT, d))), file=sys.stderr)


if __name__ == "__main__":
    main()
