"""KMeans.fit (Lloyd, OpenMP in sklearn's bundled libgomp) on 60k points."""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from corpus_pools import threadpools

X, _ = make_blobs(n_samples=60_000, n_features=16, centers=12, cluster_std=2.5, random_state=0)
km = KMeans(n_clusters=12, n_init=4, max_iter=300, tol=0.0, random_state=0).fit(X)
# The inertia is a float sum whose order follows the threads (compare float).
print(f"inertia {km.inertia_:.10e}")
print("iterations", km.n_iter_)
print("sizes", " ".join(str(n) for n in sorted(np.bincount(km.labels_))))
threadpools()
