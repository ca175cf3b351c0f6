#!/usr/bin/env bash
# scgenept eval against `cell-eval run` on the same synthetic pair, one after the other on this
# machine: wall time, peak memory (GNU time's max RSS) and the largest difference between their
# results.csv / agg_results.csv. Numbers go to benches/README.md ("eval"), never into a test.
#
#   [SKIP_METRICS=pearson_edistance] benches/eval.sh PYTHON CELLS GENES PERTS [WORK_DIR]
#
# clustering_agreement is compared on its own line: on data whose distances are not exact,
# cell-eval's value depends on its BLAS's rounding (docs/evaluation.md, "Clustering agreement").
#
# PYTHON has cell-eval 0.8.2 installed (python3 -m venv /tmp/ce && /tmp/ce/bin/pip install
# "cell-eval==0.8.2"); the scgenept binary is $SCGENEPT_BIN, else target/debug/scgenept
# (cargo build first).
set -euo pipefail
py=${1:?python with cell-eval}; cells=${2:?cells}; genes=${3:?genes}; perts=${4:?perturbations}
work=${5:-$(mktemp -d)}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SCGENEPT_BIN:-$here/target/debug/scgenept}
[ -x "$bin" ] || { echo "error: $bin is missing; run cargo build first" >&2; exit 1; }
# The pair is made once per (cells, genes, perturbations) and work dir, then reused.
if [ "$(cat "$work/pair.args" 2>/dev/null)" != "$cells $genes $perts" ]; then
  "$py" "$here/benches/make_eval_pair.py" "$cells" "$genes" "$perts" "$work"
  echo "$cells $genes $perts" > "$work/pair.args"
fi
# SKIP_METRICS (comma-separated cell-eval names) is skipped by both tools.
skip=()
[ -n "${SKIP_METRICS:-}" ] && skip=(--skip-metrics "$SKIP_METRICS")
cli="$(dirname "$py")/cell-eval"
# cell-eval gets at most $CE_TIMEOUT seconds (default 1800, the issue's 30 minutes).
timeout "${CE_TIMEOUT:-1800}" /usr/bin/time -f "%e %M" -o "$work/ce.time" "$cli" run -ap "$work/pred.h5ad" -ar "$work/real.h5ad" \
  --pert-col target --control-pert non-targeting --profile full \
  "${skip[@]}" -o "$work/ce" --num-threads "$(nproc)" > "$work/ce.log" 2>&1 \
  || { echo "cell-eval did not finish within ${CE_TIMEOUT:-1800} s (or failed: $work/ce.log)"; exit 1; }
/usr/bin/time -f "%e %M" -o "$work/ours.time" "$bin" eval --pred "$work/pred.h5ad" \
  --real "$work/real.h5ad" --pert-col target --control-pert non-targeting --profile cell-eval \
  --out "$work/ours" "${skip[@]}" > "$work/ours.log" 2>&1
"$py" - "$work" <<'PY'
import csv, sys
work = sys.argv[1]
worst = 0.0
clustering = None
for f in ["results.csv", "agg_results.csv"]:
    load = lambda p: list(csv.reader(open(p)))
    a, b = load(f"{work}/ce/{f}"), load(f"{work}/ours/{f}")
    assert a[0] == b[0] and len(a) == len(b), f"{f}: columns or rows differ"
    for ra, rb in zip(a[1:], b[1:]):
        assert ra[0] == rb[0], f"{f}: row order"
        for name, x, y in zip(a[0][1:], ra[1:], rb[1:]):
            if name == "clustering_agreement":
                clustering = clustering or (x, y)
            elif x == "" or y == "" or "nan" in (x + y).lower():
                assert x.lower() == y.lower(), f"{f}: {ra[0]} {x} vs {y}"
            else:
                worst = max(worst, abs(float(x) - float(y)))
ce = open(f"{work}/ce.time").read().split()
us = open(f"{work}/ours.time").read().split()
print(f"| cell-eval 0.8.2 run, --profile full | {float(ce[0]):.1f} s | {int(ce[1]) / 1024:.0f} MiB |")
print(f"| scgenept eval --profile cell-eval | {float(us[0]):.1f} s | {int(us[1]) / 1024:.0f} MiB |")
print(f"speed-up {float(ce[0]) / float(us[0]):.1f}x; largest difference {worst:.1e}")
if clustering:
    print(f"clustering_agreement: cell-eval {clustering[0]}, ours {clustering[1]}")
PY
