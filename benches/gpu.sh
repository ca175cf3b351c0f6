#!/usr/bin/env bash
# One training step of the full network on a GPU, ours beside PyTorch's, in one go (issue 14):
# scgenept f32 and bf16 at 16, 32 and 64 cells × 1,536 genes (and f32 at 16 with the earlier
# materialised attention), and the PyTorch reference in fp32 and under autocast (bf16, fp16) at
# the same batches. Then inference over Norman's 5,045 genes (issue 17): `bench predict --size
# full` in f32 and bf16 beside the reference under no_grad with SDPA (fp32, bf16 autocast), 256
# cells each, all distinct (4,096 controls to draw from). Builds nothing.
#
#   benches/gpu.sh BIN [OUT_DIR]
#
# BIN      a binary from `cargo build --release -p scgenept-cli --features cuda` (carried over).
# OUT_DIR  where the JSON results and logs go (default: benches/results/gpu-<UTC date>).
# Needs python3 with torch and the scgpt package (scripts/make_model_fixtures.py composes the
# reference from it): set SCGPT_WHEEL to a carried scgpt-0.2.4 wheel to install it (--no-deps).
# COMMIT names the commit in meta.json (there may be no .git where this runs).
# Each run has a time limit (RUN_LIMIT seconds, default 150); all of it fits in 8 minutes on an
# H100/H200. A run that does not fit in GPU memory is recorded as such, and the rest go on.
set -u
BIN=${1:?usage: benches/gpu.sh BIN [OUT_DIR]}
OUT=${2:-benches/results/gpu-$(date -u +%Y%m%d)}
LIMIT=${RUN_LIMIT:-150}
HERE=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
if [ -n "${SCGPT_WHEEL:-}" ]; then
    python3 -m pip install -q --no-deps --no-index "$SCGPT_WHEEL" || echo "scgpt wheel not installed"
fi
{
    echo "{\"date\": \"$(date -u +%FT%TZ)\", \"commit\": \"${COMMIT:-unknown}\","
    echo " \"binary\": \"$("$BIN" --version 2>&1)\","
    echo " \"gpu\": \"$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)\","
    echo " \"torch\": \"$(python3 -c 'import torch; print(torch.__version__)' 2>&1)\"}"
} > "$OUT/meta.json"

run() {
    local name=$1
    shift
    local t0=$SECONDS
    timeout "$LIMIT" "$@" --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $((SECONDS - t0)) s"
}

for precision in f32 bf16; do
    for batch in 16 32 64; do
        run "ours-$precision-b$batch" "$BIN" bench step --size full --device cuda \
            --batch "$batch" --steps 3 --precision "$precision"
    done
done
# The earlier attention (every B×H×L×L score kept for backward), for the before/after.
SCGENEPT_GPU_ATTENTION=materialised run "ours-f32-b16-materialised" "$BIN" bench step \
    --size full --device cuda --batch 16 --steps 3
for amp in off bf16 fp16; do
    for batch in 16 32 64; do
        run "torch-$amp-b$batch" python3 "$HERE/scripts/bench_reference_step.py" \
            --device cuda --batch "$batch" --steps 3 --amp "$amp"
    done
done

# Inference, full network over 5,045 genes: cells/s (all draws distinct, so ours runs every cell).
for precision in f32 bf16; do
    run "predict-ours-$precision" "$BIN" bench predict --size full --genes 5045 --device cuda \
        --perturbations 1 --pool-size 256 --controls 4096 --precision "$precision"
done
for amp in off bf16; do
    run "predict-torch-$amp" python3 "$HERE/scripts/bench_reference_predict.py" --size full \
        --genes 5045 --device cuda --perturbations 1 --pool-size 256 --batch 32 --amp "$amp"
done

# The tables, last: ms/step, cells/s and allocator memory; ours over PyTorch at the same batch
# (f32 against fp32, bf16 against bf16 autocast).
python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(name):
    p = out / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None
def failed(name):
    log = out / f"{name}.log"
    text = log.read_text() if log.exists() else ""
    return "out of memory" if "out of memory" in text.lower() else "failed (see log)"
print(f"{'run':<18}{'ms/step':>10}{'cells/s':>10}{'GiB in use':>12}{'GiB reserved':>14}{'time vs torch':>15}{'mem vs torch':>14}")
for precision, amp in [("f32", "off"), ("bf16", "bf16")]:
    for batch in (16, 32, 64):
        ours, torch = load(f"ours-{precision}-b{batch}"), load(f"torch-{amp}-b{batch}")
        for name, r in [(f"ours-{precision}-b{batch}", ours), (f"torch-{amp}-b{batch}", torch)]:
            if r is None:
                print(f"{name:<18}{failed(name):>10}")
                continue
            used = r.get("device_peak_in_use_mib") or r.get("device_peak_allocated_mib")
            res = r.get("device_reserved_mib") or r.get("device_peak_reserved_mib")
            line = f"{name:<18}{r['ms_per_step_mean']:>10.1f}{r['cells_per_s']:>10.1f}"
            line += f"{(used or 0) / 1024:>12.1f}{(res or 0) / 1024:>14.1f}"
            if name.startswith("ours") and ours and torch:
                t = ours["ms_per_step_mean"] / torch["ms_per_step_mean"]
                m = (ours.get("device_reserved_mib") or 0) / (torch.get("device_peak_reserved_mib") or 1)
                line += f"{t:>15.2f}{m:>14.2f}"
            print(line)
for name in ("ours-f32-b16-materialised",):
    r = load(name)
    if r:
        print(f"{name:<18}{r['ms_per_step_mean']:>10.1f}{r['cells_per_s']:>10.1f}"
              f"{(r.get('device_peak_in_use_mib') or 0) / 1024:>12.1f}{(r.get('device_reserved_mib') or 0) / 1024:>14.1f}")
    else:
        print(f"{name:<18}{failed(name):>10}")
print(f"\n{'inference, 5,045 genes':<24}{'cells/s':>10}{'vs torch':>10}")
for ours_name, torch_name in [("predict-ours-f32", "predict-torch-off"), ("predict-ours-bf16", "predict-torch-bf16")]:
    ours, torch = load(ours_name), load(torch_name)
    for name, r, key in [(ours_name, ours, "forwards_per_s"), (torch_name, torch, "cells_per_s")]:
        if r is None:
            print(f"{name:<24}{failed(name):>10}")
            continue
        ratio = f"{ours['forwards_per_s'] / torch['cells_per_s']:>10.2f}" if name == ours_name and torch else ""
        print(f"{name:<24}{r[key]:>10.1f}{ratio}")
for amp in ("fp16",):
    for batch in (16, 32, 64):
        r = load(f"torch-{amp}-b{batch}")
        if r:
            print(f"{'torch-' + amp + '-b' + str(batch):<18}{r['ms_per_step_mean']:>10.1f}{r['cells_per_s']:>10.1f}"
                  f"{r['device_peak_allocated_mib'] / 1024:>12.1f}{r['device_peak_reserved_mib'] / 1024:>14.1f}")
PY
