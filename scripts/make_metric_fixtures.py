"""Runs the REAL GEARS 0.0.2 metric functions (`compute_metrics`, `deeper_analysis`,
`non_dropout_analysis` from PyPI `cell-gears==0.0.2`, installed --no-deps) on a small fixture of
predictions and writes tests/fixtures/metrics/gears_metrics.json for tests/metrics.rs.

Expression values are multiples of 1/8 and there are 8 control cells, so GEARS' float32 control
mean is exact and the comparison tests the metric definitions, not float32 rounding.
Needs torch (gears/inference.py imports it): run with the .venv-fixtures venv, see
scripts/make_metric_fixtures.sh.
"""

import json
import types
import pathlib
import sys

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import gears_real  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/metrics"


def load_inference():

    src = (gears_real.GEARS_DIR / "inference.py").read_text()
    mod = types.ModuleType("gears_inference")
    exec(compile(src, str(gears_real.GEARS_DIR / "inference.py"), "exec"), mod.__dict__)
    return mod


def main():
    rs = np.random.RandomState(11)
    genes = [f"G{i:02d}" for i in range(30)]
    conds = {"ctrl": 8, "G00+ctrl": 6, "G01+ctrl": 5, "G00+G01": 6, "G02+ctrl": 4, "G03+G04": 5, "G05+ctrl": 4}
    cond = [c for c, n in conds.items() for _ in range(n)]
    n, g = len(cond), len(genes)
    x = rs.randint(0, 24, size=(n, g)) * (rs.rand(n, g) < 0.6) / 8.0
    x[:, 27:] = 0.0  # true zeros
    for i, c in enumerate(cond):
        for t in c.split("+"):
            if t != "ctrl":
                x[i, genes.index(t)] += 2.0
    x = x.astype(np.float32)
    obs = pd.DataFrame({"condition": pd.Categorical(cond), "cell_type": pd.Categorical(["K562"] * n)},
                       index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame({"gene_name": genes}, index=[f"ENSG{i:05d}" for i in range(g)])
    adata = anndata.AnnData(X=sp.csr_matrix(x), obs=obs, var=var)
    du = gears_real.data_utils()
    adata = du.get_DE_genes(adata)
    adata = du.get_dropout_non_zero_genes(adata)

    # Test results as GEARS' evaluate() builds them: one row per test cell, float64.
    test_conds = ["G01+ctrl", "G00+G01", "G02+ctrl", "G03+G04", "G05+ctrl"]
    rows = [i for i, c in enumerate(cond) if c in test_conds]
    truth = x[rows].astype(np.float64)
    pred = truth + rs.normal(0, 0.3, size=truth.shape)
    pert_cat = np.array([cond[i] for i in rows])
    pred[pert_cat == "G05+ctrl"] = 0.75  # a constant prediction: Pearson is NaN → 0
    name_of = dict(adata.obs[["condition", "condition_name"]].values)
    var_names = adata.var_names
    de_idx = {c: np.where(var_names.isin(adata.uns["rank_genes_groups_cov_all"][name_of[c]][:20]))[0]
              for c in test_conds}
    pred_de = np.stack([pred[k, de_idx[c]] for k, c in enumerate(pert_cat)])
    truth_de = np.stack([truth[k, de_idx[c]] for k, c in enumerate(pert_cat)])
    test_res = {"pert_cat": pert_cat, "pred": pred, "truth": truth, "pred_de": pred_de, "truth_de": truth_de}

    inf = load_inference()
    overall, per_pert = inf.compute_metrics(test_res)
    deeper = inf.deeper_analysis(adata, test_res)
    non_dropout = inf.non_dropout_analysis(adata, test_res)
    keep_deeper = ["pearson_delta", "pearson_delta_de", "frac_correct_direction_all", "frac_correct_direction_20"]
    keep_nd = ["pearson_delta_top20_de_non_dropout", "pearson_top20_de_non_dropout",
               "mse_top20_de_non_dropout", "frac_correct_direction_top20_non_dropout"]
    out = {
        "note": "toy predictions scored by the real GEARS 0.0.2 compute_metrics / deeper_analysis / non_dropout_analysis",
        "conditions": cond,
        "genes": genes,
        "gene_ids": list(var_names),
        "x": x.tolist(),
        "uns": {k: {kk: [str(s) if isinstance(s, str) else int(s) for s in vv] for kk, vv in adata.uns[k].items()}
                for k in ["rank_genes_groups_cov_all", "top_non_dropout_de_20"]},
        "condition_name": {c: name_of[c] for c in conds},
        "test": {"pert_cat": pert_cat.tolist(), "pred": pred.tolist(), "truth": truth.tolist()},
        "overall": {k: float(v) for k, v in overall.items()},
        "per_condition": {
            p: {**{k: float(v) for k, v in per_pert[p].items()},
                **{k: float(deeper[p][k]) for k in keep_deeper},
                **{k: float(non_dropout[p][k]) for k in keep_nd}}
            for p in test_conds
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gears_metrics.json").write_text(json.dumps(out) + "\n")
    print("wrote", OUT / "gears_metrics.json")


if __name__ == "__main__":
    main()
