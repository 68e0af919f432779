"""A learning curve to prune: a linear classifier trained epoch by epoch on scikit-learn's digits.

The objective trains scikit-learn's ``SGDClassifier`` with ``partial_fit``, one
pass over the training split per epoch, on the handwritten-digits dataset that
scikit-learn ships, and reports the validation accuracy after every epoch with
``tuneop_runner.report``. When the session's early stopping says the trial is
hopeless (``should_prune``), it stops and raises ``TrialPruned``: the rest of its
epochs are saved. The split and the model's seed are fixed, so the same params
always give the same curve. examples/sklearn-sgd-pruning.yaml tunes it;
bench/pruning_bench.py measures what pruning saves on it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tuneop_runner import TrialPruned, report, should_prune

EPOCHS = 30


@functools.cache
def _data() -> tuple[Any, Any, Any, Any]:
    features, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def objective(params: dict[str, Any]) -> dict[str, float]:
    x_train, x_val, y_train, y_val = _data()
    epochs = int(params.get("epochs", EPOCHS))
    model = SGDClassifier(
        loss=str(params.get("loss", "hinge")),
        alpha=float(params["alpha"]),
        learning_rate="constant",
        eta0=float(params["eta0"]),
        random_state=0,
    )
    classes = np.unique(y_train)
    order = np.random.default_rng(0)
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        shuffled = order.permutation(len(y_train))
        model.partial_fit(x_train[shuffled], y_train[shuffled], classes=classes)
        accuracy = float(model.score(x_val, y_val))
        report(epoch, accuracy)
        if should_prune():
            raise TrialPruned()
    return {"accuracy": accuracy, "epochs": float(epochs)}
