"""Loads the REAL GEARS 0.0.2 functions (PyPI `cell-gears==0.0.2`, installed `--no-deps`) without
their heavy imports (torch, torch_geometric, ...): `gears/data_utils.py` is executed as is, with its
one relative import (`from .utils import parse_*, print_sys`) satisfied by the same functions taken
verbatim from `gears/utils.py` through `ast`. Nothing is re-implemented here."""

import ast
import pathlib
import types

import importlib.util

# Find the installed package without importing it (its __init__ imports torch).
GEARS_DIR = pathlib.Path(importlib.util.find_spec("gears").submodule_search_locations[0])
_WANTED = {"parse_single_pert", "parse_combo_pert", "parse_any_pert", "print_sys"}


def _utils_module():
    tree = ast.parse((GEARS_DIR / "utils.py").read_text())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _WANTED]
    mod = types.ModuleType("gears_utils_subset")
    mod.__dict__["sys"] = __import__("sys")
    exec(compile(ast.Module(body=keep, type_ignores=[]), "gears/utils.py", "exec"), mod.__dict__)
    return mod


def data_utils():
    src = (GEARS_DIR / "data_utils.py").read_text()
    line = "from .utils import parse_single_pert, parse_combo_pert, parse_any_pert, print_sys"
    assert line in src, "unexpected gears/data_utils.py (expected cell-gears==0.0.2)"
    mod = types.ModuleType("gears_data_utils")
    mod.__dict__.update({k: getattr(_utils_module(), k) for k in _WANTED})
    exec(compile(src.replace(line, ""), str(GEARS_DIR / "data_utils.py"), "exec"), mod.__dict__)
    return mod

