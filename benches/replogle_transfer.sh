#!/usr/bin/env bash
# Issue 32's transfer run at full size on a CPU (benches/README.md, "At Replogle size"): the small
# test network trained on a synthetic K562-size screen and tested on an RPE1-size one, genes
# aligned by symbol, scored with GEARS' metrics and the baselines as every run. Test predictions
# from at most CAP cells of each RPE1 condition (eval.max_cells_per_condition, docs/data.md): every
# cell is a forward pass over all aligned genes (4,451 here), 0.029 s on this 2-core machine, and
# the target has 215k test cells; the truths stay every cell's. One epoch; training samples 128
# genes per cell. The whole run took 15 min (benches/README.md).
# Usage: benches/replogle_transfer.sh [DIR] [CAP]   (needs `cargo build --release` first)
set -euo pipefail
dir=${1:-data/bench_replogle}
cap=${2:-4}
bin=${SCGENEPT:-target/release/scgenept}
mkdir -p "$dir"
for preset in k562:replogle_k562 rpe1:replogle_rpe1; do
  file="$dir/${preset%%:*}_full.h5ad"
  [ -f "$file" ] || "$bin" data synth --preset "${preset##*:}" --seed 0 --out "$file"
done
table="$dir/go_all_concat.safetensors"
[ -f "$table" ] || "$bin" knowledge build --source go_all --mode concat \
  --genes "$dir/k562_full.h5ad" --out "$table"
cat > "$dir/transfer.toml" <<TOML
name = "k562_to_rpe1_go_all"
[data]
path = "k562_full.h5ad"
split_seed = 1
[data.transfer_to]
path = "rpe1_full.h5ad"
[model]
model_type = "scgenept_go_all_gpt_concat"
vocab = "dataset"
d_model = 16
nhead = 2
d_hid = 16
nlayers = 1
[model.knowledge]
go_all_concat = "go_all_concat.safetensors"
[train]
epochs = 1
max_seq_len = 128
[eval]
max_cells_per_condition = $cap
[output]
dir = "$dir/runs"
TOML
/usr/bin/time -v "$bin" train --config "$dir/transfer.toml" --overwrite -v \
  2> >(tee "$dir/transfer.log" >&2)
cat "$dir/runs/k562_to_rpe1_go_all/seed_42/results.csv"
