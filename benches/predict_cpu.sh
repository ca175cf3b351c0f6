#!/usr/bin/env bash
# Inference throughput on the CPU, ours and PyTorch's, in one run on the same shape and threads:
# `scgenept bench predict` (the path `predict` takes) and scripts/bench_reference_predict.py (the
# reference composition in eval mode under no_grad, SDPA attention), demo network by default.
#
#   benches/predict_cpu.sh [BINARY] [--size demo|full] [--genes N]
#
# Writes benches/results/predict_<size>_cpu_{ours,pytorch}.json and prints both lines and the
# ratio of network cells/s (cells through the network; ours also reports predicted cells/s, where
# a control drawn twice for one perturbation runs once). Needs the fixture venv (.venv-fixtures,
# see scripts/make_model_fixtures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/scgenept}
shift || true
SIZE=demo
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
THREADS=$(nproc)
OUT=benches/results
mkdir -p "$OUT"
"$BIN" bench predict --size "$SIZE" "${EXTRA[@]}" --json "$OUT/predict_${SIZE}_cpu_ours.json"
# PyTorch at its best batch on this shape (64 of 32/64/97 on the demo network, 2 cores).
.venv-fixtures/bin/python scripts/bench_reference_predict.py --size "$SIZE" "${EXTRA[@]}" \
  --threads "$THREADS" --batch 64 --json "$OUT/predict_${SIZE}_cpu_pytorch.json"
python3 - "$OUT/predict_${SIZE}_cpu_ours.json" "$OUT/predict_${SIZE}_cpu_pytorch.json" <<'PY'
import json, sys
ours, ref = (json.load(open(p)) for p in sys.argv[1:])
print(f"ours: {ours['cells_per_s']:.1f} predicted cells/s, {ours['forwards_per_s']:.1f} network "
      f"cells/s; PyTorch: {ref['cells_per_s']:.1f} network cells/s; "
      f"ours / PyTorch (network cells/s): {ours['forwards_per_s'] / ref['cells_per_s']:.2f}")
PY
