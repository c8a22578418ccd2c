"""lightgbm.train (its bundled libgomp), deterministic=True, num_threads unset:
the runtime decides how many threads."""

import lightgbm as lgb
import numpy as np
from sklearn.datasets import make_classification

from corpus_pools import threadpools

X, y = make_classification(n_samples=60_000, n_features=40, n_informative=20, random_state=1)
params = {
    "objective": "binary",
    "deterministic": True,
    "force_col_wise": True,
    "seed": 7,
    "num_leaves": 63,
    "learning_rate": 0.1,
    "verbose": -1,
}
booster = lgb.train(params, lgb.Dataset(X[:45_000], y[:45_000]), num_boost_round=80)
p = booster.predict(X[45_000:])
print(f"accuracy {np.mean((p > 0.5) == y[45_000:]):.6f}")
print(f"mean-proba {p.mean():.10e}")
print("trees", booster.num_trees())
threadpools()
