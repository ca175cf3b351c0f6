#!/usr/bin/env python3
"""Tables the seeded comparison of scripts/compare_seeds.sh: per seed and per arm, the best
validation loss and the test pearson_delta_de; mean ± SD, min–max; and whether each arm's mean is
within the reference's seed spread (|Δ mean| ≤ the larger SD of the two). Standard library only.

Usage: summarize_seeds.py --reference REF.json --ours NAME=RUNS_DIR [--ours …] --out OUT.md
(RUNS_DIR holds seed_<s>/run.json and metrics.json, as `scgenept train` writes them.)
"""

import argparse
import json
import pathlib
import statistics as st


def ours(runs: pathlib.Path, seeds):
    out = []
    for s in seeds:
        d = runs / f"seed_{s}"
        run = json.loads((d / "run.json").read_text())
        metrics = json.loads((d / "metrics.json").read_text())["model"]
        out.append({"seed": s, "best_val_loss": run["best_val_loss"],
                    "test_pearson_delta_de": metrics["test_pearson_delta_de"]})
    return out


def describe(values):
    return st.mean(values), st.stdev(values) if len(values) > 1 else 0.0, min(values), max(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, type=pathlib.Path)
    ap.add_argument("--ours", action="append", default=[], help="NAME=RUNS_DIR")
    ap.add_argument("--out", required=True, type=pathlib.Path)
    a = ap.parse_args()
    ref = json.loads(a.reference.read_text())
    seeds = [r["seed"] for r in ref["runs"]]
    arms = {"reference (PyTorch, scGPT modules)": ref["runs"]}
    for spec in a.ours:
        name, runs = spec.split("=", 1)
        arms[name] = ours(pathlib.Path(runs), seeds)
    keys = [("best_val_loss", "validation loss"), ("test_pearson_delta_de", "test pearson_delta_de")]
    lines = ["| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± SD | min–max |",
             "|---" * (len(seeds) + 3) + "|"]
    verdicts, summary = [], {}
    ref_name = next(iter(arms))
    for key, label in keys:
        lines.append(f"| **{label}** |" + " |" * (len(seeds) + 2))
        for name, runs in arms.items():
            vals = [r[key] for r in runs]
            m, sd, lo, hi = describe(vals)
            summary.setdefault(name, {})[key] = {"mean": m, "sd": sd, "min": lo, "max": hi, "values": vals}
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in vals)
                         + f" | {m:.4f} ± {sd:.4f} | {lo:.4f}–{hi:.4f} |")
        r = summary[ref_name][key]
        for name in list(arms)[1:]:
            o = summary[name][key]
            delta, spread = o["mean"] - r["mean"], max(o["sd"], r["sd"])
            ok = abs(delta) <= spread
            verdicts.append(f"- {label}, {name}: Δ mean {delta:+.4f}, larger SD {spread:.4f}: "
                            + ("within the seed spread" if ok else "**outside the seed spread**"))
            summary[name][key]["within_spread"] = ok
    text = "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"
    a.out.write_text(text)
    a.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
