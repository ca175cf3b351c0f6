#!/usr/bin/env bash
# Regenerates tests/fixtures/h5ad/ and tests/fixtures/split/ with the real Python tools:
# anndata 0.7.8, 0.8.0 and 0.12.19 (each in its own venv, pinned), scanpy 1.11.5 and the real
# GEARS 0.0.2 (`cell-gears==0.0.2`, installed --no-deps; scripts/gears_real.py loads its functions
# without torch). Needs the Python package registry once; CI only reads the committed fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
venv() { # name, packages...
  local dir=".venv-$1"; shift
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@"
  fi
}
venv ad07 anndata==0.7.8 numpy==1.23.5 pandas==1.5.3 h5py==3.8.0 scipy==1.10.1 "xlrd<2" natsort packaging
venv ad08 anndata==0.8.0 numpy==1.23.5 pandas==1.5.3 h5py==3.8.0 scipy==1.10.1 natsort packaging
venv ad12 anndata==0.12.19 scanpy==1.11.5 requests
.venv-ad12/bin/pip install -q --no-deps cell-gears==0.0.2

.venv-ad12/bin/python scripts/make_h5ad_fixtures.py de
for v in ad12 ad08 ad07; do
  ".venv-$v/bin/python" scripts/make_h5ad_fixtures.py write
done
.venv-ad12/bin/python scripts/make_split_fixtures.py

# What the real anndata (0.12, and 0.9 with pandas 1.5) reads from our synthetic writer's output.
venv ad09 anndata==0.9.2 numpy==1.23.5 pandas==1.5.3 h5py==3.8.0 scipy==1.10.1
cargo run -q -p scgenept-cli -- data synth --preset tiny --seed 0 --out target/synth_tiny_seed0.h5ad
.venv-ad12/bin/python scripts/check_synth_with_anndata.py target/synth_tiny_seed0.h5ad tests/fixtures/h5ad/synth_tiny_anndata012.json
.venv-ad09/bin/python scripts/check_synth_with_anndata.py target/synth_tiny_seed0.h5ad tests/fixtures/h5ad/synth_tiny_anndata09.json
