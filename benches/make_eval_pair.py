"""A synthetic real/predicted pair in cell-eval's layout for benches/eval.sh: CELLS cells over
GENES genes, PERTS perturbations plus controls (a tenth of the cells), log-normalised,
sparse (about 70% zeros) like real Perturb-seq. Usage: make_eval_pair.py CELLS GENES PERTS OUT_DIR"""

import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def side(rng, cells, genes, perts, effects, noise):
    n_ctrl = cells // 10
    per = (cells - n_ctrl) // perts
    labels = ["non-targeting"] * n_ctrl + [f"P{i}" for i in range(perts) for _ in range(per)]
    base = rng.gamma(2.0, 0.5, size=genes).astype(np.float32)
    rows = []
    for start in range(0, len(labels), 4096):
        lab = labels[start : start + 4096]
        shift = np.stack([effects[int(l[1:])] if l != "non-targeting" else np.zeros(genes, np.float32) for l in lab])
        x = base + shift + rng.normal(0.0, noise, size=(len(lab), genes)).astype(np.float32)
        x = np.log1p(np.clip(x, 0.0, None) * 2.0).astype(np.float32)
        x[rng.random(x.shape) < 0.7] = 0.0
        rows.append(sp.csr_matrix(x))
    obs = pd.DataFrame({"target": pd.Categorical(labels)}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(X=sp.vstack(rows).tocsr(), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(genes)]))


def main():
    cells, genes, perts, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(3)
    effects = (rng.normal(0.0, 0.6, size=(perts, genes)) * (rng.random((perts, genes)) < 0.05)).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    side(rng, cells, genes, perts, effects, 0.4).write_h5ad(os.path.join(out, "real.h5ad"))
    side(rng, cells, genes, perts, 0.7 * effects, 0.5).write_h5ad(os.path.join(out, "pred.h5ad"))


if __name__ == "__main__":
    main()
