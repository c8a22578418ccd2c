"""polars group_by/agg, join and sort on 4M rows (its Rayon pool)."""

import hashlib

import numpy as np
import polars as pl

from corpus_pools import pool

rng = np.random.default_rng(0)
n = 4_000_000
df = pl.DataFrame({
    "key": rng.integers(0, 50_000, n),
    "cat": rng.integers(0, 20, n),
    "v": rng.integers(-1000, 1000, n),
})
dim = pl.DataFrame({"cat": np.arange(20), "weight": np.arange(20) * 3 + 1})
g = (
    df.join(dim, on="cat")
    .with_columns((pl.col("v") * pl.col("weight")).alias("w"))
    .group_by("key")
    .agg(pl.col("w").sum(), pl.col("v").min().alias("vmin"), pl.col("v").max().alias("vmax"), pl.len())
    .sort("key")
)
h = hashlib.sha256()
for col in g.columns:
    h.update(g[col].to_numpy().astype(np.int64).tobytes())
print("groups", g.height)
print("total", g["w"].sum())
print("digest", h.hexdigest())
pool("polars", pl.thread_pool_size())
