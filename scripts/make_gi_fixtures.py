#!/usr/bin/env python3
"""GEARS genetic-interaction scores computed by the REAL cell-gears 0.0.2 function
(`gears/utils.py: get_coeffs`, from PyPI `cell-gears==0.0.2`, installed --no-deps) with sklearn's
TheilSenRegressor and dcor, on three small cases; writes tests/fixtures/gi/gi_scores.json for the
test that checks `crates/scgenept-eval/src/gi.rs` against it.

Cases: 60 genes (every 2-gene subset), 500 genes (sklearn's 100,000 random subsets from
RandomState(1000)), and 60 genes rounded to one decimal (tied rows: singular subsets).

    .venv-fixtures/bin/pip install --no-deps cell-gears==0.0.2 && \
    .venv-fixtures/bin/pip install scikit-learn dcor && \
    .venv-fixtures/bin/python scripts/make_gi_fixtures.py
"""

import ast
import json
import pathlib
import types

import dcor
import numpy as np
import sklearn

import gears_real

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/gi/gi_scores.json"


def get_coeffs():
    """`get_coeffs` taken verbatim from the installed gears/utils.py (its module imports torch and
    torch_geometric, which this needs not)."""
    tree = ast.parse((gears_real.GEARS_DIR / "utils.py").read_text())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_coeffs"]
    assert keep, "gears/utils.py has no get_coeffs (expected cell-gears==0.0.2)"
    mod = types.ModuleType("gears_gi")
    from sklearn.linear_model import TheilSenRegressor
    mod.__dict__.update(np=np, TheilSenRegressor=TheilSenRegressor,
                        distance_correlation=dcor.distance_correlation)
    exec(compile(ast.Module(body=keep, type_ignores=[]), "gears/utils.py", "exec"), mod.__dict__)
    return mod.get_coeffs


def case(name, first, second, double):
    res = get_coeffs()(np.array([first, second]).T, first, second, double)
    keys = ["c1", "c2", "mag", "dcor", "dcor_singles", "dcor_first", "dcor_second", "corr_fit",
            "dominance", "eq_contr"]
    return {"name": name, "first": first.tolist(), "second": second.tolist(),
            "double": double.tolist(), "scores": {k: float(res[k]) for k in keys}}


def main():
    rs = np.random.RandomState(5)
    cases = []
    for name, n, decimals in [("60 genes", 60, None), ("500 genes", 500, None),
                              ("60 genes, tied", 60, 1)]:
        a = rs.normal(0, 1, n)
        b = rs.normal(0, 0.7, n)
        # A synergistic pair with an interaction on a few genes and noise.
        ab = 1.3 * a + 0.8 * b + rs.normal(0, 0.2, n)
        ab[: n // 10] += rs.normal(0, 1.0, n // 10)
        if decimals is not None:
            a, b, ab = (np.round(v, decimals) for v in (a, b, ab))
        cases.append(case(name, a, b, ab))
    versions = {"cell-gears": "0.0.2", "scikit-learn": sklearn.__version__,
                "dcor": dcor.__version__, "numpy": np.__version__}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"versions": versions, "cases": cases}, indent=1) + "\n")
    for c in cases:
        print(c["name"], {k: round(v, 6) for k, v in c["scores"].items()})


main()
