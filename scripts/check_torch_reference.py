#!/usr/bin/env python3
"""Checks that scripts/torch_reference.py (torch modules only) is the network the model-parity
fixture was made with (scripts/make_model_fixtures.py, from the scgpt package): the fixture's
state dict loads strictly and the output on the fixture's inputs matches `output` in
tests/fixtures/model/io.safetensors.

    python3 scripts/check_torch_reference.py      # prints the largest difference; exit 1 above 1e-5

Needs torch, numpy and safetensors (not scgpt). benches/gpu.sh runs it before timing the
PyTorch reference, so a GPU slot's PyTorch numbers are known to be of the same network.
"""

import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from torch_reference import ScGenePTTorch

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "model"


def main():
    sd = torch.load(FIXTURES / "state_dict_torch.pt", map_location="cpu", weights_only=True)
    io = load_file(str(FIXTURES / "io.safetensors"))
    tables = [
        np.zeros(tuple(sd[f"{p}.embedding.weight"].shape))
        for p in ("genept_encoder", "gopt_encoder_c")
    ]
    vocab, d_model = sd["encoder.embedding.weight"].shape
    nlayers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer_encoder."))
    d_hid = sd["transformer_encoder.layers.0.linear1.weight"].shape[0]
    model = ScGenePTTorch(tables, vocab=vocab, pad_id=197, d_model=d_model, nhead=4,
                          d_hid=d_hid, nlayers=nlayers, dropout=0.0)
    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        out = model(io["gene_ids"].long(), io["values"], io["pert_flags"].long())
    diff = (out - io["output"]).abs().max().item()
    print(f"torch-only reference vs the scgpt-package fixture: largest difference {diff:.3g}")
    sys.exit(0 if diff <= 1e-5 else 1)


if __name__ == "__main__":
    main()
