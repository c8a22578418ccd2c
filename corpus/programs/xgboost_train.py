"""xgboost.train (hist, OpenMP), nthread unset: the runtime decides."""

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_regression

from corpus_pools import threadpools

X, y = make_regression(n_samples=60_000, n_features=40, n_informative=25, noise=5.0, random_state=2)
dtr = xgb.DMatrix(X[:45_000], label=y[:45_000])
dte = xgb.DMatrix(X[45_000:], label=y[45_000:])
params = {"tree_method": "hist", "max_depth": 7, "eta": 0.1, "seed": 3, "objective": "reg:squarederror"}
res: dict = {}
booster = xgb.train(params, dtr, num_boost_round=70, evals=[(dte, "test")], evals_result=res, verbose_eval=False)
p = booster.predict(dte)
print(f"test-rmse {res['test']['rmse'][-1]:.8e}")
print(f"mean-pred {p.mean():.8e}")
threadpools()
