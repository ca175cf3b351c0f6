#!/usr/bin/env python3
"""Times inference of the reference scGenePT composition (scripts/torch_reference.py, torch modules
only, checked equal to the scgpt package's composition by make_model_fixtures.py) in PyTorch, for comparison with `scgenept bench predict` on the same
shape: eval mode, torch.no_grad(), every gene predicted, `--perturbations × --pool-size` cells in
batches of `--batch`.

    .venv-fixtures/bin/python scripts/bench_reference_predict.py --size demo --threads 2
    python scripts/bench_reference_predict.py --size full --genes 5045 --device cuda --amp bf16

Attention: `--attention sdpa` (default) turns off TransformerEncoderLayer's eval "fast path", so
each layer's MultiheadAttention calls scaled_dot_product_attention (flash or memory-efficient
kernels on CUDA, the fused flash kernel on the CPU); `fastpath` keeps torch's native
encoder-layer kernel, which on the CPU materialises the scores and runs `_masked_softmax` (2× slower
at the demo size on 2 cores). --amp bf16|fp16 adds torch.autocast.
"""

import argparse
import json
import resource
import time

import numpy as np
import torch

from torch_reference import ScGenePTTorch

ap = argparse.ArgumentParser()
ap.add_argument("--size", choices=["demo", "full"], default="demo")
ap.add_argument("--genes", type=int)
ap.add_argument("--perturbations", type=int, default=4)
ap.add_argument("--pool-size", type=int, default=300)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu")
ap.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
ap.add_argument("--attention", choices=["sdpa", "fastpath"], default="sdpa")
ap.add_argument("--json")
a = ap.parse_args()
cuda = a.device.startswith("cuda")
amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.amp)

torch.set_num_threads(a.threads)
torch.backends.mha.set_fastpath_enabled(a.attention == "fastpath")
torch.manual_seed(42)
rng = np.random.RandomState(42)
if a.size == "demo":
    genes = a.genes or 384
    vocab, width, dims = genes + 1, 384, dict(d_model=64, nhead=4, d_hid=64, nlayers=2)
else:
    genes = a.genes or 5045
    vocab, width, dims = 60697, 1536, dict(d_model=512, nhead=8, d_hid=512, nlayers=12)
pad = vocab - 1
tables = [rng.uniform(-0.1, 0.1, (vocab, width)), rng.uniform(-0.1, 0.1, (vocab, 16))]
model = ScGenePTTorch(tables, vocab=vocab, pad_id=pad, dropout=0.0, **dims).to(a.device).eval()

# Genes spread over the vocabulary, 64 control cells (60% zeros), two genes flagged.
ids = torch.tensor([i * (vocab - 1) // genes for i in range(genes)], device=a.device)
controls = torch.from_numpy(
    np.where(rng.rand(64, genes) < 0.6, 0.0, rng.uniform(0, 4, (64, genes))).astype(np.float32)
).to(a.device)
cells = a.perturbations * a.pool_size
picks = torch.from_numpy(rng.randint(0, 64, cells)).to(a.device)
flags_row = torch.zeros(genes, dtype=torch.long, device=a.device)
flags_row[:2] = 1


def run(n):
    out = []
    for start in range(0, n, a.batch):
        rows = picks[start:min(n, start + a.batch)]
        b = len(rows)
        with torch.no_grad(), torch.autocast(device_type="cuda" if cuda else "cpu",
                                             dtype=amp_dtype, enabled=amp_dtype is not None):
            pred = model(ids.expand(b, genes), controls[rows], flags_row.expand(b, genes))
        out.append(pred.float().mean(0).cpu())
    return out


run(min(a.batch, cells))  # warm-up
if cuda:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
run(cells)
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - t0
mib = 1024 * 1024
res = {
    "label": f"pytorch-reference-{a.size}",
    "device": a.device,
    "gpu": torch.cuda.get_device_name() if cuda else None,
    "amp": a.amp,
    "attention": a.attention,
    "torch": torch.__version__,
    "threads": a.threads,
    "genes": genes,
    "cells": cells,
    "batch": a.batch,
    "seconds": seconds,
    "cells_per_s": cells / seconds,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "device_peak_allocated_mib": torch.cuda.max_memory_allocated() / mib if cuda else None,
    "device_peak_reserved_mib": torch.cuda.max_memory_reserved() / mib if cuda else None,
}
print(json.dumps(res))
if a.json:
    open(a.json, "w").write(json.dumps(res, indent=2) + "\n")
