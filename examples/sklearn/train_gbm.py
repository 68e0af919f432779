"""Tune a scikit-learn gradient-boosting classifier: a training script that knows nothing of tuneop.

It takes its hyperparameters as flags, trains on the breast-cancer dataset that
scikit-learn ships (or on ``--data DIR/data.csv`` when that file exists: the
features, then the label in the last column), and prints its metrics as
``name=value`` lines, Katib's StdOut format. Run by itself:

    python examples/sklearn/train_gbm.py --learning-rate 0.1 --n-estimators 100 --max-depth 3
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score


def load(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    csv = Path(data_dir) / "data.csv" if data_dir else None
    if csv is not None and csv.exists():
        table = np.loadtxt(csv, delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    features, labels = load_breast_cancer(return_X_y=True)
    return features, labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--learning-rate", type=float, required=True)
    p.add_argument("--n-estimators", type=int, required=True)
    p.add_argument("--max-depth", type=int, required=True)
    p.add_argument("--subsample", type=float, default=1.0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--data", default=os.environ.get("DATA_DIR"))
    args = p.parse_args()
    # A credential from a Secret on a cluster (say, an experiment tracker's token).
    print(f"tracker_token_present={int(bool(os.environ.get('TRACKER_TOKEN')))}")
    features, labels = load(args.data)
    model = GradientBoostingClassifier(
        learning_rate=args.learning_rate,
        n_estimators=args.n_estimators,
        max_depth=args.max_depth,
        subsample=args.subsample,
        random_state=0,
    )
    started = time.monotonic()
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    scores = cross_val_score(model, features, labels, cv=folds, scoring="accuracy", n_jobs=1)
    print(f"fit_seconds={time.monotonic() - started:.3f}")
    print(f"accuracy_std={scores.std():.5f}")
    print(f"accuracy={scores.mean():.5f}", flush=True)


if __name__ == "__main__":
    main()
