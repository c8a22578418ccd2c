"""pandas groupby/agg, merge and rolling windows on 2M rows."""

import hashlib

import numpy as np
import pandas as pd

from corpus_pools import threadpools

rng = np.random.default_rng(0)
n = 2_000_000
df = pd.DataFrame({
    "key": rng.integers(0, 20_000, n),
    "cat": rng.integers(0, 50, n),
    "v": rng.standard_normal(n),
})
dim = pd.DataFrame({"cat": np.arange(50), "weight": np.linspace(0.5, 2.0, 50)})
m = df.merge(dim, on="cat", how="left")
m["w"] = m["v"] * m["weight"]
g = m.groupby("key").agg(w=("w", "sum"), v=("v", "mean"), n=("v", "size")).sort_index()
roll = m["w"].rolling(1000).mean()
h = hashlib.sha256()
h.update(np.round(g.to_numpy(), 9).tobytes())
h.update(np.round(roll.to_numpy()[999::997], 9).tobytes())
print("groups", len(g))
print(f"rolling-last {roll.iloc[-1]:.12e}")
print("digest", h.hexdigest())
threadpools()
