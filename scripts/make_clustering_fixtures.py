"""Writes tests/fixtures/cell_eval/clustering/: real/predicted AnnData pairs and what cell-eval
0.8.2's `clustering_agreement` scores on them, with the Leiden memberships behind the score
(tests/cli_eval.rs checks `scgenept eval` against them; docs/evaluation.md).

cell-eval finds each centroid's neighbours with sklearn's Euclidean distances, computed as
|x|^2 - 2 x.y + |y|^2. A centroid's distance to itself then comes out as a rounding residue (0
or about 1e-6, depending on the BLAS kernel), and UMAP takes that residue as the distance to the
nearest neighbour, so the graph itself depends on the machine. The values here are 64ths,
each perturbation has four cells (so every centroid is a multiple of 1/256) and every distance is
computed exactly: every machine gets a self-distance of 0, and the reference is reproducible.

    python3 -m venv /tmp/ce && /tmp/ce/bin/pip install "cell-eval==0.8.2"
    /tmp/ce/bin/python scripts/make_clustering_fixtures.py
"""

import json
import os

import anndata as ad
import numpy as np
import pandas as pd
from cell_eval._types import PerturbationAnndataPair
from cell_eval.metrics import ClusteringAgreement
from sklearn.neighbors import KNeighborsTransformer

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "cell_eval", "clustering")
CONTROL = "non-targeting"
GENES = 48
CELLS = 4  # a power of two: the centroids stay exact


def side(rng, perts, groups, spread, contrast):
    """Cells in 64ths: a group's profile, the perturbation's own offset, noise."""
    profiles = 192 + rng.integers(-contrast, contrast + 1, size=(groups.max() + 1, GENES))
    rows, labels = [], []
    for p, g in zip(perts, groups):
        own = rng.integers(-16 * spread, 16 * spread + 1, size=GENES)
        for _ in range(CELLS):
            x = profiles[g] + own + rng.integers(-64, 65, size=GENES)
            rows.append(np.clip(x, 0, None) / 64.0)
            labels.append(p)
    for _ in range(2 * CELLS):
        rows.append(rng.integers(0, 128, size=GENES) / 64.0)
        labels.append(CONTROL)
    return np.array(rows, dtype=np.float32), labels


def anndata(x, labels):
    a = ad.AnnData(X=x)
    a.obs["target"] = pd.Categorical(labels)
    a.obs_names = [f"c{i}" for i in range(len(labels))]
    a.var_names = [f"G{i}" for i in range(GENES)]
    return a


def distinct_neighbours(a, perts):
    """True when no two of a centroid's 15 nearest neighbours tie (their order is then fixed)."""
    cent = np.array([a.X[a.obs["target"] == p].astype(np.float64).mean(axis=0) for p in perts])
    n = len(perts)
    t = KNeighborsTransformer(algorithm="brute", n_neighbors=min(15, n - 1), metric="euclidean")
    d = t.fit_transform(cent).data.reshape(n, -1)
    return bool((d[:, 0] == 0).all() and (np.diff(d, axis=1) > 0).all())


def case(name, n, n_groups, seed, contrast=192):
    for s in range(seed, seed + 50):
        rng = np.random.default_rng(s)
        perts = sorted(f"P{i:03d}" for i in range(n))
        groups = rng.integers(0, n_groups, size=n)
        x_real, labels = side(rng, perts, groups, 3, contrast)
        # The prediction finds most groups but merges two and scatters the rest a little.
        pred_groups = np.where(groups == 1, 0, groups)
        x_pred, _ = side(rng, perts, pred_groups, 5, contrast)
        real, pred = anndata(x_real, labels), anndata(x_pred, labels)
        if distinct_neighbours(real, perts) and distinct_neighbours(pred, perts):
            break
    else:
        raise SystemExit(f"{name}: no seed without tied neighbours")
    pair = PerturbationAnndataPair(real=real, pred=pred, pert_col="target", control_pert=CONTROL)
    metric = ClusteringAgreement()
    value = metric(pair)
    memberships = {}
    for which, a in [("real", real), ("pred", pred)]:
        cent = ClusteringAgreement._centroid_ann(a, "target", CONTROL)
        resolutions = [1.0] if which == "real" else list(metric.pred_resolutions)
        for r in resolutions:
            key = f"{which}_{r}"
            ClusteringAgreement._cluster_leiden(cent, r, key)
            memberships[key] = [int(v) for v in cent.obs[key]]
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    real.write_h5ad(os.path.join(folder, "real.h5ad"))
    pred.write_h5ad(os.path.join(folder, "pred.h5ad"))
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"seed": s, "clustering_agreement": value, "memberships": memberships}, f, indent=1)
    print(name, "seed", s, "clustering_agreement", value)


def main():
    case("small", 12, 3, 0)
    case("medium", 60, 5, 100)
    case("large", 200, 8, 200)
    # Groups barely apart: the clusters depend on Leiden's random choices.
    case("diffuse", 150, 6, 300, contrast=24)


if __name__ == "__main__":
    main()
