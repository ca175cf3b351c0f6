#!/usr/bin/env python3
"""The reference scGenePT network from torch modules alone: no scgpt package needed.

scGPT 0.2.4's `GeneEncoder`, `ContinuousValueEncoder` and `ExprDecoder` are small compositions of
torch modules; they are written out here with scGPT's attribute names (so state dicts load
strictly either way), and the rest of the network is the composition of docs/reference.md §1.2
that scripts/make_model_fixtures.py builds. `make_model_fixtures.py` checks that this module and
the one built from the scgpt package give the same output on the fixture's weights and inputs
(`torch_only_max_abs_diff` in tests/fixtures/model/versions.json), so a GPU machine without scgpt
(benches/gpu.sh) times the same network.

Imports torch and numpy only.
"""

import numpy as np
import torch
from torch import nn


class GeneEncoder(nn.Module):
    """scgpt.model.model.GeneEncoder: Embedding(padding_idx) → LayerNorm."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)
        self.enc_norm = nn.LayerNorm(embedding_dim)

    def forward(self, x):
        return self.enc_norm(self.embedding(x))


class ContinuousValueEncoder(nn.Module):
    """scgpt.model.model.ContinuousValueEncoder: clamp(max) → Linear(1, d) → ReLU → Linear(d, d)
    → LayerNorm → Dropout."""

    def __init__(self, d_model, dropout=0.1, max_value=512):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.linear1 = nn.Linear(1, d_model)
        self.activation = nn.ReLU()
        self.linear2 = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.max_value = max_value

    def forward(self, x):
        x = x.unsqueeze(-1)
        x = torch.clamp(x, max=self.max_value)
        x = self.activation(self.linear1(x))
        x = self.linear2(x)
        x = self.norm(x)
        return self.dropout(x)


class ExprDecoder(nn.Module):
    """scgpt.model.model.ExprDecoder without explicit zero probabilities or batch labels."""

    def __init__(self, d_model):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.LeakyReLU(),
            nn.Linear(d_model, d_model),
            nn.LeakyReLU(),
            nn.Linear(d_model, 1),
        )

    def forward(self, x):
        return dict(pred=self.fc(x).squeeze(-1))


class KnowledgeEncoder(nn.Module):
    """scGenePT's GenePTEncoder (`proj_layer`) / GOPTEncoder (`fc`): table → Linear → LayerNorm."""

    def __init__(self, table, d_model, padding_idx, proj_name):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(
            torch.from_numpy(np.asarray(table)), freeze=False, padding_idx=padding_idx
        )
        self.proj_name = proj_name
        setattr(self, proj_name, nn.Linear(table.shape[1], d_model))
        self.enc_norm = nn.LayerNorm(d_model)

    def forward(self, x):
        proj = getattr(self, self.proj_name)
        return self.enc_norm(proj(self.embedding(x).float()))


class ScGenePTTorch(nn.Module):
    """docs/reference.md §1.2 with two knowledge branches (`genept_encoder`, `gopt_encoder_c`),
    post-norm torch TransformerEncoderLayers; the same names and order as
    make_model_fixtures.ScGenePTReference."""

    # scGPT's three modules; make_model_fixtures.ScGenePTReference swaps in the scgpt package's.
    gene_encoder = GeneEncoder
    value_encoder_class = ContinuousValueEncoder
    expr_decoder = ExprDecoder

    def __init__(self, tables, vocab, pad_id, d_model, nhead, d_hid, nlayers, dropout=0.0,
                 pert_pad_id=2):
        super().__init__()
        self.encoder = self.gene_encoder(vocab, d_model, padding_idx=pad_id)
        self.value_encoder = self.value_encoder_class(d_model, dropout)
        self.genept_encoder = KnowledgeEncoder(tables[0], d_model, pad_id, "proj_layer")
        self.gopt_encoder_c = KnowledgeEncoder(tables[1], d_model, pad_id, "fc")
        self.pert_encoder = nn.Embedding(3, d_model, padding_idx=pert_pad_id)
        self.ln = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.decoder = self.expr_decoder(d_model)
        # scGPT TransformerGenerator.init_weights
        self.encoder.embedding.weight.data.uniform_(-0.1, 0.1)

    def forward(self, src, values, flags):
        embs = [
            self.encoder(src),
            self.value_encoder(values),
            self.genept_encoder(src),
            self.gopt_encoder_c(src),
            self.pert_encoder(flags),
        ]
        total = embs[0]
        for e in embs[1:]:
            total = total + e
        total = self.ln(total.float())
        mask = torch.zeros_like(src, dtype=torch.bool)
        out = self.transformer_encoder(total, src_key_padding_mask=mask)
        return self.decoder(out)["pred"]


def full_size(dropout=0.2, seed=42):
    """StepBench::full's network: d 512, 12 layers, 8 heads, d_hid 512, a 60,697 × 1536 table plus
    the fixture composition's 16-wide GO table."""
    rng = np.random.RandomState(seed)
    vocab, pad = 60697, 60694
    tables = [rng.uniform(-0.1, 0.1, (vocab, 1536)), rng.uniform(-0.1, 0.1, (vocab, 16))]
    model = ScGenePTTorch(tables, vocab=vocab, pad_id=pad, d_model=512, nhead=8, d_hid=512,
                          nlayers=12, dropout=dropout)
    return model, vocab
