#!/usr/bin/env bash
# One GPU slot's measurements, ours beside PyTorch's, inside one deadline (docs/gpu.md, "A GPU
# slot"). Builds nothing, writes only under OUT_DIR, and keeps what it has if it is cut off.
#
#   benches/gpu.sh BIN OUT_DIR               # on the GPU machine (BIN built with --features cuda,
#                                            # plain or .xz)
#   benches/gpu.sh --dry-run BIN OUT_DIR     # anywhere: the CPU (or DRY_DEVICE=wgpu) binary,
#                                            # tiny shapes, a 150 s deadline (CI runs this)
#
# OUT_DIR ends up with at most 6 files, each rewritten as soon as a run ends:
#   meta.json       date, commit (COMMIT=…), binary, GPU, driver, torch, deadline
#   plan.txt        `scgenept bench plan` for the slot's main shape (before anything runs)
#   results.jsonl   one line per run: name, status (ok | failed | timeout | skipped), seconds,
#                   and the run's own JSON result
#   summary.md      the table so far: ms/step, cells/s, peak memory, ours over PyTorch, the
#                   memory plan beside the allocator, skipped runs and why
#   torch_check.txt the torch-only reference checked against the scgpt fixture
#   logs.tar.gz     every run's stdout and stderr
# Runs go most valuable first: the fused kernels against their references, then ours bf16 and
# PyTorch AMP (bf16) at 64 cells, then 16 and 32, then f32 (PyTorch fp32), then inference over
# 5,045 genes. A run starts only if its estimated time fits in what is left of DEADLINE seconds
# (default 420); its own time limit is what is left. Runs that cannot fit are listed as skipped.
# PYTHON (default python3) must import torch for the PyTorch runs; without it they are skipped
# and say so.
set -u
DRY=0
if [ "${1:-}" = "--dry-run" ]; then
    DRY=1
    shift
fi
BIN=${1:?usage: benches/gpu.sh [--dry-run] BIN OUT_DIR}
OUT=${2:?usage: benches/gpu.sh [--dry-run] BIN OUT_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
START=$SECONDS
if [ $DRY = 1 ]; then
    DEADLINE=${DEADLINE:-150}
    DEVICE=${DRY_DEVICE:-cpu}
    TORCH_DEVICE=cpu
else
    DEADLINE=${DEADLINE:-420}
    DEVICE=cuda
    TORCH_DEVICE=cuda
fi
mkdir -p "$OUT" || exit 1
LOGS=$(mktemp -d)
UNPACKED=$(mktemp -d)
trap 'rm -rf "$LOGS" "$UNPACKED"' EXIT
# A carried binary may come xz-compressed (the stripped cuda build is ~89 MB, ~15 MB as .xz,
# and a lent machine takes 64 MiB in all): unpacked here, outside OUT_DIR.
if [[ $BIN == *.xz ]]; then
    "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$BIN" "$UNPACKED/scgenept" && chmod +x "$UNPACKED/scgenept" || { echo "cannot unpack $BIN" >&2; exit 1; }
    BIN=$UNPACKED/scgenept
fi
: > "$OUT/results.jsonl"
# Kernels compiled and autotuned once, reused by every later run (kernel_cache.rs).
export SCGENEPT_CACHE=${SCGENEPT_CACHE:-$LOGS/cache}

left() { echo $((DEADLINE - (SECONDS - START))); }

torch_ok=0
"$PY" -c 'import torch' > /dev/null 2>&1 && torch_ok=1
gpu_name=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
"$PY" - "$OUT/meta.json" <<PY
import json, sys, datetime
json.dump({
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "commit": "${COMMIT:-unknown}",
    "binary": """$("$BIN" --version 2>&1 | head -1)""",
    "gpu": """${gpu_name:-none}""",
    "torch": """$([ $torch_ok = 1 ] && "$PY" -c 'import torch; print(torch.__version__)' 2>&1)""" or None,
    "dry_run": bool($DRY),
    "device": "$DEVICE",
    "deadline_s": $DEADLINE,
}, open(sys.argv[1], "w"), indent=2)
PY

# The plan for the slot's main shape, before anything runs (no device needed).
if [ $DRY = 1 ]; then
    "$BIN" bench plan --size small --batch 4 --seq-len 48 --precision bf16 > "$OUT/plan.txt" 2>&1
else
    "$BIN" bench plan --size full --batch 64 --seq-len 1536 --precision bf16 > "$OUT/plan.txt" 2>&1
fi

if [ $torch_ok = 1 ]; then
    (cd "$HERE/scripts" && "$PY" check_torch_reference.py) > "$OUT/torch_check.txt" 2>&1
fi

# The results so far as summary.md, and the logs as one archive: called after every run.
publish() {
    "$PY" "$HERE/benches/gpu_summary.py" "$OUT" > "$OUT/summary.md.tmp" 2>> "$LOGS/summary.err" \
        && mv "$OUT/summary.md.tmp" "$OUT/summary.md"
    tar -czf "$OUT/logs.tar.gz.tmp" -C "$LOGS" --exclude cache . 2>/dev/null \
        && mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz"
}

# record NAME STATUS SECONDS [JSON_FILE]: one line of results.jsonl.
record() {
    "$PY" - "$OUT/results.jsonl" "$1" "$2" "$3" "${4:-}" <<'PY'
import json, pathlib, sys
path, name, status, seconds, result = sys.argv[1:6]
r = None
if result and pathlib.Path(result).is_file():
    try:
        r = json.loads(pathlib.Path(result).read_text())
    except ValueError:
        r = None
with open(path, "a") as f:
    f.write(json.dumps({"name": name, "status": status, "seconds": int(seconds), "result": r}) + "\n")
PY
}

# run NAME ESTIMATE_S COMMAND…: runs COMMAND (which writes its JSON to $RESULT) if ESTIMATE_S
# fits in the time left, with the time left as its limit.
run() {
    local name=$1 est=$2
    shift 2
    local remaining
    remaining=$(left)
    if [ "$remaining" -lt "$est" ]; then
        record "$name" "skipped: needs ~${est} s, ${remaining} s left" 0
        publish
        return
    fi
    if [[ $name == torch-* ]] && [ $torch_ok = 0 ]; then
        record "$name" "skipped: $PY cannot import torch" 0
        publish
        return
    fi
    RESULT="$LOGS/$name.json"
    local t0=$SECONDS
    timeout --kill-after=10 "$remaining" "$@" > "$LOGS/$name.log" 2>&1
    local rc=$? status=ok
    [ $rc = 124 ] || [ $rc = 137 ] && status="timeout after ${remaining} s"
    [ $rc != 0 ] && [ "$status" = ok ] && status="failed (exit $rc): $(grep -m1 -i 'error' "$LOGS/$name.log" | cut -c1-160)"
    record "$name" "$status" $((SECONDS - t0)) "$RESULT"
    echo "$name: $status in $((SECONDS - t0)) s ($(left) s left)"
    publish
}

ours_step() { # PRECISION BATCH ESTIMATE [NAME_SUFFIX]
    local size=full genes=1536 steps=3
    [ $DRY = 1 ] && size=small genes=48 steps=2
    run "ours-$1-b$2${4:-}" "$3" "$BIN" bench step --size $size --device "$DEVICE" --batch "$2" \
        --seq-len $genes --steps $steps --precision "$1" --json "$LOGS/ours-$1-b$2${4:-}.json"
}
torch_step() { # AMP BATCH
    local size=full genes=1536 steps=3
    [ $DRY = 1 ] && size=small genes=48 steps=2
    run "torch-$1-b$2" "$3" "$PY" "$HERE/scripts/bench_reference_step.py" --size $size \
        --device $TORCH_DEVICE --batch "$2" --seq-len $genes --steps $steps --amp "$1" \
        --json "$LOGS/torch-$1-b$2.json"
}

# Estimates (s) from the H100 runs of benches/README.md, doubled, with the first run paying for
# compilation and autotuning; the dry run's are what its tiny shapes take on 2 CPU cores.
if [ $DRY = 1 ]; then E_FIRST=20 E_STEP=10 E_PRED=20 E_BIG=100000; else E_FIRST=120 E_STEP=40 E_PRED=60 E_BIG=0; fi
# The fused kernels against their references on this device (scgenept bench kernels): the
# CUDA kernels checked before anything is timed with them. The dry run's CPU refuses it.
E_KERN=$([ $DRY = 1 ] && echo 20 || echo 90)
run "kernels" $E_KERN "$BIN" bench kernels --device "$DEVICE" --json "$LOGS/kernels.json"
# The tensor-core kernels run first in this slot's `kernels` (docs/attention.md, "Tensor-core
# kernels"). If those checks did not all pass, the bf16 steps below run the portable kernels, so
# the slot still brings back their numbers; summary.md says which kernels ran.
if ! grep -q '"name": "kernels", "status": "ok"' "$OUT/results.jsonl"; then
    export SCGENEPT_FUSED_KERNELS=portable
    echo "kernel checks did not pass: the steps run SCGENEPT_FUSED_KERNELS=portable"
fi
ours_step bf16 64 $E_FIRST
torch_step bf16 64 $E_STEP
# The same step with the portable attention kernels instead of the tensor-core ones that `auto`
# picks under bf16 on CUDA (docs/attention.md, "Tensor-core kernels").
SCGENEPT_FUSED_KERNELS=portable ours_step bf16 64 $E_STEP -portable
for b in 16 32; do
    ours_step bf16 $b $E_STEP
    torch_step bf16 $b $E_STEP
done
for b in 64 16 32; do
    ours_step f32 $b $E_STEP
    torch_step off $b $E_STEP
done
# Inference, full network over Norman's 5,045 genes (dry run: the demo network, 96 genes).
for p in f32 bf16; do
    if [ $DRY = 1 ]; then
        run "predict-ours-$p" $E_PRED "$BIN" bench predict --size demo --genes 96 --device "$DEVICE" \
            --perturbations 1 --pool-size 16 --controls 64 --precision $p --json "$LOGS/predict-ours-$p.json"
    else
        run "predict-ours-$p" $E_PRED "$BIN" bench predict --size full --genes 5045 --device cuda \
            --perturbations 1 --pool-size 128 --controls 4096 --precision $p --json "$LOGS/predict-ours-$p.json"
    fi
done
for amp in off bf16; do
    if [ $DRY = 1 ]; then
        run "torch-predict-$amp" $E_PRED "$PY" "$HERE/scripts/bench_reference_predict.py" --size demo \
            --genes 96 --device cpu --perturbations 1 --pool-size 16 --batch 16 --amp "$amp" \
            --json "$LOGS/torch-predict-$amp.json"
    else
        run "torch-predict-$amp" $E_PRED "$PY" "$HERE/scripts/bench_reference_predict.py" --size full \
            --genes 5045 --device cuda --perturbations 1 --pool-size 128 --batch 32 --amp "$amp" \
            --json "$LOGS/torch-predict-$amp.json"
    fi
done
# The earlier attentions at 16 cells beside the fused default (docs/attention.md): burn ops over
# query tiles, then with every score kept. In the dry run (CPU) the first runs the host op; the
# last one's estimate never fits, so the skip branch runs there too.
SCGENEPT_GPU_ATTENTION=tiled run "ours-f32-b16-tiled" $E_STEP \
    "$BIN" bench step --size "$([ $DRY = 1 ] && echo small || echo full)" --device "$DEVICE" \
    --batch 16 --steps 2 --json "$LOGS/ours-f32-b16-tiled.json"
SCGENEPT_GPU_ATTENTION=materialised run "ours-f32-b16-materialised" $((E_STEP + E_BIG)) \
    "$BIN" bench step --size "$([ $DRY = 1 ] && echo small || echo full)" --device "$DEVICE" \
    --batch 16 --steps 2 --json "$LOGS/ours-f32-b16-materialised.json"
echo "done in $((SECONDS - START)) s of ${DEADLINE} s; $(grep -c '"skipped' "$OUT/results.jsonl") skipped"
