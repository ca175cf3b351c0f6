#!/usr/bin/env bash
# Regenerates tests/fixtures/systema/: our synthetic GEARS-format data (tiny preset, seed 3), GEARS'
# simulation split of it (seed 1), predicted cells for its test perturbations, and what Systema's
# own evaluation code (mlbio-epfl/systema at the commit pinned in make_systema_fixtures.py) scores
# on them. Usage: scripts/make_systema_fixtures.sh /path/to/systema-checkout [python]
# The python needs numpy, scipy, pandas, anndata, scanpy and scikit-learn (a cell-eval 0.8.2 venv:
# `python3 -m venv /tmp/ce && /tmp/ce/bin/pip install "cell-eval==0.8.2"`).
set -euo pipefail
cd "$(dirname "$0")/.."
systema=${1:?usage: $0 /path/to/systema-checkout [python]}
python=${2:-python3}
out=tests/fixtures/systema
mkdir -p "$out"
cargo run -q -p scgenept-cli -- data synth --preset tiny --seed 3 --no-counts --out "$out/real.h5ad"
cargo run -q -p scgenept-cli -- data split --data "$out/real.h5ad" --seed 1 --out "$out/split.json"
"$python" scripts/make_systema_fixtures.py "$systema"
