"""numexpr.evaluate over 10M-element arrays (its own thread pool)."""

import hashlib

import numexpr as ne
import numpy as np

from corpus_pools import pool

rng = np.random.default_rng(0)
a = rng.standard_normal(10_000_000)
b = rng.standard_normal(10_000_000)
h = hashlib.sha256()
for _ in range(4):
    r = ne.evaluate("sin(a) ** 2 + cos(b) ** 2 * exp(-abs(a * b)) + where(a > b, a, b)")
    h.update(r.tobytes())
    a = ne.evaluate("r * 0.5 + b")
print("digest", h.hexdigest())
pool("numexpr", ne.get_num_threads())
