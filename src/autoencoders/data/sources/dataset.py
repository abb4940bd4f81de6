"""The in-memory data set every reader returns, and the checks and split all readers share.

``ArrayDataset`` holds a whole data set; :func:`split_off_test` holds out the
seeded test set of data that brings none; the label and NaN checks give the
one-line messages each reader raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.data.errors import DataError

USER_DATA_HELP = (
    "a folder of the four IDX files, a .npy/.npz array, a .csv/.parquet table, "
    "or a folder of images (loose: unlabelled; or one sub-folder per class)"
)
#: share of user data held out as a test set when it brings none
TEST_FRACTION = 0.1


@dataclass(frozen=True)
class ArrayDataset:
    """A whole data set in memory.

    ``*_x`` hold uint8 (0..255) or float32 values of shape ``(N, C, H, W)`` for
    images, ``(N, F)`` for feature vectors or ``(N, C, L)`` for signals; divide
    by ``scale`` to get [0, 1] (``scale`` is 1 for float data). Labels are int64,
    or ``None`` when the data is unlabelled.

    ``train_rows`` and ``test_rows`` give each sample's row number in the data
    as read (a table's data rows, an array's first axis, an image folder's files
    in sorted order), so outputs can be written in that order and joined back;
    ``None`` numbers the training samples from 0 and the test samples after
    them (data that comes with its own test set). ``files`` names each row's
    file (image folders), by row number. ``tabular`` marks data read from a
    table, which is always min-max scaled unless scaling is switched off.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor | None
    scale: float = 255.0
    classes: tuple[str, ...] | None = None
    train_rows: torch.Tensor | None = None
    test_rows: torch.Tensor | None = None
    files: tuple[str, ...] | None = None
    tabular: bool = False

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    def row_numbers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The row numbers of the training and the test samples (see the class docstring)."""
        n, m = len(self.train_x), len(self.test_x)
        train = self.train_rows if self.train_rows is not None else torch.arange(n)
        test = self.test_rows if self.test_rows is not None else torch.arange(n, n + m)
        return train, test


def split_off_test(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor | None,
    scale: float,
    classes: tuple[str, ...] | None = None,
    n_test: int | None = None,
    where: str | Path | None = None,
    **extra: Any,
) -> ArrayDataset:
    """Holds out a seeded random test set (``TEST_FRACTION`` unless ``n_test`` is given).

    Args:
        name: the data set's name.
        x: all samples.
        y: their labels, or None.
        scale: what to divide ``x`` by for [0, 1].
        classes: class names, by label.
        n_test: how many samples to hold out.
        where: the file the samples came from, for error messages (else ``name``).
        extra: further fields of the :class:`ArrayDataset` (``files``, ``tabular``).
    """
    n = len(x)
    n_test = n_test if n_test is not None else max(1, round(n * TEST_FRACTION))
    if n < 2:
        raise DataError(
            f"{where or name}: needs at least 2 samples (one is held out as the test set), "
            f"got {n}; add more samples"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(42))
    test, train = order[:n_test], order[n_test:]
    return ArrayDataset(
        name,
        x[train],
        None if y is None else y[train],
        x[test],
        None if y is None else y[test],
        scale,
        classes,
        train_rows=train,
        test_rows=test,
        **extra,
    )


def error_reason(err: BaseException) -> str:
    """An exception's message on one line (at most 200 characters), or its type's name."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def first_nonfinite(values: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """How many entries of ``values`` are NaN or infinite, and the index of the first.

    Returns None when all are finite. The common case costs one ``np.isfinite``
    pass; counting and locating happen only when something is wrong.
    """
    finite = np.isfinite(values)
    if finite.all():
        return None
    count = finite.size - int(np.count_nonzero(finite))
    first = np.unravel_index(int(np.argmin(finite, axis=None)), finite.shape)
    return count, tuple(int(i) for i in first)


def nonfinite_problem(count: int, original: np.ndarray, first: tuple[int, ...]) -> tuple[str, str]:
    """Says what ``count`` non-finite values are, and gives the first one's value.

    ``original`` is the data before conversion to float32; where it was finite,
    the value was too large for float32 and became infinite only in the cast.

    Returns:
        ``("3 values are NaN or infinite", "value nan")`` and the like.
    """
    value = original[first].item()
    overflow = bool(np.isfinite(value))
    if not overflow and original.dtype.itemsize > 4:
        overflow = count > original.size - int(np.count_nonzero(np.isfinite(original)))
    what = "NaN or infinite"
    if overflow:
        what = "NaN, infinite or too large for float32 (magnitude above 3.4e38)"
    noun = "value is" if count == 1 else "values are"
    return f"{count:,} {noun} {what}", f"value {value!r}"


def check_label_values(y: np.ndarray, where: str) -> None:
    """Refuses labels that are not whole numbers from 0 up (-1 means "no label")."""
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"{where}: labels must be whole numbers from 0 up, got dtype {y.dtype}; number "
            "the classes, e.g. with np.unique(y, return_inverse=True)[1]"
        )
    if y.size == 0 or y.dtype.kind == "b":
        return
    bad = ~np.isfinite(y) | (y != np.round(y)) if y.dtype.kind == "f" else None
    if bad is not None and bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where}: labels must be whole numbers, but label {i} is {y[i].item()!r}; "
            "fix or drop that sample"
        )
    low, high = y.min().item(), y.max().item()
    if low < 0:
        raise DataError(
            f"{where}: labels must be 0 or more, but one is {low!r}; number the classes from 0"
        )
    if high > np.iinfo(np.int32).max:
        raise DataError(
            f"{where}: label {high!r} is too large to be a class number; number the classes from 0"
        )


def checked_labels(
    y: np.ndarray | None, n: int, path: Path, key: str | None = None
) -> torch.Tensor | None:
    """Checks one label per sample, each a whole number from 0 up, as int64."""
    if y is None:
        return None
    where = f"{path}" if key is None else f"{path}, array {key!r}"
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{where}: {n} samples but {len(y)} labels; give one label per sample")
    check_label_values(y, where)
    return torch.from_numpy(y.astype(np.int64))
