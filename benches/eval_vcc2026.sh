#!/usr/bin/env bash
# scgenept eval --profile vcc2026 against cell-eval2 0.20.0's whole competition pipeline on the
# same synthetic pair of counts, one after the other on this machine: `run --preset vcc2026`,
# `baseline`, `prep-real-bundle` and `score --real-bundle` (their wall times summed, the largest
# peak memory), then ours (one command); and the largest difference between the two scored.csv.
# Numbers go to benches/README.md ("eval_vcc2026.sh"), never into a test.
#
#   benches/eval_vcc2026.sh PYTHON CELLS GENES PERTS [WORK_DIR]
#
# PYTHON has cell-eval2 0.20.0 installed (python3 -m venv /tmp/ce2 && /tmp/ce2/bin/pip install
# "cell-eval2==0.20.0"); the scgenept binary is $SCGENEPT_BIN, else target/debug/scgenept.
set -euo pipefail
py=${1:?python with cell-eval2}; cells=${2:?cells}; genes=${3:?genes}; perts=${4:?perturbations}
work=${5:-$(mktemp -d)}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SCGENEPT_BIN:-$here/target/debug/scgenept}
[ -x "$bin" ] || { echo "error: $bin is missing; run cargo build first" >&2; exit 1; }
if [ "$(cat "$work/pair.args" 2>/dev/null)" != "$cells $genes $perts" ]; then
  "$py" "$here/benches/make_vcc2026_pair.py" "$cells" "$genes" "$perts" "$work"
  echo "$cells $genes $perts" > "$work/pair.args"
fi
cli="$(dirname "$py")/cell-eval2"
rm -rf "$work/ce" && mkdir -p "$work/ce"
step() {  # NAME ARGS...: one cell-eval2 command, timed
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/ce/$name.time" "$cli" "$@" > "$work/ce/$name.log" 2>&1 \
    || { echo "cell-eval2 $name failed: $work/ce/$name.log" >&2; exit 1; }
}
step run run -ap "$work/pred.h5ad" -ar "$work/real.h5ad" --preset vcc2026 -o "$work/ce/run"
step baseline baseline -ar "$work/real.h5ad" --preset vcc2026 -o "$work/ce/base" \
  --save-pred "$work/ce/base.h5ad"
step bundle prep-real-bundle --real "$work/real.h5ad" --baseline "$work/ce/base.h5ad" \
  --preset vcc2026 -o "$work/ce/bundle"
step score score --user-agg "$work/ce/run/agg_results.csv" --real-bundle "$work/ce/bundle" \
  -o "$work/ce/scored.csv"
rm -rf "$work/ours"
/usr/bin/time -f "%e %M" -o "$work/ours.time" "$bin" eval --pred "$work/pred.h5ad" \
  --real "$work/real.h5ad" --pert-col target --control-pert non-targeting --profile vcc2026 \
  --out "$work/ours" > "$work/ours.log" 2>&1
"$py" - "$work" <<'PY'
import csv, sys
work = sys.argv[1]
times = [open(f"{work}/ce/{s}.time").read().split() for s in ("run", "baseline", "bundle", "score")]
ce_wall, ce_mem = sum(float(t[0]) for t in times), max(int(t[1]) for t in times)
load = lambda p: {r["metric"]: r for r in csv.DictReader(open(p))}
a, b = load(f"{work}/ce/scored.csv"), load(f"{work}/ours/scored.csv")
worst = max(abs(float(a[m]["from_replicate"]) - float(b[m]["from_replicate"])) for m in a)
us = open(f"{work}/ours.time").read().split()
steps = ", ".join(f"{s} {float(t[0]):.1f} s" for s, t in zip(("run", "baseline", "bundle", "score"), times))
print(f"| cell-eval2 0.20.0 ({steps}) | {ce_wall:.1f} s | {ce_mem / 1024:.0f} MiB |")
print(f"| scgenept eval --profile vcc2026 | {float(us[0]):.1f} s | {int(us[1]) / 1024:.0f} MiB |")
print(f"speed-up {ce_wall / float(us[0]):.1f}x; avg_score cell-eval2 {a['avg_score']['from_replicate']}, "
      f"ours {b['avg_score']['from_replicate']}; largest difference in scored.csv {worst:.1e}")
PY
