"""Writes small GEARS-format h5ad files with the REAL anndata of three eras, for tests/h5ad.rs.

    python make_h5ad_fixtures.py de      # (anndata 0.12 + scanpy + cell-gears 0.0.2 venv) DE keys
    python make_h5ad_fixtures.py write   # (each anndata venv) writes tests/fixtures/h5ad/<era>_*.h5ad

`de` builds the toy dataset, runs the REAL GEARS `get_DE_genes` + `get_dropout_non_zero_genes`
(scanpy rank_genes_groups t-test) on it and stores data + uns in expected.json. `write` re-creates
the AnnData from expected.json with whatever anndata is installed and writes it in that version's
encoding (0.7: `__categories` + h5sparse attrs; 0.8: encoding-type groups; 0.12: nullable arrays).
scripts/make_h5ad_fixtures.sh runs all of it with pinned versions.
"""

import importlib.metadata
import json
import pathlib
import sys

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/h5ad"
SEED = 0

TARGETS = ["FOSB", "CEBPB", "KLF1", "JUN", "SET"]
CONDITIONS = {  # GEARS spellings, both single forms included
    "ctrl": 30,
    "FOSB+ctrl": 10,
    "ctrl+CEBPB": 10,
    "KLF1+ctrl": 9,
    "FOSB+CEBPB": 10,
    "JUN+SET": 8,
    "SET+ctrl": 8,
    "JUN+ctrl": 7,
}


def toy():
    rs = np.random.RandomState(SEED)
    genes = TARGETS + [f"GENE{i:02d}" for i in range(35)]
    gene_ids = [f"ENSG{i:011d}" for i in range(1, len(genes) + 1)]
    cond = [c for c, n in CONDITIONS.items() for _ in range(n)]
    rs.shuffle(cond)
    n, g = len(cond), len(genes)
    base = rs.gamma(0.6, 2.0, size=g)
    base[len(TARGETS) + 30:] = 0.0  # five genes never expressed: true zeros
    counts = np.zeros((n, g))
    for i, c in enumerate(cond):
        mu = base.copy()
        for t in c.split("+"):
            if t != "ctrl":
                j = genes.index(t)
                mu[j] = mu[j] * 4 + 3
                mu[len(TARGETS) + (j * 3) % 30] *= 3  # a downstream gene
        lib = rs.lognormal(0, 0.3)
        counts[i] = rs.poisson(rs.gamma(2.0, mu * lib / 2.0 + 1e-9))
    totals = counts.sum(1, keepdims=True)
    target = np.median(totals)
    x = np.log1p(counts / np.maximum(totals, 1) * target).astype(np.float32)
    return cond, genes, gene_ids, counts.astype(np.float32), x


def build_adata(cond, genes, gene_ids, counts, x, cell_type="K562"):
    import anndata

    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(cond),
            "cell_type": pd.Categorical([cell_type] * len(cond)),
        },
        index=[f"cell{i:03d}" for i in range(len(cond))],
    )
    var = pd.DataFrame({"gene_name": genes}, index=pd.Index(gene_ids, name="gene_id"))
    ad = anndata.AnnData(X=sp.csr_matrix(x), obs=obs, var=var)
    ad.layers["counts"] = sp.csr_matrix(counts)
    return ad


def cmd_de():
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import gears_real

    du = gears_real.data_utils()
    cond, genes, gene_ids, counts, x = toy()
    ad = build_adata(cond, genes, gene_ids, counts, x)
    ad = du.get_DE_genes(ad)
    ad = du.get_dropout_non_zero_genes(ad)
    # scanpy's scores, to compare our t-test values (not only ranks).
    import scanpy as sc

    sc.tl.rank_genes_groups(ad, groupby="condition_name", reference="K562_ctrl_1",
                            rankby_abs=True, n_genes=len(genes), use_raw=False)
    names = pd.DataFrame(ad.uns["rank_genes_groups"]["names"])
    scores = pd.DataFrame(ad.uns["rank_genes_groups"]["scores"])
    score_by_gene = {
        grp: {names[grp][k]: float(scores[grp][k]) for k in range(len(genes))} for grp in names
    }
    uns = {}
    for key in ["rank_genes_groups_cov_all", "top_non_dropout_de_20", "top_non_zero_de_20"]:
        uns[key] = {k: [str(s) for s in v] for k, v in ad.uns[key].items()}
    for key in ["non_dropout_gene_idx", "non_zeros_gene_idx"]:
        uns[key] = {k: [int(i) for i in v] for k, v in ad.uns[key].items()}
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {
        "note": "toy GEARS-format dataset; uns from real GEARS 0.0.2 + scanpy " + sc.__version__,
        "conditions": cond,
        "condition_name": list(ad.obs["condition_name"].astype(str)),
        "gene_names": genes,
        "gene_ids": gene_ids,
        "x": x.tolist(),
        "counts": counts.tolist(),
        "uns": uns,
        "scanpy_scores": score_by_gene,
    }
    (OUT / "expected.json").write_text(json.dumps(expected) + "\n")
    print("wrote", OUT / "expected.json")


def cmd_write():
    import anndata

    exp = json.loads((OUT / "expected.json").read_text())
    x = np.array(exp["x"], dtype=np.float32)
    counts = np.array(exp["counts"], dtype=np.float32)
    ad = build_adata(exp["conditions"], exp["gene_names"], exp["gene_ids"], counts, x)
    ad.obs["dose_val"] = ["1" if c == "ctrl" else "1+1" for c in exp["conditions"]]
    ad.obs["control"] = [1 if c == "ctrl" else 0 for c in exp["conditions"]]
    ad.obs["condition_name"] = pd.Categorical(exp["condition_name"])
    for key in ["rank_genes_groups_cov_all", "top_non_dropout_de_20", "top_non_zero_de_20"]:
        ad.uns[key] = {k: np.array(v) for k, v in exp["uns"][key].items()}
    for key in ["non_dropout_gene_idx", "non_zeros_gene_idx"]:
        ad.uns[key] = {k: np.array(v, dtype=np.int64) for k, v in exp["uns"][key].items()}
    version = importlib.metadata.version("anndata")
    major_minor = ".".join(version.split(".")[:2])
    era = "ad" + major_minor.split(".")[1].zfill(2)
    ad.uns["fixture_writer"] = f"anndata {version}"
    ad.write_h5ad(OUT / f"{era}_gears.h5ad")
    if era == "ad08":
        dense = ad.copy()
        dense.X = np.asarray(x)
        dense.write_h5ad(OUT / f"{era}_dense.h5ad")
    if era not in ("ad07", "ad08"):
        csc = ad.copy()
        csc.X = sp.csc_matrix(x)
        csc.write_h5ad(OUT / f"{era}_csc.h5ad")
        # User data: own column names, a control label, bare symbols, nullable columns, no uns.
        user = anndata.AnnData(X=sp.csr_matrix(x))
        user.obs_names = [f"bc{i:03d}" for i in range(x.shape[0])]
        perts = [
            "NT" if c == "ctrl" else "+".join(g for g in c.split("+") if g != "ctrl")
            for c in exp["conditions"]
        ]
        user.obs["guide_target"] = pd.array(perts, dtype="string")
        user.obs["n_guides"] = pd.array([1 + ("+" in p) for p in perts], dtype="Int64")
        user.obs["passed_qc"] = pd.array([True] * len(perts), dtype="boolean")
        user.var_names = exp["gene_ids"]
        user.var["symbol"] = pd.array(exp["gene_names"], dtype="string")
        anndata.settings.allow_write_nullable_strings = True
        user.write_h5ad(OUT / f"{era}_user.h5ad")
    print("wrote", era, "files with anndata", version)


if __name__ == "__main__":
    {"de": cmd_de, "write": cmd_write}[sys.argv[1]]()
