#!/usr/bin/env python3
"""Pickled gene-embedding files as GenePT / scGenePT distribute them (dict[str, numpy.ndarray]),
written by the real pickle + numpy, for tests/knowledge_pickle.rs.

    .venv-fixtures/bin/python scripts/make_knowledge_fixtures.py

Writes tests/fixtures/knowledge/: embeddings_p{2,4,5}.pkl (same dict, three protocols; float64,
float32, big-endian float64, float16 and [1, d]-shaped arrays), embeddings_lists.pkl (values as
lists of floats), embeddings.csv, embeddings_f{8,4}.npy + embeddings_genes.txt, not_a_dict.pkl,
strings.pkl (dict of str → str), pandas_*.csv/.tsv/.txt (DataFrame.to_csv layouts), expected.json
(the vectors as float32 values) and versions.json.

    python3 -m venv .venv-fixtures && .venv-fixtures/bin/pip install numpy==1.26.4 pandas
"""

import json
import pathlib
import pickle

import numpy as np
import pandas as pd

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "knowledge"
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.RandomState(3)
d = 6
emb = {
    "FOSB": rng.normal(size=d),                          # float64
    "CEBPB": rng.normal(size=d).astype(np.float32),      # float32
    "KLF1": rng.normal(size=d).astype(">f8"),            # big-endian float64
    "SET": rng.normal(size=d).astype(np.float16),        # float16
    "PTPN12": rng.normal(size=(1, d)),                   # [1, d]
    "ZBTB10": np.asfortranarray(rng.normal(size=d)),
}
for proto in (2, 4, 5):
    (OUT / f"embeddings_p{proto}.pkl").write_bytes(pickle.dumps(emb, protocol=proto))
lists = {k: [float(x) for x in np.asarray(v, dtype=np.float64).ravel()] for k, v in emb.items()}
(OUT / "embeddings_lists.pkl").write_bytes(pickle.dumps(lists, protocol=4))
(OUT / "not_a_dict.pkl").write_bytes(pickle.dumps([1.0, 2.0], protocol=4))
(OUT / "strings.pkl").write_bytes(pickle.dumps({"FOSB": "text"}, protocol=4))
expected = {k: [float(x) for x in np.asarray(v).astype(np.float32).ravel()] for k, v in emb.items()}
# The same table as CSV (with header) and as .npy + gene list (float64 and float32).
order = list(emb)
matrix = np.stack([np.asarray(emb[g], dtype=np.float64).ravel() for g in order])
with open(OUT / "embeddings.csv", "w") as f:
    f.write("symbol," + ",".join(f"v{i}" for i in range(d)) + "\n")
    for g, row in zip(order, matrix):
        f.write(g + "," + ",".join(repr(float(np.float32(x))) for x in row) + "\n")
np.save(OUT / "embeddings_f8.npy", matrix)
np.save(OUT / "embeddings_f4.npy", matrix.astype(np.float32))
(OUT / "embeddings_genes.txt").write_text("\n".join(order) + "\n")
# The layouts pandas users have, written by pandas itself: genes as the index (header row with an
# empty first cell), the same tab-separated, a named index, a RangeIndex before a gene column, and
# no header at all.
df = pd.DataFrame(matrix.astype(np.float32), index=order)
df.to_csv(OUT / "pandas_index.csv")
df.to_csv(OUT / "pandas_index.tsv", sep="\t")
df.rename_axis("gene").to_csv(OUT / "pandas_named_index.csv")
df.rename_axis("gene").reset_index().to_csv(OUT / "pandas_range_index.csv")
df.to_csv(OUT / "pandas_no_header.csv", header=False)
df.to_csv(OUT / "pandas_no_header.txt", header=False, sep="\t")
(OUT / "expected.json").write_text(json.dumps({"order": list(emb), "vectors": expected}, indent=1) + "\n")
(OUT / "versions.json").write_text(json.dumps({"numpy": np.__version__, "pandas": pd.__version__}) + "\n")
print(f"wrote {OUT}")
