#!/usr/bin/env python3
"""summary.md for benches/gpu.sh: the runs in OUT_DIR/results.jsonl as Markdown tables.

    python3 benches/gpu_summary.py OUT_DIR > summary.md

Standard library only (the GPU machine and CI both have python3; torch is not needed here).
Training steps: ms/step, cells/s, peak memory (ours: cubecl's allocator read through forward and
backward, beside the memory plan; PyTorch: torch.cuda.max_memory_allocated; on the CPU, peak
RSS), and ours over PyTorch at the same batch (bf16 against autocast bf16, f32 against fp32).
"""

import json
import pathlib
import sys


def load(out):
    runs = {}
    path = out / "results.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        r = json.loads(line)
        runs[r["name"]] = r
    return runs


def peak_mib(r):
    x = r.get("result") or {}
    for key in ("device_peak_in_use_mib", "device_peak_allocated_mib", "peak_rss_mib"):
        if x.get(key) is not None:
            return x[key], key
    return None, None


def fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def step_rows(runs):
    pairs = [("bf16", "bf16"), ("f32", "off")]
    rows = []
    for ours_p, amp in pairs:
        for b in (64, 16, 32):
            ours, torch = runs.get(f"ours-{ours_p}-b{b}"), runs.get(f"torch-{amp}-b{b}")
            for name, r in ((f"ours-{ours_p}-b{b}", ours), (f"torch-{amp}-b{b}", torch)):
                if r is None:
                    continue
                x = r.get("result") or {}
                peak, key = peak_mib(r)
                ratio_t = ratio_m = None
                if name.startswith("ours") and torch and (torch.get("result") or {}) and x:
                    t = torch["result"]
                    ratio_t = x["ms_per_step_mean"] / t["ms_per_step_mean"]
                    tp, _ = peak_mib(torch)
                    if peak and tp:
                        ratio_m = peak / tp
                rows.append([
                    name, r["status"], fmt(x.get("ms_per_step_mean")), fmt(x.get("cells_per_s")),
                    fmt(peak), {"device_peak_in_use_mib": "allocator",
                                "device_peak_allocated_mib": "torch allocator",
                                "peak_rss_mib": "RSS"}.get(key, "—"),
                    fmt(x.get("planned_peak_mib")), fmt(ratio_t, ".2f"), fmt(ratio_m, ".2f"),
                ])
    r = runs.get("ours-f32-b16-materialised")
    if r:
        x = r.get("result") or {}
        peak, _ = peak_mib(r)
        rows.append([r["name"], r["status"], fmt(x.get("ms_per_step_mean")),
                     fmt(x.get("cells_per_s")), fmt(peak), "", "", "", ""])
    return rows


def predict_rows(runs):
    rows = []
    for ours, torch in (("predict-ours-f32", "torch-predict-off"),
                        ("predict-ours-bf16", "torch-predict-bf16")):
        o, t = runs.get(ours), runs.get(torch)
        ox = (o or {}).get("result") or {}
        tx = (t or {}).get("result") or {}
        ratio = None
        if ox.get("forwards_per_s") and tx.get("cells_per_s"):
            ratio = ox["forwards_per_s"] / tx["cells_per_s"]
        if o:
            rows.append([ours, o["status"], fmt(ox.get("forwards_per_s")), fmt(ratio, ".2f")])
        if t:
            rows.append([torch, t["status"], fmt(tx.get("cells_per_s")), ""])
    return rows


def kernel_rows(runs):
    """`scgenept bench kernels`: each check's worst difference against its bound."""
    r = runs.get("kernels")
    if not r:
        return []
    checks = (r.get("result") or {}).get("checks") or []
    if not checks:
        return [["(no checks)", r["status"], "", ""]]
    return [[c["name"], "ok" if c["worst"] <= c["bound"] else "OVER",
             f"{c['worst']:.2e}", f"{c['bound']:.0e}"] for c in checks]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    out = pathlib.Path(sys.argv[1])
    runs = load(out)
    meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").exists() else {}
    print(f"# GPU slot: {meta.get('gpu', '?')}{' (dry run)' if meta.get('dry_run') else ''}\n")
    print(f"commit {meta.get('commit')}, {meta.get('date')}, torch {meta.get('torch')}, "
          f"device {meta.get('device')}, deadline {meta.get('deadline_s')} s; "
          f"{len(runs)} runs recorded, "
          f"{sum(r['status'] == 'ok' for r in runs.values())} ok.\n")
    print("## Fused kernels against their references\n")
    print(table(["check", "status", "worst", "bound"], kernel_rows(runs)))
    print("\n## One training step\n")
    print(table(["run", "status", "ms/step", "cells/s", "peak MiB", "peak from", "plan MiB",
                 "time vs torch", "memory vs torch"], step_rows(runs)))
    kernels = [f"{r['name']} {r['result'].get('fused_kernels', '?')}" for r in runs.values()
               if r["name"].startswith("ours-") and r.get("result")]
    if kernels:
        print(f"\nFused attention kernels asked for (SCGENEPT_FUSED_KERNELS): {', '.join(kernels)}")
    print("\n## Inference\n")
    print(table(["run", "status", "cells/s", "vs torch"], predict_rows(runs)))
    skipped = [r for r in runs.values() if r["status"].startswith("skipped")]
    failed = [r for r in runs.values() if r["status"] not in ("ok",) and r not in skipped]
    print("\n## Not measured\n")
    for r in skipped + failed:
        print(f"- {r['name']}: {r['status']}")
    if not skipped and not failed:
        print("- nothing: every run finished")
    plan = out / "plan.txt"
    if plan.exists():
        last = plan.read_text().strip().splitlines()[-1:]
        print(f"\nMemory plan of the main shape (plan.txt): {last[0] if last else '?'}")
    check = out / "torch_check.txt"
    if check.exists():
        print(f"\nPyTorch reference check (torch_check.txt): {check.read_text().strip()}")


if __name__ == "__main__":
    main()
