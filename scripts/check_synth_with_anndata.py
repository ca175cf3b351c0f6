"""Reads a file written by `scgenept data synth` with the REAL anndata (and scanpy) and records what
they see, so tests/data_pipeline.rs can check our writer against it:

    python check_synth_with_anndata.py FILE.h5ad OUT.json
"""

import importlib.metadata
import json
import sys

import anndata
import numpy as np

path, out = sys.argv[1], sys.argv[2]
a = anndata.read_h5ad(path)
x = a.X.toarray()
first = sorted(a.uns["rank_genes_groups_cov_all"].keys())[0]
summary = {
    "anndata": importlib.metadata.version("anndata"),
    "shape": list(a.shape),
    "x_sum": float(np.float64(x).sum()),
    "x_row0": [float(v) for v in x[0]],
    "counts_sum": float(a.layers["counts"].sum()),
    "conditions": {str(k): int(v) for k, v in a.obs["condition"].value_counts().items()},
    "condition_dtype": str(a.obs["condition"].dtype),
    "gene_names": [str(g) for g in a.var["gene_name"]],
    "var_names": [str(g) for g in a.var_names],
    "first_de_key": first,
    "first_de_top20": [str(g) for g in a.uns["top_non_dropout_de_20"][first]],
    "first_non_zeros": [int(i) for i in a.uns["non_zeros_gene_idx"][first]],
    "synthetic": str(np.asarray(a.uns["synthetic"]).ravel()[0]),
}
try:
    import scanpy as sc

    sc.pp.calculate_qc_metrics(a, percent_top=None, inplace=True)
    summary["scanpy_total_counts_cell0"] = float(a.obs["total_counts"].iloc[0])
except ImportError:
    pass
with open(out, "w") as f:
    json.dump(summary, f)
print("anndata", summary["anndata"], "read", path, summary["shape"])
