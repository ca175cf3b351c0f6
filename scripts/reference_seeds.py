#!/usr/bin/env python3
"""The reference's training run, seed by seed, at a run config's sizes, with dropout on: the
other half of the seeded comparison in docs/training-parity.md (scripts/compare_seeds.sh runs
both halves).

The recipe is scripts/make_training_fixtures.py's (scGPT's modules, GEARS 0.0.2's split,
pairing, loaders and metrics, torch's Adam, StepLR and clipping), run as scGenePT's train.py runs
it: `set_seed(seed)`, train mode with dropout, validation loss each epoch, the best model by
validation loss, and the test metrics of the model train.py tests (the last one; with one epoch it
is also the best). The network is the config's `model_type`; supported: `scgpt` (scGenePT's
model with no knowledge branch: tokens + counts + flags, summed, LayerNorm) — the arm whose
inputs need no knowledge tables.

Usage: python scripts/reference_seeds.py --config configs/demo_scgpt.toml --seeds 42 23 89 30 12
  --out benches/results/seeds_reference_demo.json
Environment: the .venv-fixtures venv (see scripts/make_training_fixtures.py).
"""

import argparse
import copy
import json
import pathlib
import sys
import time
import tomllib

import anndata
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import make_training_fixtures as F  # noqa: E402  (the recipe's pieces)

SM = F.mm.SM


class ScGenePTScGPTArm(nn.Module):
    """scGenePT's model with model_type "scgpt": token, count and flag embeddings, summed, cast,
    LayerNorm; post-norm torch encoder layers; ExprDecoder (docs/reference.md §1.2)."""

    def __init__(self, vocab, pad_id, d_model, nhead, d_hid, nlayers, dropout):
        super().__init__()
        self.encoder = SM.GeneEncoder(vocab, d_model, padding_idx=pad_id)
        self.value_encoder = SM.ContinuousValueEncoder(d_model, dropout)
        self.pert_encoder = nn.Embedding(3, d_model, padding_idx=2)
        self.ln = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.decoder = SM.ExprDecoder(d_model)
        self.encoder.embedding.weight.data.uniform_(-0.1, 0.1)  # TransformerGenerator.init_weights

    def forward(self, src, values, flags):
        total = self.encoder(src) + self.value_encoder(values) + self.pert_encoder(flags)
        total = self.ln(total.float())
        mask = torch.zeros_like(src, dtype=torch.bool)
        return self.decoder(self.transformer_encoder(total, src_key_padding_mask=mask))["pred"]


def run_seed(cfg, adata, X, seed, pairing_per_seed=False):
    t, m = cfg["train"], cfg["model"]
    np.random.seed(seed)
    torch.manual_seed(seed)
    started = time.time()
    s2c, _ = F.gears_split(adata)  # reseeds numpy with the split seed (1), as GEARS does
    if pairing_per_seed:
        np.random.seed(seed)
    graphs = F.cell_graphs(adata, X, np.random)
    sets = {k: [e for p in s2c[k] for e in graphs[p]] for k in ["train", "val", "test"]}
    g = X.shape[1]
    gene_ids = np.arange(g)  # vocab = "dataset": gene i is row i, <pad> after them
    model = ScGenePTScGPTArm(g + 1, g, m["d_model"], m["nhead"], m["d_hid"], m["nlayers"], m["dropout"])
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"], eps=1e-8)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=t.get("lr_gamma", 0.9))
    best_val, best_model, patience, val_losses = float("inf"), None, 0, []
    for epoch in range(1, t["epochs"] + 1):
        model.train()
        for ex in F.loader(sets["train"], t["batch_size"], shuffle=True, drop_last=True):
            b = F.get_batch_data(ex, X, gene_ids, t["max_seq_len"])
            loss = F.mse(model(b["src"], b["values"], b["flags"]), b)
            model.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.get("clip_grad_norm", 1.0))
            opt.step()
        model.eval()
        with torch.no_grad():
            vl = []
            for ex in F.loader(sets["val"], t["batch_size"], shuffle=True, drop_last=False):
                b = F.get_batch_data(ex, X, gene_ids, t["max_seq_len"])
                vl.append(F.mse(model(b["src"], b["values"], b["flags"]), b).item())
        val = sum(vl) / len(vl)
        val_losses.append(val)
        if val < best_val:
            best_val, best_model, patience = val, copy.deepcopy(model), 0
        else:
            patience += 1
            if patience >= t.get("early_stop", 10):
                break
        sched.step()
    metrics = F.test_metrics(model, adata, sets["test"], X, gene_ids, {}, "best", t["batch_size"])
    per = metrics["per_condition"]
    return {
        "seed": seed,
        "val_losses": val_losses,
        "best_val_loss": best_val,
        "test_pearson_delta_de": float(np.mean([v["pearson_delta_de"] for v in per.values()])),
        "test_pearson_delta": float(np.mean([v["pearson_delta"] for v in per.values()])),
        "test_conditions": len(per),
        "seconds": time.time() - started,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, type=pathlib.Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 23, 89, 30, 12])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--pairing-per-seed", action="store_true",
                    help="draw the control pairing from each seed (GEARS caches one pairing: without this flag every seed "
                         "gets the pairing drawn after the split's reseeding, the same for all)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = tomllib.loads(a.config.read_text())
    if cfg["model"]["model_type"] != "scgpt":
        sys.exit(f"{a.config}: model_type {cfg['model']['model_type']!r}: only 'scgpt' is supported here")
    data = (a.config.parent / cfg["data"]["path"]).resolve()
    adata = anndata.read_h5ad(data)
    adata.obs["condition"] = adata.obs["condition"].astype("category")
    X = adata.X.toarray().astype(np.float32)
    runs = []
    for seed in a.seeds:
        r = run_seed(cfg, adata, X, seed, a.pairing_per_seed)
        print(f"seed {seed}: val loss {r['best_val_loss']:.5f}, test pearson_delta_de "
              f"{r['test_pearson_delta_de']:.4f} ({r['seconds']:.1f} s)", flush=True)
        runs.append(r)
    from importlib.metadata import version
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "config": str(a.config), "data": str(data), "pairing_per_seed": a.pairing_per_seed, "runs": runs,
        "versions": {"torch": torch.__version__, "scgpt": version("scgpt"),
                     "cell-gears": version("cell-gears")},
    }, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
