"""Min-max scaling of data that is not already in [0, 1], kept as plain data beside the model.

The models' default loss (binary cross-entropy) and sigmoid output only make
sense for values in [0, 1]. Images arrive there (uint8 / 255); tables and float
arrays may hold anything, so a :class:`MinMaxScaler` is fitted on the rows the
model trains on and applied to every row any command reads: values are mapped
by ``(x - min) / (max - min)`` and clipped to [0, 1] (a value beyond the range
seen in training reads as the nearest end of it). A feature that is constant in
training maps to 0.

The scaler is stored in the training checkpoint as plain lists of floats
(:meth:`MinMaxScaler.to_dict`), which ``torch.load(weights_only=True)`` reads,
so ``evaluate``, ``embed``, ``score``, ``explore`` and ``generate`` apply the
scaling the model was trained with, whichever data they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autoencoders.data.mapped import MappedRows, row_chunks
from autoencoders.errors import CheckpointError

#: values of the ``scale`` option: ``auto`` scales tables always, and other
#: non-image data whose values lie outside [0, 1]; ``minmax`` scales any data;
#: ``none`` never scales
SCALES = ("auto", "minmax", "none")


@dataclass(frozen=True)
class MinMaxScaler:
    """Maps values into [0, 1] by the minimum and maximum seen in training.

    ``low`` and ``high`` are per feature (shape ``(F,)`` for ``(N, F)`` data) or
    one value for the whole sample (images and signals, shape ``(1,)``).
    """

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray | torch.Tensor, per_feature: bool) -> MinMaxScaler:
        """The scaler of ``x`` (``(N, ...)``): per feature, or one range for all values."""
        return cls.fit_chunks([x], per_feature)

    @classmethod
    def fit_chunks(
        cls, chunks: Iterable[np.ndarray | torch.Tensor], per_feature: bool, scale: float = 1.0
    ) -> MinMaxScaler:
        """The scaler of the samples of all ``chunks`` together, each divided by ``scale``.

        Memory-mapped data is scanned this way, a chunk at a time.
        """
        low = high = None
        for chunk in chunks:
            flat = _numpy(chunk).reshape(len(chunk), -1)
            lo, hi = (
                (flat.min(axis=0), flat.max(axis=0)) if per_feature else (flat.min(), flat.max())
            )
            lo, hi = np.atleast_1d(lo).astype(np.float64), np.atleast_1d(hi).astype(np.float64)
            low = lo if low is None else np.minimum(low, lo)
            high = hi if high is None else np.maximum(high, hi)
        if low is None or high is None:
            raise ValueError("no samples to fit a scaler on")
        return cls(low / scale, high / scale)

    @property
    def per_feature(self) -> bool:
        return len(self.low) > 1

    def _span(self) -> np.ndarray:
        span = self.high - self.low
        return np.where(span > 0, span, 1.0)

    def apply(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """``x`` (``(N, ...)``, in its own units) in [0, 1], as float32 of the same shape."""
        values = _numpy(x)
        flat = values.reshape(len(values), -1).astype(np.float64)
        self._check_width(flat.shape[1])
        unit = np.clip((flat - self.low) / self._span(), 0.0, 1.0)
        return unit.astype(np.float32).reshape(values.shape)

    def invert(self, u: np.ndarray | torch.Tensor) -> np.ndarray:
        """Model outputs in [0, 1] back in the data's own units (float64)."""
        values = _numpy(u)
        flat = values.reshape(len(values), -1).astype(np.float64)
        self._check_width(flat.shape[1])
        return (flat * (self.high - self.low) + self.low).reshape(values.shape)

    def _check_width(self, width: int) -> None:
        if self.per_feature and width != len(self.low):
            raise CheckpointError(
                f"the model's scaling covers {len(self.low)} features but the data has "
                f"{width}; use data of the shape the model was trained on"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint: the kind, and ``min``/``max`` as lists of floats."""
        return {"kind": "minmax", "min": self.low.tolist(), "max": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: Any) -> MinMaxScaler:
        """The scaler :meth:`to_dict` wrote.

        Raises:
            CheckpointError: for anything else.
        """
        try:
            if data.get("kind") != "minmax":
                raise ValueError(f"unknown kind {data.get('kind')!r}")
            low = np.asarray(data["min"], dtype=np.float64).reshape(-1)
            high = np.asarray(data["max"], dtype=np.float64).reshape(-1)
            if low.shape != high.shape or not len(low):
                raise ValueError("min and max differ in length")
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"the stored data scaling is not readable ({err})") from None
        return cls(low, high)

    def describe(self) -> str:
        """One line for the log: what is scaled and over which range."""
        if self.per_feature:
            return (
                f"min-max scaling of {len(self.low)} features into [0, 1], fitted on training rows"
            )
        return (
            f"min-max scaling from [{self.low[0]:g}, {self.high[0]:g}] into [0, 1], fitted on "
            "training rows"
        )


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def outside_unit_range(x: torch.Tensor | MappedRows, scale: float) -> tuple[float, float] | None:
    """The range of ``x / scale`` if it leaves [0, 1], else None (a map is scanned in chunks)."""
    if not len(x) or (x.dtype == torch.uint8 and scale >= 255.0):  # uint8 / 255 stays in it
        return None
    ranges = [(float(c.min()), float(c.max())) for c in row_chunks(x)]
    low = min(lo for lo, _ in ranges) / scale
    high = max(hi for _, hi in ranges) / scale
    return (low, high) if low < 0.0 or high > 1.0 else None


__all__ = ["SCALES", "MinMaxScaler", "outside_unit_range"]
