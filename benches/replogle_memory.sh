#!/usr/bin/env bash
# Issue 32's memory and throughput table (benches/README.md, "At Replogle size"): a synthetic
# K562-size file and one a quarter its size (same genes and perturbations), then for each
# `bench data --cells disk --epoch` (twice: the first run builds the cells cache) and the peak
# RSS of a training run of the small test network over its first SECONDS (VmHWM from /proc; the
# run is then stopped: an epoch of 3,306 batches takes ~1.6 h on 2 cores).
# Usage: benches/replogle_memory.sh [DIR] [SECONDS]   (needs `cargo build --release` first)
set -euo pipefail
dir=${1:-data/bench_replogle}
secs=${2:-150}
bin=${SCGENEPT:-target/release/scgenept}
mkdir -p "$dir"
for size in full:310385 quarter:77596; do
  name=${size%%:*} cells=${size##*:}
  file="$dir/k562_$name.h5ad"
  [ -f "$file" ] || /usr/bin/time -v "$bin" data synth --preset replogle_k562 --seed 0 \
    --cells "$cells" --out "$file" 2> >(grep -E "Maximum resident|Elapsed" >&2)
  for run in cold warm; do
    "$bin" bench data --data "$file" --cells disk --epoch --json "$dir/data_${name}_$run.json" >/dev/null
  done
  cat > "$dir/train_$name.toml" <<TOML
name = "rss_$name"
[data]
path = "k562_$name.h5ad"
cells = "disk"
[model]
model_type = "scgenept_random"
vocab = "dataset"
d_llm = 8
d_model = 16
nhead = 2
d_hid = 16
nlayers = 1
[train]
epochs = 1
[output]
dir = "$dir/runs"
TOML
  "$bin" train --config "$dir/train_$name.toml" --overwrite > "$dir/train_$name.log" 2>&1 &
  pid=$!
  hwm=""
  for _ in $(seq 1 "$secs"); do
    sleep 1
    kill -0 "$pid" 2>/dev/null || break
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$name: training peak RSS ${hwm} kB over ${secs} s"
  python3 - "$dir/data_${name}_warm.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, e = d["seconds"], d["epoch"]
print(f"  load {s['load']:.2f} s, to first batch {s['total']:.2f} s, epoch {e['examples_per_second']:.0f} examples/s, bench peak RSS {d['peak_rss_mib']:.0f} MiB")
PY
done
