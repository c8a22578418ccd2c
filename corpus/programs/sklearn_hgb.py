"""HistGradientBoostingClassifier.fit/predict (OpenMP) on 40k samples."""

import hashlib

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from corpus_pools import threadpools

X, y = make_classification(n_samples=40_000, n_features=30, n_informative=15, random_state=0)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
clf = HistGradientBoostingClassifier(max_iter=80, early_stopping=False, random_state=0).fit(Xtr, ytr)
pred = clf.predict(Xte)
proba = clf.predict_proba(Xte)[:, 1]
print(f"accuracy {np.mean(pred == yte):.6f}")
print(f"mean-proba {proba.mean():.10e}")
print("labels", hashlib.sha256(pred.astype(np.int8).tobytes()).hexdigest())
threadpools()
