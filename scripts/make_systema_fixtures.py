"""Writes tests/fixtures/systema/: predicted cells for a GEARS-format dataset's test perturbations
and what Systema's evaluation code scores on them, for `scgenept eval --profile systema`
(tests/cli_eval.rs); and Systema's matching-mean baseline for the test perturbations
(`matching_mean.csv`, tests/baselines.rs).

    scripts/make_systema_fixtures.sh /path/to/systema   # a checkout of mlbio-epfl/systema

The real data (`real.h5ad`, our synthetic GEARS-format set) and its split (`split.json`, GEARS'
simulation split, seed 1) come from `scgenept data synth` / `data split`; the shell script makes
them. This script writes `pred.h5ad` (predicted cells, obs `condition`, the control cells
included) and `expected.csv`, computed with Systema's own functions at the pinned commit:

- `eval_utils.average_of_perturbation_centroids` (the perturbed reference: the mean of the
  training perturbations' centroids), `get_topk_de_gene_ids`, `jaccard_similarity`;
- `pearson_delta_reference_metrics.pearson_delta_reference_metrics` (corr_all_allpert,
  corr_20de_allpert). At that commit the function reads `top20_de_idxs` from its module's globals
  (it is not a parameter); we set that global before each call, which is what the README's
  example expects it to receive;
- `centroid_accuracy.calculate_centroid_accuracies` (the scored perturbations' real centroids as
  the candidates);
- the per-condition block of `benchmark_all.ipynb` (corr_all, corr_20de, mse_*, jaccard) and its
  RMSE cell, copied below as written there.

Needs numpy, scipy, pandas, anndata, scanpy, scikit-learn (the cell-eval venv has them all).
"""

import json
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import pearsonr

SYSTEMA_COMMIT = "fe087c9a659baac69b0a9abe3764c58e51cbc0e4"
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "systema")
METHOD = "model"


def systema(path):
    """Systema's evaluation modules, imported from a checkout at the pinned commit."""
    head = os.popen(f"git -C {path} rev-parse HEAD").read().strip()
    if head != SYSTEMA_COMMIT:
        sys.exit(f"{path} is at {head or '(not a git checkout)'}; check out {SYSTEMA_COMMIT}")
    sys.path.insert(0, os.path.join(path, "evaluation"))
    import centroid_accuracy
    import eval_utils
    import pearson_delta_reference_metrics as pdrm

    return eval_utils, pdrm, centroid_accuracy


def predicted_cells(real, train, test, rng):
    """Cells a model might predict: each test perturbation's real centroid pulled towards the
    perturbed centroid, plus noise; the control cells as measured."""
    x = real.X.toarray() if hasattr(real.X, "toarray") else np.asarray(real.X)
    mean = lambda c: x[(real.obs["condition"] == c).values].mean(axis=0)
    pert_mean = np.mean([mean(c) for c in train if c != "ctrl"], axis=0)
    rows, labels = [x[(real.obs["condition"] == "ctrl").values]], []
    labels += ["ctrl"] * len(rows[0])
    for i, c in enumerate(test):
        w = 0.25 + 0.5 * (i % 3) / 2  # some predictions near the truth, some near the reference
        centre = (1 - w) * mean(c) + w * pert_mean
        n = int(rng.integers(6, 14))
        rows.append(np.clip(centre + rng.normal(0.0, 0.15, size=(n, x.shape[1])), 0.0, None))
        labels += [c] * n
    obs = pd.DataFrame({"condition": pd.Categorical(labels)}, index=[f"p{i}" for i in range(len(labels))])
    return ad.AnnData(X=np.vstack(rows).astype(np.float32), obs=obs, var=pd.DataFrame(index=real.var_names))


def scores(real, pred, test, eval_utils, pdrm, centroid_accuracy):
    """Systema's per-condition metrics, as benchmark_all.ipynb computes them."""
    train_adata = real[real.obs["split"] == "train"]
    control_adata = train_adata[train_adata.obs["control"] == 1]
    pert_adata = train_adata[train_adata.obs["control"] == 0]
    control_mean = np.array(control_adata.X.mean(axis=0))[0]
    pert_mean = eval_utils.average_of_perturbation_centroids(pert_adata)
    rows, gt, pr = [], {}, {}
    for condition in sorted(test):
        X_true = np.array(real[real.obs["condition"] == condition].X.mean(axis=0))[0]
        X_pred = np.asarray(pred[pred.obs["condition"] == condition].X.mean(axis=0)).ravel()
        gt[condition], pr[(condition, METHOD)] = X_true, X_pred
        delta_true = X_true - control_mean
        delta_pred = X_pred - control_mean
        delta_true_allpert = X_true - pert_mean
        delta_pred_allpert = X_pred - pert_mean
        adata_condition = real[real.obs["condition"] == condition]
        top20_de_genes = real.uns["top_non_dropout_de_20"][adata_condition.obs["condition_name"].values[0]]
        top20_de_idxs = np.argwhere(np.isin(real.var.index, top20_de_genes)).ravel()
        top20_de_idxs_pred = eval_utils.get_topk_de_gene_ids(control_mean, X_pred, k=20)
        pdrm.top20_de_idxs = top20_de_idxs
        ref = pdrm.pearson_delta_reference_metrics(X_true, X_pred, reference=pert_mean)
        rows.append({
            "perturbation": condition,
            "corr_all": pearsonr(delta_true, delta_pred)[0],
            "corr_20de": pearsonr(delta_true[top20_de_idxs], delta_pred[top20_de_idxs])[0],
            "corr_all_allpert": ref["corr_all_allpert"],
            "corr_20de_allpert": ref["corr_20de_allpert"],
            "mse_all": np.mean((delta_true - delta_pred) ** 2),
            "mse_20de": np.mean((delta_true[top20_de_idxs] - delta_pred[top20_de_idxs]) ** 2),
            "mse_all_allpert": np.mean((delta_true_allpert - delta_pred_allpert) ** 2),
            "mse_20de_allpert": np.mean((delta_true_allpert[top20_de_idxs] - delta_pred_allpert[top20_de_idxs]) ** 2),
            "jaccard": eval_utils.jaccard_similarity(top20_de_idxs, top20_de_idxs_pred),
        })
    df = pd.DataFrame(rows).set_index("perturbation")
    for m in ["all", "20de", "all_allpert", "20de_allpert"]:
        df[f"rmse_{m}"] = np.sqrt(df[f"mse_{m}"])
    agg_post_pred_df = pd.DataFrame(list(pr.values()), columns=real.var_names)
    agg_post_pred_df.index = pd.MultiIndex.from_tuples(list(pr.keys()), names=["condition", "method"])
    post_gt_all_df = pd.DataFrame(list(gt.values()), index=list(gt.keys()), columns=real.var_names)
    df["centroid_accuracy"] = centroid_accuracy.calculate_centroid_accuracies(agg_post_pred_df, post_gt_all_df)[METHOD]
    return df


def matching_mean(real, test):
    """Systema's matching-mean baseline (src/run_matching-mean.py at the pinned commit), its loop
    copied as written: per test condition, the mean over its `+`-separated tokens of the training
    centroid of `{g}+ctrl` (or `ctrl+{g}`), else of all perturbed training cells."""
    train_adata = real[real.obs["split"] == "train"]
    pert_adata = train_adata[train_adata.obs["control"] == 0]
    out = {}
    for condition in sorted(test):
        gene_list = condition.split("+")
        X_perts = []
        for g in gene_list:
            if f"{g}+ctrl" in train_adata.obs["condition"].values:
                cond_adata = train_adata[train_adata.obs["condition"] == f"{g}+ctrl"]
            elif f"ctrl+{g}" in train_adata.obs["condition"].values:
                cond_adata = train_adata[train_adata.obs["condition"] == f"ctrl+{g}"]
            else:
                cond_adata = pert_adata
            X_pert = np.array(cond_adata.X.mean(axis=0))[0]
            X_perts.append(X_pert)
        out[condition] = np.mean(X_perts, axis=0)
    return pd.DataFrame(out, index=real.var_names).T


def main():
    eval_utils, pdrm, centroid_accuracy = systema(sys.argv[1])
    real = ad.read_h5ad(os.path.join(OUT, "real.h5ad"))
    with open(os.path.join(OUT, "split.json")) as f:
        split = json.load(f)
    real.obs["split"] = np.where(real.obs["condition"].isin(split["train"]), "train", "other")
    pred = predicted_cells(real, split["train"], split["test"], np.random.default_rng(11))
    pred.write_h5ad(os.path.join(OUT, "pred.h5ad"))
    df = scores(real, pred, split["test"], eval_utils, pdrm, centroid_accuracy)
    df.to_csv(os.path.join(OUT, "expected.csv"), float_format="%.17g")
    matching_mean(real, split["test"]).to_csv(os.path.join(OUT, "matching_mean.csv"), float_format="%.9g")
    print(df.to_string())


if __name__ == "__main__":
    main()
