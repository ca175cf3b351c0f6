"""Writes tests/fixtures/vcc2026/: a small real/predicted pair of raw counts in cell-eval2's
layout and what cell-eval2 0.20.0 computes from it with the competition preset (`vcc2026`):

- `run/`: `cell-eval2 run --preset vcc2026` on the pair: `results.csv` (long: perturbation,
  metric, value), `agg_results.csv`, and both sides' DE tables (`de_real.csv`, `de_pred.csv`).
- `bundle/`: `cell-eval2 baseline` (the generic-response arm, seed 0) and `prep-real-bundle` (that
  arm scored as a prediction, and the split-half replicate anchor over five derived seeds):
  `baseline_agg.csv`, `anchor_splits.csv`, `anchor_agg.csv`.
- `scored.csv`: `cell-eval2 score --real-bundle` of the run (the competition score).
- `numpy_rng.json`: numpy's PCG64 draws the baseline and the anchor rest on (SeedSequence,
  `integers`, `permutation`), for the generator's own test.

The real file's perturbation categories are stored out of sorted order and the predicted file
is dense, as some users' files are.

The CPU DE engine is scanpy's Wilcoxon test (no GPU, pdex not installed): cell-eval2 picks it
when neither gpudge nor pdex is present. tests/eval_vcc2026.rs checks `scgenept eval --profile
vcc2026` against these files.

    python3 -m venv /tmp/ce2 && /tmp/ce2/bin/pip install "cell-eval2==0.20.0"
    /tmp/ce2/bin/python scripts/make_vcc2026_fixtures.py
"""

import json
import os
import subprocess
import sys
import tempfile

import anndata as ad
import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "vcc2026")
CLI = os.path.join(os.path.dirname(sys.executable), "cell-eval2")
N_GENES = 150
GENES = [f"G{i}" for i in range(N_GENES)]
# Knockdowns named after measured genes (their own gene leaves the scored features), and one
# label that names no gene (scored without exclusion, with cell-eval2's warning).
PERTS = ["G0", "G7", "G12", "G25", "G33", "G48", "G60", "G71", "G90", "G104", "CRISPRa_X"]
CONTROL = "non-targeting"


def counts(rng, sizes, mu_of):
    """Poisson counts around each condition's mean profile, libraries of 1,500-4,000."""
    rows, labels = [], []
    for cond, n in sizes.items():
        p = mu_of(cond)
        p = p / p.sum()
        lib = rng.integers(1500, 4000, size=n)
        rows.append(rng.poisson(lib[:, None] * p[None, :]))
        labels += [cond] * n
    return np.vstack(rows).astype(np.float32), labels


def anndata(x, labels, categories=None, sparse=True):
    obs = pd.DataFrame(
        {"target": pd.Categorical(labels, categories=categories)},
        index=[f"c{i}" for i in range(len(labels))],
    )
    return ad.AnnData(X=sp.csr_matrix(x) if sparse else x, obs=obs, var=pd.DataFrame(index=GENES))


def profiles(rng):
    base = rng.gamma(0.8, 1.0, size=N_GENES)
    base[rng.random(N_GENES) < 0.1] *= 0.002  # genes below the CPM gate in the controls
    effects = {}
    for p in PERTS:
        e = np.zeros(N_GENES)
        idx = rng.choice(N_GENES, 30, replace=False)
        e[idx] = rng.normal(0.0, 1.2, size=30)
        if p in GENES:
            e[GENES.index(p)] = np.log(0.1)
        effects[p] = e
    return base, effects


def run(*args):
    subprocess.run([CLI, *args], check=True)


def rng_reference():
    """numpy's Generator(PCG64) draws, as the baseline (`integers`) and the splits
    (`permutation`) use them, and the anchor's derived seeds."""
    out = {"seed_sequence_0_5": [int(s) for s in np.random.SeedSequence(0).generate_state(5)]}
    g = np.random.default_rng(0)
    out["integers_seed0"] = [g.integers(0, n, size=4).tolist() for n in (1, 7, 80, 1000, 2**31 + 11)]
    seed = out["seed_sequence_0_5"][2]
    g = np.random.default_rng(seed)
    out["permutation_seed"] = seed
    out["permutations"] = [g.permutation(np.arange(n)).tolist() for n in (1, 2, 9, 40)]
    return out


def csv(frame, path):
    frame.write_csv(path, float_precision=None)


def main():
    rng = np.random.default_rng(11)
    base, effects = profiles(rng)
    sizes = {CONTROL: 90, **{p: int(rng.integers(24, 48)) for p in PERTS}}
    mu = lambda c: base * np.exp(effects.get(c, 0.0))
    x_real, l_real = counts(rng, sizes, mu)
    # The prediction: the effects partly right (two perturbations swapped, so the
    # discrimination score is not perfect), other cell counts; one perturbation of 5 cells.
    guessed = {p: 0.5 * e + rng.normal(0.0, 0.8, N_GENES) * (rng.random(N_GENES) < 0.3) for p, e in effects.items()}
    guessed["G7"], guessed["G12"] = guessed["G12"], guessed["G7"]
    sizes_pred = {CONTROL: 60, **{p: int(rng.integers(20, 40)) for p in PERTS}}
    sizes_pred["G90"] = 5
    x_pred, l_pred = counts(rng, sizes_pred, lambda c: base * np.exp(guessed.get(c, 0.0)))
    os.makedirs(OUT, exist_ok=True)
    real, pred = os.path.join(OUT, "real.h5ad"), os.path.join(OUT, "pred.h5ad")
    # The real file's categories out of sorted order (pandas groups cells, and the anchor draws
    # its splits, in this order); the prediction dense.
    anndata(x_real, l_real, categories=[CONTROL] + sorted(PERTS, reverse=True)).write_h5ad(real)
    anndata(x_pred, l_pred, sparse=False).write_h5ad(pred)
    with tempfile.TemporaryDirectory() as tmp:
        run("run", "-ap", pred, "-ar", real, "--preset", "vcc2026", "-o", f"{tmp}/run", "--write-degenes")
        run("baseline", "-ar", real, "--preset", "vcc2026", "-o", f"{tmp}/base", "--save-pred", f"{tmp}/base.h5ad")
        run("prep-real-bundle", "--real", real, "--baseline", f"{tmp}/base.h5ad", "--preset", "vcc2026", "-o", f"{tmp}/bundle")
        run("score", "--user-agg", f"{tmp}/run/agg_results.csv", "--real-bundle", f"{tmp}/bundle", "-o", f"{tmp}/scored.csv")
        os.makedirs(f"{OUT}/run", exist_ok=True)
        os.makedirs(f"{OUT}/bundle", exist_ok=True)
        for name in ("results.csv", "agg_results.csv"):
            csv(pl.read_csv(f"{tmp}/run/{name}"), f"{OUT}/run/{name}")
        for side in ("real", "pred"):
            csv(pl.read_parquet(f"{tmp}/run/de_{side}.parquet"), f"{OUT}/run/de_{side}.csv")
        csv(pl.read_csv(f"{tmp}/bundle/baseline_agg.csv"), f"{OUT}/bundle/baseline_agg.csv")
        for name in ("anchor_splits", "anchor_agg"):
            csv(pl.read_parquet(f"{tmp}/bundle/{name}.parquet"), f"{OUT}/bundle/{name}.csv")
        scored = pl.read_csv(f"{tmp}/scored.csv").select("metric", "from_baseline", "from_replicate")
        csv(scored, f"{OUT}/scored.csv")
    with open(f"{OUT}/numpy_rng.json", "w") as f:
        json.dump(rng_reference(), f)
        f.write("\n")


if __name__ == "__main__":
    main()
