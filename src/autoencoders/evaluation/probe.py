"""Linear probe: how linearly decodable the labels are from a few labelled codes."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)


def stratified_subset(y: np.ndarray, n: int, random_state: int = 0) -> np.ndarray:
    """Seeded subset of ``n`` indices whose class proportions follow those of ``y``.

    Every class is shuffled; each item gets the key ``(rank within its class + 0.5) /
    class size`` and the ``n`` smallest keys are kept, so classes are drawn in proportion.

    Args:
        y: Labels, shape ``(N,)``.
        n: Number of indices wanted (all are returned when ``n >= N``).
        random_state: Seed of the shuffle.

    Returns:
        Sorted indices into ``y``.
    """
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(y))
    keys = np.empty(len(y))
    for cls in np.unique(y):
        members = order[y[order] == cls]
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    # ties broken by the shuffled order, so the pick stays seeded
    ranked = order[np.argsort(keys[order], kind="stable")]
    return np.sort(ranked[:n])


def linear_probe(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    n_labels: int = 550,
    random_state: int = 0,
) -> dict[str, Any]:
    """Test accuracy of a linear classifier fitted on a few labelled training codes.

    A class-stratified, seeded subset of ``n_labels`` training codes is standardised
    (``StandardScaler`` fitted on that subset) and a converged
    ``LogisticRegression(max_iter=2000)`` is fitted to it. ae_bakeoff's reference
    used a linear layer trained with Adam instead; a converged logistic regression
    gives the same kind of number without a training schedule to tune.

    Args:
        z_train: Training codes, shape ``(N, D)``.
        y_train: Training labels, shape ``(N,)``.
        z_test: Test codes, shape ``(M, D)``.
        y_test: Test labels, shape ``(M,)``.
        n_labels: Number of labelled training codes to use (capped at ``N``).
        random_state: Seed of the subset and of the classifier.

    Returns:
        Dict with ``accuracy`` (on the whole test set), ``n_labels`` (the number of
        training codes actually used) and ``probe`` (``"logistic-regression"``).

    Raises:
        ValueError: If the subset holds fewer than two classes.
    """
    z_train = np.asarray(z_train, dtype=np.float64).reshape(len(z_train), -1)
    z_test = np.asarray(z_test, dtype=np.float64).reshape(len(z_test), -1)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    idx = stratified_subset(y_train, n_labels, random_state)
    z_sub, y_sub = z_train[idx], y_train[idx]
    if len(np.unique(y_sub)) < 2:
        raise ValueError(f"linear probe needs at least two classes among {len(idx)} labels")
    scaler = StandardScaler().fit(z_sub)
    clf = LogisticRegression(max_iter=2000, random_state=random_state)
    clf.fit(scaler.transform(z_sub), y_sub)
    accuracy = float(clf.score(scaler.transform(z_test), y_test))
    log.debug("linear probe: %d labels, accuracy %.4f", len(idx), accuracy)
    return {"accuracy": accuracy, "n_labels": len(idx), "probe": "logistic-regression"}
