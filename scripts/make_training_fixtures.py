#!/usr/bin/env python3
"""A whole reference training run, recorded step by step, for tests/training_parity.rs.

The recipe is docs/reference.md §2 written as the reference code runs it, with the REAL pieces:
- the network: scGPT's own modules (PyPI `scgpt` 0.2.4: GeneEncoder, ContinuousValueEncoder,
  ExprDecoder, torch's post-norm TransformerEncoderLayer) composed as scGenePT's `_encode`
  (scripts/make_model_fixtures.py, `ScGenePTReference`), dropout 0;
- the split: GEARS 0.0.2's DataSplitter (simulation, seed 1), loaded by scripts/gears_real.py;
- the examples: GEARS 0.0.2 `create_cell_graph_dataset` (each perturbed cell paired with one
  control drawn by `np.random.randint`, controls paired with themselves, flags 1 at the
  condition's genes, `de_idx` the top 20 of `rank_genes_groups_cov_all`);
- the loaders: torch DataLoader, batch 32, train shuffled with drop_last, val shuffled, test in
  order (GEARS 0.0.2 `get_dataloader`);
- the batch: scGenePT `get_batch_data` (all genes, then `torch.randperm(G)[:max_seq_len]` per
  batch, gather values / flags / targets, map to vocabulary ids with out-of-vocabulary genes on
  `<pad>`);
- the step: `masked_mse_loss` with an all-ones mask, `zero_grad`, `backward`,
  `clip_grad_norm_` (at 0.3 here: see CLIP), `torch.optim.Adam(lr, eps=1e-8)`; `StepLR(step_size=1, gamma=0.9)`
  stepped once per epoch after validation; the best model by validation loss (mean over
  validation batches) kept with `deepcopy`;
- the test: prediction over all genes, then GEARS 0.0.2 `compute_metrics`, `deeper_analysis` and
  `non_dropout_analysis`, for the last model (what scGenePT's train.py tests) and the best one.
On the CPU in float32: the reference's AMP autocast is a CUDA feature (docs/precision.md).

Input: tests/fixtures/training/tiny.h5ad, our synthetic GEARS-format data
(`scgenept data synth --preset tiny --seed 0`), read here with the real anndata.
Writes, under tests/fixtures/training/:
  config.json        our ModelConfig for this network
  vocab.json         the vocabulary row of each dataset gene, vocab size, pad id
  weights.safetensors  initial.*, last.* and best.* state dicts (torch names), and the float64
                     run's float64.last.* and float64.best.*
  batches.safetensors  every batch: cells, controls, genes, gene_ids, values, flags, target
  run.json           settings, split, per-step loss / lr / grad norm, validation losses, best
                     epoch, test metrics and mean predictions of the last and the best model,
                     versions; under "float64" the same record of the float64 run

The recipe runs twice: in float32, as the reference runs on the CPU, and in float64 (the same
code, its three float32 casts made float64: `precision`). The float64 run is the recipe without
rounding; how far the float32 run lands from it is the reference's own rounding noise, the scale
against which our float32 run is judged (docs/training-parity.md).

Environment: the .venv-fixtures venv of scripts/make_model_fixtures.py plus
`pip install anndata scanpy==1.11.5 requests "numpy<2"` and `pip install --no-deps cell-gears==0.0.2`
(gears/data_utils.py imports scanpy and requests); docs/training-parity.md, "Regenerating".
"""

import contextlib
import copy
import json
import pathlib
import sys
from importlib.metadata import version

import anndata
import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import gears_real  # noqa: E402
import make_model_fixtures as mm  # noqa: E402  (scGPT's modules, the scGenePT composition)

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/training"

SEED = 42
EPOCHS = 2
BATCH = 32
MAX_SEQ_LEN = 48  # below the 64 genes, so every batch samples its genes
LR = 1e-4  # the reference default (train.py --lr)
GAMMA = 0.9
# The reference clips at 1.0; this small run's gradient norms are 0.03-0.6, so a lower bound makes some
# steps clip and others not (0.3 here), and both branches of clip_grad_norm_ are compared.
CLIP = 0.3
D_MODEL, NHEAD, D_HID, NLAYERS = 32, 2, 32, 2
N_OOV = 6  # dataset genes missing from the vocabulary: they share <pad>
EXTRA_ROWS = 10  # vocabulary rows no dataset gene uses
NUM_DE = 20


def load():
    adata = anndata.read_h5ad(OUT / "tiny.h5ad")
    adata.obs["condition"] = adata.obs["condition"].astype("category")
    return adata


def gears_split(adata):
    du = gears_real.data_utils()
    splitter = du.DataSplitter(adata.copy(), split_type="simulation")
    split_adata, subgroup = splitter.split_data(
        train_gene_set_size=0.75, combo_seen2_train_frac=0.75, seed=1
    )
    # As GEARS pertdata.prepare_split builds set2conditions.
    s2c = dict(split_adata.obs.groupby("split", observed=True).agg({"condition": lambda x: x}).condition)
    s2c = {k: [str(c) for c in v.unique().tolist()] for k, v in s2c.items()}
    return s2c, subgroup


def vocabulary(n_genes, rs):
    """Dataset gene → vocabulary row, as `map_raw_id_to_vocab_id` sees `gene_ids`: a random row
    per known gene, <pad> for N_OOV genes; three specials at the end like scGPT's."""
    vocab_size = n_genes - N_OOV + EXTRA_ROWS + 3
    pad_id = vocab_size - 3
    rows = rs.permutation(pad_id)[: n_genes - N_OOV]
    ids = np.full(n_genes, pad_id)
    known = np.sort(rs.choice(n_genes, n_genes - N_OOV, replace=False))
    ids[known] = rows
    return ids, vocab_size, pad_id


def cell_graphs(adata, X, rs):
    """GEARS 0.0.2 create_cell_graph_dataset for every condition (num_samples=1)."""
    conds = adata.obs["condition"].astype(str).values
    names = adata.obs["condition_name"].astype(str).values
    gene_names = adata.var["gene_name"].values
    ctrl_rows = np.where(conds == "ctrl")[0]
    de_genes = adata.uns["rank_genes_groups_cov_all"]
    graphs = {}
    for p in adata.obs["condition"].unique():
        p = str(p)
        rows = np.where(conds == p)[0]
        out = []
        if p != "ctrl":
            pert_idx = [int(np.where(g == gene_names)[0][0]) for g in p.split("+") if g != "ctrl"]
            de_idx = np.where(adata.var_names.isin(np.array(de_genes[names[rows[0]]][:NUM_DE])))[0]
            for cell in rows:
                control = ctrl_rows[rs.randint(0, len(ctrl_rows), 1)][0]
                out.append((int(cell), int(control), pert_idx, de_idx, p))
        else:
            for cell in rows:
                out.append((int(cell), int(cell), [], np.array([-1] * NUM_DE), p))
        graphs[p] = out
    return graphs


def tensors(examples, X):
    """The Data objects' x[:, 0] (control), x[:, 1] (flags) and y, stacked for a batch."""
    g = X.shape[1]
    ori = torch.from_numpy(np.stack([X[e[1]] for e in examples]))
    flags = torch.zeros(len(examples), g, dtype=torch.long)
    for r, e in enumerate(examples):
        for j in e[2]:
            flags[r, j] = 1
    target = torch.from_numpy(np.stack([X[e[0]] for e in examples]))
    return ori, flags, target


def get_batch_data(examples, X, gene_ids, max_seq_len):
    """scGenePT get_batch_data with include_zero_gene = "all" (`max_seq_len` None: every gene, as
    its test-time `pred_perturb`)."""
    ori, flags, target = tensors(examples, X)
    g = ori.shape[1]
    input_gene_ids = torch.arange(g, dtype=torch.long)
    if max_seq_len is not None and len(input_gene_ids) > max_seq_len:
        input_gene_ids = torch.randperm(len(input_gene_ids))[:max_seq_len]
    src = torch.from_numpy(gene_ids)[input_gene_ids].repeat(len(examples), 1)
    return {
        "genes": input_gene_ids,
        "src": src,
        "values": ori[:, input_gene_ids],
        "flags": flags[:, input_gene_ids],
        "target": target[:, input_gene_ids],
    }


def loader(examples, batch_size, shuffle, drop_last):
    idx = list(range(len(examples)))
    dl = torch.utils.data.DataLoader(idx, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    return [[examples[i] for i in b.tolist()] for b in dl]


def build_model(vocab_size, pad_id, rs):
    tables = []
    for _, _, _, d in mm.SOURCES:
        t = rs.uniform(-0.1, 0.1, (vocab_size, d))
        # float32-exact, so our float32 tables start from the same numbers as these float64 ones
        tables.append(t.astype(np.float32).astype(np.float64))
    model = mm.ScGenePTReference(tables, vocab=vocab_size, pad_id=pad_id, d_model=D_MODEL,
                                 nhead=NHEAD, d_hid=D_HID, nlayers=NLAYERS, dropout=0.0)
    return model


def our_config(vocab_size, pad_id):
    cfg = mm.our_config()
    cfg.update({"vocab_size": vocab_size, "pad_token_id": pad_id, "d_model": D_MODEL,
                "nhead": NHEAD, "d_hid": D_HID, "nlayers": NLAYERS})
    return cfg


def state(model, prefix):
    return {f"{prefix}.{k}": v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}


def mse(out, b):
    """scGPT's masked_mse_loss with an all-ones mask: the MSE over the batch's cells and genes."""
    return mm.SL.masked_mse_loss(out, b["target"], torch.ones_like(b["target"], dtype=torch.bool))


def record_batch(store, key, examples, b):
    """One batch, every array as float32 (the integers are small, so exact)."""
    f32 = lambda v: torch.as_tensor(v).float().contiguous().clone()  # noqa: E731
    store[f"{key}.cells"] = f32([e[0] for e in examples])
    store[f"{key}.controls"] = f32([e[1] for e in examples])
    store[f"{key}.genes"] = f32(b["genes"])
    store[f"{key}.gene_ids"] = f32(b["src"][0])
    store[f"{key}.values"] = f32(b["values"])
    store[f"{key}.flags"] = f32(b["flags"])
    store[f"{key}.target"] = f32(b["target"])


def train(model, sets, X, gene_ids, store):
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-8)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=GAMMA)
    steps, val_losses = [], []
    best_val, best_epoch, best_model = float("inf"), 0, None
    for epoch in range(1, EPOCHS + 1):
        model.train()
        for i, ex in enumerate(loader(sets["train"], BATCH, shuffle=True, drop_last=True)):
            b = get_batch_data(ex, X, gene_ids, MAX_SEQ_LEN)
            record_batch(store, f"train.{epoch}.{i}", ex, b)
            out = model(b["src"], b["values"], b["flags"])
            loss = mse(out, b)
            model.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            lr = sched.get_last_lr()[0]
            opt.step()
            steps.append({"epoch": epoch, "batch": i + 1, "lr": lr, "loss": loss.item(),
                          "grad_norm": float(norm)})
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for i, ex in enumerate(loader(sets["val"], BATCH, shuffle=True, drop_last=False)):
                b = get_batch_data(ex, X, gene_ids, MAX_SEQ_LEN)
                record_batch(store, f"val.{epoch}.{i}", ex, b)
                out = model(b["src"], b["values"], b["flags"])
                total += mse(out, b).item()
                n += 1
        val = total / n
        val_losses.append(val)
        if val < best_val:
            best_val, best_epoch, best_model = val, epoch, copy.deepcopy(model)
        sched.step()
        print(f"epoch {epoch}: val loss {val:.6f}")
    return steps, val_losses, best_epoch, best_model


def test_metrics(model, adata, test, X, gene_ids, store, tag, batch_size=BATCH):
    """scGenePT eval_perturb (all genes, test loader in order), then GEARS' metrics."""
    model.eval()
    pert_cat, pred, truth, pred_de, truth_de = [], [], [], [], []
    with torch.no_grad():
        for i, ex in enumerate(loader(test, batch_size, shuffle=False, drop_last=False)):
            b = get_batch_data(ex, X, gene_ids, None)
            if tag == "last":
                store[f"test.{i}.cells"] = torch.tensor([e[0] for e in ex], dtype=torch.float32)
                store[f"test.{i}.controls"] = torch.tensor([e[1] for e in ex], dtype=torch.float32)
            out = model(b["src"], b["values"], b["flags"]).double().numpy()
            tgt = b["target"].double().numpy()
            for r, e in enumerate(ex):
                pert_cat.append(e[4])
                pred.append(out[r])
                truth.append(tgt[r])
                pred_de.append(out[r, e[3]])
                truth_de.append(tgt[r, e[3]])
    res = {"pert_cat": np.array(pert_cat), "pred": np.stack(pred), "truth": np.stack(truth),
           "pred_de": np.stack(pred_de), "truth_de": np.stack(truth_de)}
    inf = load_inference()
    overall, per_pert = inf.compute_metrics(res)
    deeper = inf.deeper_analysis(adata, res)
    non_dropout = inf.non_dropout_analysis(adata, res)
    keep_deeper = ["pearson_delta", "pearson_delta_de", "frac_correct_direction_all",
                   "frac_correct_direction_20"]
    keep_nd = ["pearson_delta_top20_de_non_dropout", "pearson_top20_de_non_dropout",
               "mse_top20_de_non_dropout", "frac_correct_direction_top20_non_dropout"]
    per = {p: {**{k: float(v) for k, v in per_pert[p].items()},
               **{k: float(deeper[p][k]) for k in keep_deeper},
               **{k: float(non_dropout[p][k]) for k in keep_nd}}
           for p in per_pert}
    cats = res["pert_cat"]
    means = {p: res["pred"][cats == p].mean(0).tolist() for p in np.unique(cats)}
    return {"overall": {k: float(v) for k, v in overall.items()}, "per_condition": per,
            "pred_means": means}


def load_inference():
    import types
    src = (gears_real.GEARS_DIR / "inference.py").read_text()
    mod = types.ModuleType("gears_inference")
    exec(compile(src, str(gears_real.GEARS_DIR / "inference.py"), "exec"), mod.__dict__)
    return mod


@contextlib.contextmanager
def precision(dtype):
    """The run in `dtype`. scGenePT's code casts to float32 in three places (`.float()` after the
    knowledge lookups and after the embedding sum) and scGPT's loss casts its mask the same way;
    for the float64 run those casts become float64 casts, nothing else changes."""
    if dtype == torch.float32:
        yield
        return
    saved = torch.Tensor.float
    torch.Tensor.float = lambda self: self.double()
    try:
        yield
    finally:
        torch.Tensor.float = saved


def run_recipe(dtype):
    """The whole reference run in `dtype` (inputs and parameters), from `set_seed` on."""
    # train.py set_seed(42): random, numpy and torch
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    adata = load()
    X = adata.X.toarray().astype(np.float32)
    s2c, subgroup = gears_split(adata)
    rs = np.random.RandomState(SEED)
    gene_ids, vocab_size, pad_id = vocabulary(X.shape[1], rs)
    model = build_model(vocab_size, pad_id, rs)
    if dtype == torch.float64:
        model = model.double()  # the float32 run keeps scGenePT's float64 knowledge tables
    weights = state(model, "initial")
    graphs = cell_graphs(adata, X, np.random)  # GEARS draws the pairing from numpy's global RNG
    sets = {k: [e for p in s2c[k] for e in graphs[p]] for k in ["train", "val", "test"]}
    Xd = X.astype(np.float64) if dtype == torch.float64 else X
    batches = {}
    with precision(dtype):
        steps, val_losses, best_epoch, best_model = train(model, sets, Xd, gene_ids, batches)
        metrics = {tag: test_metrics(m, adata, sets["test"], Xd, gene_ids, batches, tag)
                   for tag, m in [("last", model), ("best", best_model)]}
    weights.update(state(model, "last"))
    weights.update(state(best_model, "best"))
    as_str = lambda v: [str(x) for x in v]  # noqa: E731
    record = {
        "split": {k: s2c[k] for k in ["train", "val", "test"]},
        "test_subgroup": {g: as_str(v) for g, v in subgroup["test_subgroup"].items()},
        "steps": steps,
        "clipped_steps": sum(s["grad_norm"] > CLIP for s in steps),
        "val_losses": val_losses,
        "best_epoch": best_epoch,
        "test": metrics,
    }
    return record, weights, batches, (gene_ids, vocab_size, pad_id)


def main():
    run, weights, batches, (gene_ids, vocab_size, pad_id) = run_recipe(torch.float32)
    print("grad norms:", " ".join(f"{s['grad_norm']:.3f}" for s in run["steps"]))
    assert 0 < run["clipped_steps"] < len(run["steps"]), "clipping should engage on some steps only: change CLIP"
    exact, exact_weights, exact_batches, _ = run_recipe(torch.float64)
    for k, v in batches.items():  # the same batches in both runs (the values in their dtype)
        assert torch.equal(v, exact_batches[k].float()), k
    weights.update({f"float64.{k}": v for k, v in exact_weights.items() if not k.startswith("initial.")})
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(OUT / "weights.safetensors"))
    save_file(batches, str(OUT / "batches.safetensors"))
    (OUT / "config.json").write_text(json.dumps(our_config(vocab_size, pad_id), indent=2) + "\n")
    (OUT / "vocab.json").write_text(json.dumps(
        {"ids": gene_ids.tolist(), "vocab_size": vocab_size, "pad_id": pad_id}) + "\n")
    run["settings"] = {"seed": SEED, "epochs": EPOCHS, "batch_size": BATCH, "max_seq_len": MAX_SEQ_LEN,
                       "lr": LR, "lr_gamma": GAMMA, "clip_grad_norm": CLIP, "adam_eps": 1e-8}
    run["float64"] = {k: exact[k] for k in ["steps", "val_losses", "best_epoch", "test"]}
    run["versions"] = {"torch": torch.__version__, "numpy": np.__version__, "scgpt": version("scgpt"),
                       "cell-gears": version("cell-gears"), "anndata": version("anndata")}
    (OUT / "run.json").write_text(json.dumps(run) + "\n")
    steps = run["steps"]
    print(f"{len(steps)} steps ({run['clipped_steps']} clipped), best epoch {run['best_epoch']}, "
          f"test pearson_de (last) {run['test']['last']['overall']['pearson_de']:.6f}")
    print(f"float32 against float64: max relative loss difference "
          f"{max(abs(a['loss'] - b['loss']) / b['loss'] for a, b in zip(steps, exact['steps'])):.2e}, "
          f"max grad-norm difference "
          f"{max(abs(a['grad_norm'] - b['grad_norm']) for a, b in zip(steps, exact['steps'])):.2e}")
    print(f"fixtures in {OUT}")


if __name__ == "__main__":
    main()
