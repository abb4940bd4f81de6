"""ROC analysis of anomaly scores: how well they rank anomalies above normal samples.

The scores themselves (reconstruction error, code density, ...) are
:mod:`autoencoders.anomaly`'s; here they are only numbers to rank.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

log = logging.getLogger(__name__)


def _check_binary(scores: np.ndarray, is_anomaly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    is_anomaly = np.asarray(is_anomaly).astype(bool).ravel()
    if scores.shape != is_anomaly.shape:
        raise ValueError(
            f"shape mismatch: scores has shape {scores.shape}, is_anomaly has shape {is_anomaly.shape}"
        )
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("ROC analysis needs both normal and anomalous samples")
    return scores, is_anomaly


def roc_auc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """Area under the ROC curve of anomaly scores (higher score = more anomalous).

    The value is returned as computed: a score that ranks anomalies *lower* than
    normal samples gives an AUC below 0.5, and it is not flipped or clipped.

    Args:
        scores: Anomaly score per sample, shape ``(N,)``.
        is_anomaly: True for anomalous samples, shape ``(N,)``.

    Returns:
        AUC in [0, 1]; 0.5 is chance.

    Raises:
        ValueError: If shapes differ or only one of the two kinds is present.
    """
    scores, is_anomaly = _check_binary(scores, is_anomaly)
    return float(roc_auc_score(is_anomaly, scores))


def roc_curve_points(
    scores: np.ndarray, is_anomaly: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """The ROC curve of anomaly scores and its area.

    Args:
        scores: Anomaly score per sample, shape ``(N,)``.
        is_anomaly: True for anomalous samples, shape ``(N,)``.

    Returns:
        ``(fpr, tpr, auc)``: false and true positive rates at every threshold, and
        the area under that curve (not clipped).

    Raises:
        ValueError: If shapes differ or only one of the two kinds is present.
    """
    scores, is_anomaly = _check_binary(scores, is_anomaly)
    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    return fpr, tpr, float(roc_auc_score(is_anomaly, scores))


def one_class_auc(scores_by_class: Mapping[int, np.ndarray], y_test: np.ndarray) -> dict[str, Any]:
    """One-class anomaly detection, one model per class.

    ``scores_by_class[c]`` holds the anomaly scores of *all* test samples from a
    model trained only on class ``c``; for that model class ``c`` is normal and every
    other class is anomalous.

    Args:
        scores_by_class: Class label to anomaly scores of the whole test set.
        y_test: Test labels, shape ``(N,)``.

    Returns:
        Dict with ``per_class`` (class to AUC) and ``mean`` (unweighted mean AUC).

    Raises:
        ValueError: If the mapping is empty or a score array does not match ``y_test``.
    """
    if not scores_by_class:
        raise ValueError("one_class_auc needs scores for at least one class")
    y_test = np.asarray(y_test)
    per_class = {c: roc_auc(s, y_test != c) for c, s in scores_by_class.items()}
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values())))}


def held_out_class_auc(scores: np.ndarray, y_test: np.ndarray, anomaly_class: int) -> float:
    """AUC of a model trained without one class, that class being the anomaly.

    Args:
        scores: Anomaly score of every test sample, shape ``(N,)``.
        y_test: Test labels, shape ``(N,)``.
        anomaly_class: The class left out of training.

    Returns:
        The AUC (not clipped).

    Raises:
        ValueError: If shapes differ or the class is absent or alone in ``y_test``.
    """
    return roc_auc(scores, np.asarray(y_test) == anomaly_class)
