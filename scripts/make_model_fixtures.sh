#!/usr/bin/env bash
# Regenerates tests/fixtures/model/ with the real reference code (PyPI scgpt + torch), then has
# torch load our exporter's output strictly and check it reproduces the reference forward.
# Needs network access to the Python package registry once (for the venv); CI only reads the
# committed fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-fixtures}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.5.1 "numpy<2" safetensors tqdm
  "$VENV/bin/pip" install -q --no-deps scgpt==0.2.4
fi
"$VENV/bin/python" scripts/make_model_fixtures.py
cargo run -q -p scgenept-cli -- model import \
  --checkpoint tests/fixtures/model/state_dict_torch.pt \
  --config tests/fixtures/model/config.json \
  --out tests/fixtures/model/exported
"$VENV/bin/python" scripts/make_model_fixtures.py --check-export tests/fixtures/model/exported
