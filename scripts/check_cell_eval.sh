#!/usr/bin/env bash
# Scores `scgenept predict --per-cell` output with the real cell-eval (PyPI `cell-eval==0.8.2`),
# end to end on the tiny synthetic dataset: train → export → predict the test conditions per cell →
# cell-eval against the real cells of those conditions. Needs the Python package registry once
# (cell-eval goes into .venv-celleval); not part of CI, whose tests check the same layout contract
# (tests/cli.rs: predict_per_cell_is_the_cell_eval_layout).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-celleval/bin/cell-eval ]; then
  python3 -m venv .venv-celleval
  .venv-celleval/bin/pip install -q cell-eval==0.8.2
fi
work=target/cell_eval_check
rm -rf "$work" && mkdir -p "$work"
cat > "$work/tiny.toml" <<TOML
name = "cell_eval_tiny"
[data]
path = "tiny.h5ad"
synth_preset_if_missing = "tiny"
[model]
model_type = "scgenept_random"
vocab = "dataset"
d_llm = 8
d_model = 16
nhead = 2
d_hid = 16
nlayers = 1
[train]
epochs = 2
batch_size = 8
max_seq_len = 32
lr = 1e-3
[output]
dir = "$PWD/$work/runs"
TOML
bin=target/debug/scgenept
cargo build -q -p scgenept-cli
"$bin" train --config "$work/tiny.toml"
"$bin" export --run "$work/runs/cell_eval_tiny/seed_42" --out "$work/bundle"
perts=$(.venv-celleval/bin/python -c "
import anndata as ad, sys
p = ad.read_h5ad(sys.argv[1])
print(','.join(p.obs['condition'].astype(str)))" "$work/runs/cell_eval_tiny/seed_42/predictions.h5ad")
"$bin" predict --checkpoint "$work/bundle" --perturbations "$perts" --pool-size 50 \
  --controls "$work/tiny.h5ad" --per-cell --out "$work/pred.h5ad"
.venv-celleval/bin/python scripts/check_cell_eval.py "$work/tiny.h5ad" "$work/pred.h5ad" "$work/eval"
