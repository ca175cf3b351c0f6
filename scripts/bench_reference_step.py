#!/usr/bin/env python3
"""Times one forward + backward step of the reference scGenePT composition in PyTorch, for
comparison with `scgenept bench step`. The network is scripts/torch_reference.py (torch modules
only; make_model_fixtures.py checks it equal to the composition from the scgpt package), so this
runs wherever torch does. `--size full` is StepBench::full's shape: d 512, 12 layers, 8 heads, one
1536-wide knowledge table over 60,697 rows (plus the 16-wide GO table of the fixture composition),
dropout 0.2; `--size small` is the parity fixture's network (d 64, 2 layers, 4 heads, vocabulary
200), for dry runs.

    .venv-fixtures/bin/python scripts/bench_reference_step.py --batch 2 --seq-len 1536 --threads 2
    python scripts/bench_reference_step.py --device cuda --batch 64 --amp bf16 --json out.json

--amp bf16|fp16 runs the step under torch.autocast, as scGPT users train (fp16 with a GradScaler);
torch's TransformerEncoderLayer then calls scaled_dot_product_attention, which picks the flash or
memory-efficient kernel. On CUDA, peak memory is the caching allocator's own high-water mark
(torch.cuda.max_memory_allocated / max_memory_reserved), not nvidia-smi.
"""

import argparse
import json
import resource
import time

import numpy as np
import torch

from torch_reference import ScGenePTTorch, full_size

ap = argparse.ArgumentParser()
ap.add_argument("--size", choices=["small", "full"], default="full")
ap.add_argument("--batch", type=int, default=2)
ap.add_argument("--seq-len", type=int, default=1536)
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu")
ap.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
ap.add_argument("--json")
a = ap.parse_args()
cuda = a.device.startswith("cuda")
amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.amp)
# fp16 needs loss scaling; bf16 has f32's exponent range and needs none.
scaler = torch.amp.GradScaler("cuda", enabled=(a.amp == "fp16" and cuda))

torch.set_num_threads(a.threads)
torch.manual_seed(42)
if a.size == "full":
    model, vocab = full_size(dropout=0.2)
else:
    rng = np.random.RandomState(42)
    vocab = 200
    tables = [rng.uniform(-0.1, 0.1, (vocab, 24)), rng.uniform(-0.1, 0.1, (vocab, 16))]
    model = ScGenePTTorch(tables, vocab=vocab, pad_id=197, d_model=64, nhead=4, d_hid=64,
                          nlayers=2, dropout=0.2)
model = model.to(a.device).train()
shape = (a.batch, a.seq_len)
src = torch.randint(0, vocab - 1, shape, device=a.device)
values = torch.rand(shape, device=a.device) * 4
flags = (torch.rand(shape, device=a.device) < 0.01).long()
target = torch.rand(shape, device=a.device) * 4

times = []
if cuda:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
for i in range(1 + a.steps):
    t0 = time.perf_counter()
    model.zero_grad()
    with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=amp_dtype,
                        enabled=amp_dtype is not None):
        out = model(src, values, flags)
    # The loss in f32, as under autocast in scGPT's training loop.
    loss = ((out.float() - target) ** 2).mean()
    scaler.scale(loss).backward()
    if cuda:
        torch.cuda.synchronize()
    if i > 0:
        times.append((time.perf_counter() - t0) * 1e3)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mib = 1024 * 1024
res = {
    "label": f"pytorch-reference-{a.size}",
    "device": a.device,
    "gpu": torch.cuda.get_device_name() if cuda else None,
    "amp": a.amp,
    "torch": torch.__version__,
    "threads": a.threads,
    "batch": a.batch,
    "seq_len": a.seq_len,
    "ms_per_step_mean": sum(times) / len(times),
    "ms_per_step_min": min(times),
    "peak_rss_mib": peak,
    "cells_per_s": a.batch / (sum(times) / len(times) / 1e3),
    "device_peak_allocated_mib": torch.cuda.max_memory_allocated() / mib if cuda else None,
    "device_peak_reserved_mib": torch.cuda.max_memory_reserved() / mib if cuda else None,
}
print(json.dumps(res))
if a.json:
    open(a.json, "w").write(json.dumps(res, indent=2) + "\n")
