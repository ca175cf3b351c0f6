#!/usr/bin/env python3
"""Parity fixtures for the scgenept model crate, computed by the REAL reference code.

The scGenePT forward (docs/reference.md §1.2) is composed from scGPT's own building blocks, imported
from the PyPI `scgpt` package: `GeneEncoder`, `ContinuousValueEncoder`, `ExprDecoder`, the loss
`masked_mse_loss`, and torch's `TransformerEncoderLayer` as scGPT builds it (post-norm, ReLU,
batch_first). The language branches (`GenePTEncoder` / `GOPTEncoder`) and the final LayerNorm are
written here exactly as scGenePT's `models/scGenePT.py` defines them, because scGenePT itself is not
on PyPI.

Small size, random weights, dropout off. Writes, under tests/fixtures/model/:
  config.json               our ModelConfig for this network
  state_dict_torch.pt       torch.save(state_dict) with torch MHA names (in_proj_weight)
  state_dict_flash.pt       the same tensors under flash-attn names (self_attn.Wqkv.*)
  io.safetensors            gene_ids, values, pert_flags, target (inputs), output, loss
  grads.safetensors         d loss / d parameter, every parameter, PyTorch layout
  versions.json             the versions that produced them
  scgpt_whole_human_keys.json
                            key → shape of scgpt's real TransformerModel at the whole-human
                            checkpoint's sizes (args.json), flash names: the names and shapes a
                            real best_model.pt carries, without its 200 MB of weights

`--check-export DIR` loads DIR/model.safetensors (written by `scgenept model import`) into the
reference module with strict load_state_dict and checks its output against io.safetensors; the
result goes to tests/fixtures/model/export_check.json.

Environment: python3 -m venv .venv-fixtures && . .venv-fixtures/bin/activate &&
  pip install torch==2.5.1 "numpy<2" safetensors tqdm && pip install --no-deps scgpt==0.2.4
(`--no-deps`: scgpt's full dependency set pins old torchtext/scanpy; the modules used here import
only torch, numpy and tqdm.)
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import types

import numpy as np
import torch
from torch import nn
from safetensors.torch import save_file, load_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "model"

# Network size (small) and the pieces that make it an scGenePT: two knowledge sources.
VOCAB = 200
PAD_ID = 197  # like 60694: one of the three special tokens at the end of the vocabulary
D_MODEL, NHEAD, D_HID, NLAYERS = 64, 4, 64, 2
PERT_PAD_ID = 2
SOURCES = [  # (name, state prefix, projection key, d_llm)
    ("ncbi_uniprot", "genept_encoder", "proj_layer", 24),
    ("go_c_concat", "gopt_encoder_c", "fc", 16),
]
BATCH, SEQ = 3, 48
SEED = 7


def import_scgpt_modules():
    """Import scgpt.model.model and scgpt.loss without running scgpt/__init__.py, which pulls
    scanpy, torchtext and the rest of the training stack."""
    spec = importlib.util.find_spec("scgpt")
    if spec is None:
        sys.exit("scgpt is not installed: pip install --no-deps scgpt==0.2.4")
    root = pathlib.Path(spec.submodule_search_locations[0])
    pkg = types.ModuleType("scgpt")
    pkg.__path__ = [str(root)]
    sys.modules["scgpt"] = pkg
    sub = types.ModuleType("scgpt.model")
    sub.__path__ = [str(root / "model")]
    sys.modules["scgpt.model"] = sub
    import scgpt.model.model as scgpt_model  # noqa: E402
    import scgpt.loss as scgpt_loss  # noqa: E402
    return scgpt_model, scgpt_loss


SM, SL = import_scgpt_modules()

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_reference import ScGenePTTorch  # noqa: E402


class ScGenePTReference(ScGenePTTorch):
    """The scGenePT forward of docs/reference.md §1.2 (scripts/torch_reference.py) with scGPT's own
    GeneEncoder, ContinuousValueEncoder and ExprDecoder from the scgpt package; the knowledge
    branches (scGenePT's GenePTEncoder / GOPTEncoder: table, `proj_layer` or `fc`, LayerNorm) and
    the final LayerNorm as scGenePT's `models/scGenePT.py` defines them, since scGenePT itself is
    not on PyPI. Dropout 0 for the fixtures; the sizes are parameters."""

    gene_encoder = SM.GeneEncoder
    value_encoder_class = SM.ContinuousValueEncoder
    expr_decoder = SM.ExprDecoder

    def __init__(self, tables, vocab=VOCAB, pad_id=PAD_ID, d_model=D_MODEL, nhead=NHEAD,
                 d_hid=D_HID, nlayers=NLAYERS, dropout=0.0):
        super().__init__(tables, vocab=vocab, pad_id=pad_id, d_model=d_model, nhead=nhead,
                         d_hid=d_hid, nlayers=nlayers, dropout=dropout, pert_pad_id=PERT_PAD_ID)


def our_config():
    return {
        "vocab_size": VOCAB,
        "pad_token_id": PAD_ID,
        "d_model": D_MODEL,
        "nhead": NHEAD,
        "d_hid": D_HID,
        "nlayers": NLAYERS,
        "dropout": 0.0,
        "layer_norm_eps": 1e-5,
        "max_value": 512.0,
        "n_pert_flags": 3,
        "pert_pad_id": PERT_PAD_ID,
        "inputs": {"tokens": True, "counts": True, "pert_flags": True},
        "language_sources": [
            {"name": n, "state_prefix": p, "proj_key": k, "d_llm": d} for n, p, k, d in SOURCES
        ],
        "sum_norm": "layer_norm",
    }


def build():
    torch.manual_seed(SEED)
    rng = np.random.RandomState(SEED)
    # Knowledge tables as scGenePT builds them: float64 uniform(-0.1, 0.1), then known rows.
    tables = []
    for _, _, _, d in SOURCES:
        t = rng.uniform(-0.1, 0.1, (VOCAB, d))
        known = rng.choice(VOCAB, VOCAB // 2, replace=False)
        t[known] = rng.normal(0, 0.05, (len(known), d))
        tables.append(t)
    model = ScGenePTReference(tables)
    # Move LayerNorm affine params and biases off their 1/0 init so a layout slip cannot hide.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    return model


def inputs():
    g = torch.Generator().manual_seed(SEED + 1)
    src = torch.randint(0, VOCAB, (BATCH, SEQ), generator=g)
    src[0, :4] = PAD_ID  # out-of-vocabulary genes share the pad row
    src[2, 10] = PAD_ID
    values = torch.relu(torch.randn(BATCH, SEQ, generator=g) * 1.5)
    values[1, 5] = 600.0  # above the clamp
    flags = (torch.rand(BATCH, SEQ, generator=g) < 0.1).long()
    flags[1, :2] = PERT_PAD_ID  # never in real data; checks the frozen flag row
    target = torch.relu(torch.randn(BATCH, SEQ, generator=g))
    return src, values, flags, target


def main_generate():
    OUT.mkdir(parents=True, exist_ok=True)
    model = build()
    src, values, flags, target = inputs()

    model.eval()
    with torch.no_grad():
        out_eval = model(src, values, flags)

    model.train()  # dropout is 0; train mode takes the non-fast-path kernels used in training
    model.zero_grad()
    out = model(src, values, flags)
    loss = SL.masked_mse_loss(out, target, torch.ones_like(target, dtype=torch.bool))
    loss.backward()
    print(f"forward eval vs train max diff: {(out - out_eval).abs().max().item():.3g}")

    sd = model.state_dict()
    torch.save(sd, OUT / "state_dict_torch.pt")
    flash = {k.replace("self_attn.in_proj_", "self_attn.Wqkv."): v for k, v in sd.items()}
    torch.save(flash, OUT / "state_dict_flash.pt")

    grads = {n: p.grad.detach().float().contiguous() for n, p in model.named_parameters()}
    for prefix in ["encoder", "genept_encoder", "gopt_encoder_c"]:
        assert grads[f"{prefix}.embedding.weight"][PAD_ID].abs().max() == 0, prefix
    assert grads["pert_encoder.weight"][PERT_PAD_ID].abs().max() == 0
    save_file(grads, str(OUT / "grads.safetensors"))

    save_file(
        {
            "gene_ids": src.float(),
            "values": values,
            "pert_flags": flags.float(),
            "target": target,
            "output": out.detach(),
            "loss": loss.detach().reshape(1),
        },
        str(OUT / "io.safetensors"),
    )
    (OUT / "config.json").write_text(json.dumps(our_config(), indent=2) + "\n")
    from importlib.metadata import version

    (OUT / "versions.json").write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "numpy": np.__version__,
                "scgpt": version("scgpt"),
                "seed": SEED,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"loss {loss.item():.6f}; {len(sd)} tensors; fixtures in {OUT}")
    write_whole_human_keys()


def write_whole_human_keys():
    """Key names and shapes of the real scGPT TransformerModel at the whole-human sizes."""
    args = json.loads((OUT.parents[2] / "crates/scgenept-model/assets/scgpt/args.json").read_text())
    with torch.device("meta"):  # shapes only, no memory
        model = SM.TransformerModel(
            ntoken=60697,
            d_model=args["embsize"],
            nhead=args["nheads"],
            d_hid=args["d_hid"],
            nlayers=args["nlayers"],
            nlayers_cls=args["n_layers_cls"],
            vocab={"<pad>": 60694},
            dropout=args["dropout"],
            pad_token="<pad>",
            pad_value=args["pad_value"],
            do_mvc=args["MVC"],
            input_emb_style="continuous",
        )
    # The checkpoint was trained with flash-attn (args.json fast_transformer): Wqkv names.
    keys = {
        k.replace("self_attn.in_proj_", "self_attn.Wqkv."): list(v.shape)
        for k, v in model.state_dict().items()
    }
    (OUT / "scgpt_whole_human_keys.json").write_text(json.dumps(keys, indent=1) + "\n")
    print(f"scgpt TransformerModel (whole-human sizes): {len(keys)} keys")


def main_check_export(bundle: pathlib.Path):
    tensors = load_file(str(bundle / "model.safetensors"))
    model = build()
    # Our export is f32 everywhere; the reference keeps its knowledge tables in f64.
    ref_sd = model.state_dict()
    tensors = {k: v.to(ref_sd[k].dtype) if k in ref_sd else v for k, v in tensors.items()}
    model.load_state_dict(tensors, strict=True)  # raises on any missing or unexpected key
    io = load_file(str(OUT / "io.safetensors"))
    model.eval()
    with torch.no_grad():
        out = model(io["gene_ids"].long(), io["values"], io["pert_flags"].long())
    diff = (out - io["output"]).abs().max().item()
    print(f"torch strict load of {bundle / 'model.safetensors'}: ok; max |out - reference| = {diff:.3g}")
    (OUT / "export_check.json").write_text(
        json.dumps({"strict_load": True, "max_abs_diff_output": diff}, indent=2) + "\n"
    )
    if diff > 1e-5:
        sys.exit(f"exported checkpoint does not reproduce the reference output (diff {diff})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-export", type=pathlib.Path, help="bundle directory to verify with torch")
    args = ap.parse_args()
    if args.check_export:
        main_check_export(args.check_export)
    else:
        main_generate()
