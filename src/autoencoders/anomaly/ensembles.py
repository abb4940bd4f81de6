"""Several models' anomaly scores as one: each standardised on normal data, then averaged.

Models trained with different seeds (or of different kinds) score in different
units; the command's ensembles, the detector's seed ensembles and
:class:`~autoencoders.detector.OutlierEnsemble` all combine them here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def standardise_scores(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``scores`` as z-scores of the ``reference`` scores (normal data), so members compare.

    A constant reference leaves the scores centred but unscaled.
    """
    reference = np.asarray(reference, dtype=np.float64)
    return (np.asarray(scores, dtype=np.float64) - reference.mean()) / (reference.std() or 1.0)


def ensemble_scores(references: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> np.ndarray:
    """The anomaly score of an ensemble: the mean of its members' standardised scores.

    Models trained with different seeds score in different units (one reconstructs
    a little better than another); each member's scores are standardised on its
    own scores of normal data before averaging, so every member weighs the same.

    Args:
        references: per member, its scores of normal data (e.g. the training rows).
        scores: per member, its scores of the samples to rate, all of one length.

    Returns:
        One score per sample, higher = more anomalous.

    Raises:
        ValueError: if the members are missing or the two lists differ in length.
    """
    if not scores or len(references) != len(scores):
        raise ValueError(
            f"ensemble_scores needs one reference per member, got {len(references)} "
            f"references for {len(scores)} members"
        )
    return np.mean(
        [standardise_scores(ref, s) for ref, s in zip(references, scores, strict=True)], axis=0
    )


def combine_scores(references: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> np.ndarray:
    """One score from one or more members.

    A lone member keeps its own score, in its own units; several give
    :func:`ensemble_scores`.
    """
    if len(scores) == 1:
        return np.asarray(scores[0])
    return ensemble_scores(references, scores)
