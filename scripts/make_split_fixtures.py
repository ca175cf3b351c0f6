"""Writes tests/fixtures/split/ with the REAL numpy legacy RNG and the REAL GEARS 0.0.2 DataSplitter.

Run with scripts/make_h5ad_fixtures.sh (it builds the pinned venv). Outputs:
- numpy_rng.json: raw MT19937 draws, permutations and choices numpy printed for several seeds;
- gears_<name>.json: conditions (in obs order) and the split GEARS computes for them;
- tiny_simulation_1_0.75.pkl + _subgroup.pkl: the two pickles GEARS' prepare_split writes;
- the scGenePT subgroup pickles for Norman and Adamson (copied from ../shared/splits, MIT).
"""

import json
import pathlib
import pickle
import shutil
import sys

import anndata
import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import gears_real  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/split"
SHARED = ROOT.parent / "shared/splits"


def rng_fixture():
    cases = []
    for seed in [0, 1, 42, 12345, 2**32 - 1]:
        rs = np.random.RandomState(seed)
        raw = [int(x) for x in rs._bit_generator.random_raw(8)]
        rs = np.random.RandomState(seed)
        perms = {str(n): rs.permutation(n).tolist() for n in [1, 2, 7, 86, 105, 1000]}
        rs = np.random.RandomState(seed)
        pool = np.array([f"G{i}" for i in range(50)])
        choice = rs.choice(pool, 37, replace=False).tolist()
        cases.append({"seed": seed, "raw": raw, "permutations": perms, "choice_50_37": choice})
    return {"numpy": np.__version__, "cases": cases}


def gears_split(conditions, seed=1, train_gene_set_size=0.75):
    du = gears_real.data_utils()
    obs = pd.DataFrame({"condition": pd.Categorical(conditions, categories=list(dict.fromkeys(conditions)))})
    adata = anndata.AnnData(X=np.zeros((len(conditions), 1), dtype=np.float32), obs=obs)
    splitter = du.DataSplitter(adata, split_type="simulation")
    adata, subgroup = splitter.split_data(
        train_gene_set_size=train_gene_set_size, combo_seen2_train_frac=0.75, seed=seed
    )
    # As GEARS pertdata.prepare_split builds the split pickle.
    set2conditions = dict(adata.obs.groupby("split").agg({"condition": lambda x: x}).condition)
    set2conditions = {i: j.unique().tolist() for i, j in set2conditions.items()}
    as_str = lambda v: [str(x) for x in v]  # noqa: E731
    sub = {k: {g: as_str(v) for g, v in d.items()} for k, d in subgroup.items()}
    return set2conditions, subgroup, {
        "seed": seed,
        "train_gene_set_size": train_gene_set_size,
        "conditions": list(dict.fromkeys(conditions)),
        "train": as_str(set2conditions["train"]),
        "val": as_str(set2conditions["val"]),
        "test": as_str(set2conditions["test"]),
        "test_subgroup": sub["test_subgroup"],
        "val_subgroup": sub["val_subgroup"],
    }


def synthetic_conditions(seed):
    """A Norman-like list: singles in both spellings, combos in both orders, ctrl in between."""
    rs = np.random.RandomState(seed)
    genes = [f"GENE{i:02d}" for i in range(40)]
    conds = ["ctrl"]
    for g in genes:
        conds.append(f"{g}+ctrl" if rs.rand() < 0.7 else f"ctrl+{g}")
    for _ in range(60):
        a, b = rs.choice(genes, 2, replace=False)
        conds.append(f"{a}+{b}")
    conds = list(dict.fromkeys(conds))
    rs.shuffle(conds)
    return conds


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "numpy_rng.json").write_text(json.dumps(rng_fixture()) + "\n")

    adamson = [l.strip() for l in (SHARED / "adamson_conditions.txt").read_text().split() if l.strip()]
    norman = [l.strip() for l in (SHARED / "norman_conditions_normalized.txt").read_text().split() if l.strip()]
    for name, conds, seeds in [
        ("adamson", adamson, [1]),
        ("norman_normalized", norman + ["ctrl"], [1, 2]),
        ("synthetic", synthetic_conditions(7), [1, 5]),
    ]:
        for seed in seeds:
            _, _, fx = gears_split(conds, seed=seed)
            (OUT / f"gears_{name}_seed{seed}.json").write_text(json.dumps(fx, indent=0) + "\n")

    set2conditions, subgroup, _ = gears_split(synthetic_conditions(3), seed=1)
    with open(OUT / "tiny_simulation_1_0.75.pkl", "wb") as f:
        pickle.dump(set2conditions, f)
    with open(OUT / "tiny_simulation_1_0.75_subgroup.pkl", "wb") as f:
        pickle.dump(subgroup, f)
    (OUT / "tiny_conditions.json").write_text(json.dumps(list(dict.fromkeys(synthetic_conditions(3)))) + "\n")

    for name in ["norman_pert_data_subgroups.pkl", "adamson_pert_data_subgroups.pkl",
                 "adamson_conditions.txt", "norman_conditions_normalized.txt"]:
        shutil.copyfile(SHARED / name, OUT / name)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
