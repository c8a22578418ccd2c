"""Seed 000: the "black box" numpy script from the blog post, unchanged.

Usage: seed000.py ARG   (prints acc + float(ARG))

SEED000_ITERS (default 30, as in the seed) scales the number of iterations
so benchmarks can run shorter or longer; the default is the seed's workload.
"""

import os
import sys

import numpy as np

n = 400
iters = int(os.environ.get("SEED000_ITERS", "30"))
acc = 0.0
for _ in range(iters):
    a = np.random.rand(n, n)
    b = np.random.rand(n, n)
    c = a @ b
    d = np.linalg.inv(c + np.eye(n))
    acc += np.linalg.svd(d, compute_uv=False).sum()

result = acc + float(sys.argv[1])
print(result)
