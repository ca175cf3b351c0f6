"""A synthetic real/predicted pair of raw counts for benches/eval_vcc2026.sh: CELLS cells (about a
tenth of them controls), GENES genes, PERTS knockdowns named after measured genes, Poisson counts
around per-condition profiles; the prediction has the effects half right. CSR, float32.

    python make_vcc2026_pair.py CELLS GENES PERTS OUT_DIR
"""

import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

cells, genes, perts, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(5)
names = [f"G{i}" for i in range(genes)]
targets = [names[i] for i in rng.choice(genes, perts, replace=False)]
base = rng.gamma(0.8, 1.0, size=genes)
effects = {}
for t in targets:
    e = np.zeros(genes)
    idx = rng.choice(genes, max(genes // 20, 5), replace=False)
    e[idx] = rng.normal(0.0, 1.0, idx.size)
    e[names.index(t)] = np.log(0.1)
    effects[t] = e
n_ctrl = cells // 10
per = (cells - n_ctrl) // perts


def side(effect_of, seed):
    r = np.random.default_rng(seed)
    blocks, labels = [], []
    for cond, n in [("non-targeting", n_ctrl)] + [(t, per) for t in targets]:
        p = base * np.exp(effect_of(cond))
        p /= p.sum()
        lib = r.integers(2000, 6000, size=n)
        blocks.append(sp.csr_matrix(r.poisson(lib[:, None] * p[None, :]).astype(np.float32)))
        labels += [cond] * n
    obs = pd.DataFrame({"target": pd.Categorical(labels)}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(X=sp.vstack(blocks).tocsr(), obs=obs, var=pd.DataFrame(index=names))


side(lambda c: effects.get(c, 0.0), 1).write_h5ad(f"{out}/real.h5ad")
side(lambda c: 0.5 * effects.get(c, 0.0), 2).write_h5ad(f"{out}/pred.h5ad")
