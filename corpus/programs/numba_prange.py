"""numba @njit(parallel=True) prange loops under the threading layer that
NUMBA_THREADING_LAYER names (workqueue, omp, tbb)."""

import numba
import numpy as np
from numba import njit, prange

from corpus_pools import pool, threadpools


@njit(parallel=True)
def collatz_total(n):
    total = 0
    for i in prange(1, n):
        k = i
        steps = 0
        while k != 1:
            k = k // 2 if k % 2 == 0 else 3 * k + 1
            steps += 1
        total += steps
    return total


@njit(parallel=True)
def row_norms(a):
    out = np.empty(a.shape[0])
    for i in prange(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            s += a[i, j] * a[i, j]
        out[i] = np.sqrt(s)
    return out


a = np.random.default_rng(0).standard_normal((20_000, 200))
print("collatz", collatz_total(3_000_000))
print(f"norms {row_norms(a).sum():.12e}")  # each row by one thread; the sum by numpy
print("layer", numba.threading_layer())
pool(f"numba-{numba.threading_layer()}", numba.get_num_threads())
threadpools()
