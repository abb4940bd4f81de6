"""Scoring with checkpoints: anomaly scores of samples, read in batches, and a threshold.

The score is any of the registered anomaly scores
(:data:`autoencoders.anomaly.scores.SCORES`). Several checkpoints (models of
other seeds or kinds, trained on the same normal data) score as an ensemble:
each member's score is standardised on its scores of held-out *reference* data
(the normal data the model was trained on), and the members' standardised
scores are averaged (:func:`~autoencoders.anomaly.ensembles.ensemble_scores`).
Scores that must be fitted (``density``, ``combined``, ``feature``) are fitted
on the reference data's training rows, and the default threshold is a quantile
of the scores of its held-out rows, which the model never trained on.

:class:`Samples` reads an array (possibly a memory map, so a file larger than
memory can be scored) one batch at a time, scaled as the model's training data
was. ``autoencoders score`` (:mod:`autoencoders.cli.score`) reads the options,
sets up the data and writes the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoencoders.anomaly.ensembles import combine_scores, ensemble_scores
from autoencoders.anomaly.scores import make_score
from autoencoders.errors import CheckpointError, DataError

#: samples scored at a time
DEFAULT_BATCH = 1024
#: the default threshold: this quantile of the reference data's held-out scores
DEFAULT_QUANTILE = 0.99
#: most reference rows a score is fitted on (a Gaussian mixture or PCA needs no more)
MAX_REFERENCE = 10_000
#: the scores that need no fitting: a model's reconstruction error alone
UNFITTED_SCORES = ("recon-sse", "recon-bce", "map-sse", "map-ssim")


def needs_reference(
    score: str, members: int, threshold: float | None, contamination: float | None
) -> bool:
    """Whether scoring needs reference data (normal rows the model trained on).

    It does to fit the score, to standardise an ensemble's members, or to take the
    default threshold.
    """
    fitted = score not in UNFITTED_SCORES
    return fitted or (threshold is None and contamination is None) or members > 1


@dataclass
class Member:
    """One checkpoint's model and its fitted score; ``reference`` is its normal data."""

    path: Path
    codec: Any
    config: dict
    shape: tuple[int, ...]
    scorer: Any
    reference: Reference | None = None
    #: the member's scores of held-out normal data, on which an ensemble standardises it
    normal_scores: np.ndarray | None = None
    #: the scaling of the model's training data (None: data used as it was)
    scaler: Any = None

    @classmethod
    def load(
        cls, path: Path, score: str, batch_size: int = DEFAULT_BATCH, **options: Any
    ) -> Member:
        """The model of checkpoint ``path`` with anomaly score ``score`` (not yet fitted).

        ``options`` are the score's own (a map's ``sigma``, ``reduce``, ``top_k``).
        """
        from autoencoders.checkpoint import load
        from autoencoders.codecs import ModelCodec

        model = load(path)
        config = getattr(model, "config", None) or {}
        shape = tuple(config.get("input_shape") or getattr(model.decoder, "output_shape", ()))
        codec = ModelCodec(model, batch_size=batch_size)
        scaler = getattr(model, "data_scaler", None)
        return cls(path, codec, config, shape, make_score(score, **options), scaler=scaler)

    def fit(self, reference: Reference) -> None:
        """Fits the score on the reference data (if it is fitted) and scores its held-out rows."""
        self.reference = reference
        if getattr(self.scorer, "name", None) not in UNFITTED_SCORES:
            self.scorer.fit(self.codec, reference.train, reference.held_out)
        self.normal_scores = self.score(reference.rows())

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.scorer.score(self.codec, x)


@dataclass
class Ensemble:
    """One score from one or more members: a lone member's own, else their standardised mean.

    Raises:
        CheckpointError: for members that take samples of different shapes.
    """

    members: list[Member]

    def __post_init__(self) -> None:
        first = self.members[0]
        for other in self.members[1:]:
            if other.shape != first.shape:
                raise CheckpointError(
                    f"{other.path} takes samples of shape {other.shape} but {first.path} takes "
                    f"{first.shape}: the models of an ensemble must take the same samples"
                )

    def score(self, x: np.ndarray) -> np.ndarray:
        return combine_scores(
            [m.normal_scores for m in self.members], [m.score(x) for m in self.members]
        )

    def reference_scores(self) -> np.ndarray:
        """The ensemble's scores of the first member's held-out reference rows.

        Each member scored its reference rows when it was fitted; where the members
        share one reference (the usual case), those scores are reused, not recomputed.
        """
        first = self.members[0]
        if len(self.members) == 1:
            return first.normal_scores
        if all(m.reference is first.reference for m in self.members):
            normal = [m.normal_scores for m in self.members]
            return ensemble_scores(normal, normal)
        return self.score(first.reference.rows())


# ----------------------------------------------------------------- samples
@dataclass
class Samples:
    """The samples to score: an array-like of ``(N, ...)`` values, read in batches.

    ``values`` may be a memory map; each batch is copied out of it, reshaped to
    the model's input shape, divided by ``scale``, scaled by ``scaler`` (the
    model's own scaling, where it has one) and checked for NaN and infinity.
    ``rows`` are the samples' row numbers in the data (None: 0, 1, ...),
    ``labels`` their labels as the data names them and ``files`` their files.
    """

    values: Any
    shape: tuple[int, ...]
    scale: float
    where: str
    scaler: Any = None
    rows: np.ndarray | None = None
    labels: np.ndarray | None = None
    files: np.ndarray | None = None

    @classmethod
    def from_array(
        cls, values: Any, shape: tuple[int, ...], where: str, scaler: Any = None
    ) -> Samples:
        """Raw samples as a file holds them: bytes (uint8) are read as pixels in [0, 255]."""
        scale = 255.0 if values.dtype == np.uint8 else 1.0
        return cls(values, shape, scale, where, scaler)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self.values), batch_size):
            raw = np.asarray(self.values[start : start + batch_size])
            batch = raw.astype(np.float32).reshape(len(raw), *self.shape)
            if self.scale != 1.0:
                batch /= self.scale
            bad = ~np.isfinite(batch.reshape(len(batch), -1))
            if self.scaler is not None and not bad.any():
                batch = self.scaler.apply(batch)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                value = batch.reshape(len(batch), -1)[row, col]
                raise DataError(
                    f"{self.where}: sample {start + row} holds {value} at position {col}; "
                    "replace non-finite values or drop those samples"
                )
            yield batch


def open_npy(path: Path) -> np.ndarray:
    """The array of ``.npy`` file ``path``, memory-mapped: read a batch at a time, never whole.

    Raises:
        DataError: for a file that cannot be read as an array of numbers ``(N, ...)``.
    """
    try:
        values = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(
            f"{path}: not a readable .npy file ({err}); write it with np.save"
        ) from None
    if values.dtype.kind not in "biuf" or values.ndim < 2:
        raise DataError(
            f"{path}: expected an array of numbers of shape (N, ...), got {values.dtype} "
            f"of shape {values.shape}"
        )
    return values


# --------------------------------------------------------------- reference
@dataclass
class Reference:
    """Normal data: rows a score is fitted on, and held-out rows for statistics."""

    train: np.ndarray
    held_out: np.ndarray | None
    where: str

    @classmethod
    def from_datamodule(cls, dm: Any, where: str) -> Reference:
        """A data module's training rows (at most :data:`MAX_REFERENCE`) and validation rows."""
        train = dm.full_arrays("train")[0].numpy()[:MAX_REFERENCE]
        held_out = dm.full_arrays("val")[0].numpy()
        return cls(train, held_out if len(held_out) else None, where)

    def rows(self) -> np.ndarray:
        """The rows statistics are taken on: held-out ones where there are any."""
        return self.held_out if self.held_out is not None else self.train


def threshold_for(
    scores: np.ndarray,
    ensemble: Ensemble,
    *,
    threshold: float | None = None,
    contamination: float | None = None,
    quantile: float = DEFAULT_QUANTILE,
) -> tuple[float, str]:
    """The threshold above which a score is flagged, and where it came from, in words.

    ``threshold`` outright; else the top ``contamination`` share of ``scores``; else
    the ``quantile`` of the ensemble's scores of its held-out reference rows (the
    members must have been fitted).
    """
    if threshold is not None:
        return float(threshold), "given"
    if contamination is not None:
        if not len(scores):
            return math.inf, "no samples"
        return float(np.quantile(scores, 1.0 - contamination)), (
            f"flags the top {contamination:g} of the scored samples"
        )
    ref = ensemble.members[0].reference
    if ref is None:
        raise ValueError("the ensemble was not fitted on reference data")  # a caller's bug
    kind = "held-out" if ref.held_out is not None else "training"
    ref_scores = ensemble.reference_scores()
    return float(np.quantile(ref_scores, quantile)), (
        f"the {quantile:g} quantile of {len(ref_scores)} {kind} scores of {ref.where}"
    )


__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_QUANTILE",
    "MAX_REFERENCE",
    "Ensemble",
    "Member",
    "Reference",
    "Samples",
    "needs_reference",
    "open_npy",
    "threshold_for",
]
