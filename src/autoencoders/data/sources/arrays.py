"""NumPy files: an ``.npy`` array, or an ``.npz`` with ``x`` and optional ``y``, ``x_test``, ``y_test``."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from autoencoders.data.errors import DataError
from autoencoders.data.sources.dataset import (
    ArrayDataset,
    checked_labels,
    error_reason,
    first_nonfinite,
    nonfinite_problem,
    split_off_test,
)

#: the bytes an .npy file starts with, and those of a zip archive (.npz)
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: what reading a damaged .npy/.npz can raise (besides OSError)
_NPY_READ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error, struct.error)


def as_samples(
    array: np.ndarray, path: Path, kind: str, key: str | None = None
) -> tuple[torch.Tensor, float]:
    """Gives an array the ``(N, ...)`` layout and a scale for [0, 1].

    uint8 stays uint8 (scale 255); every other real dtype becomes float32
    (scale 1), booleans as 0 and 1. Complex, text, object and structured
    arrays, arrays without samples or with empty samples, and float arrays with
    NaN or infinite values are refused.

    Args:
        array: the array as loaded.
        path: the file it came from.
        kind: one of :data:`~autoencoders.run_config.DATA_KINDS` (see :func:`load_dataset`).
        key: its name inside an .npz, for messages.

    Raises:
        DataError: naming the file (and array), the problem and the fix.
    """
    where = f"{path}" if key is None else f"{path}, array {key!r}"
    dtype_kind = array.dtype.kind
    if dtype_kind == "c":
        raise DataError(
            f"{where}: holds complex numbers ({array.dtype}); save real values instead, "
            "e.g. np.abs(x), or x.real and x.imag as two channels"
        )
    if dtype_kind not in "biuf":
        raise DataError(
            f"{where}: expected numbers, got dtype {array.dtype}; save a numeric array, "
            "e.g. x.astype(np.float32)"
        )
    shape = array.shape
    if kind == "signal":
        if array.ndim not in (2, 3):
            raise DataError(
                f"{where}: signals must have shape (N, L) or (N, C, L), got {shape}; "
                "reshape the array to one of these"
            )
    elif array.ndim not in (2, 3, 4):
        hint = " (for one feature per sample: x.reshape(-1, 1))" if array.ndim == 1 else ""
        raise DataError(
            f"{where}: expected (N, F) features, (N, H, W) or (N, C, H, W) images, got "
            f"{shape}; reshape the array to one of these{hint}"
        )
    if shape[0] == 0:
        raise DataError(f"{where}: holds no samples (shape {shape}); it needs at least one")
    if array.size == 0:
        raise DataError(
            f"{where}: its samples hold no values (shape {shape}); every dimension after "
            "the first needs a size of at least 1"
        )
    if dtype_kind == "u" and array.dtype.itemsize == 1:
        values, scale = np.ascontiguousarray(array, dtype=np.uint8), 255.0
    else:
        # overflow of float64 beyond float32's range is reported below, not warned about
        with np.errstate(over="ignore"):
            values, scale = np.ascontiguousarray(array, dtype=np.float32), 1.0
        found = first_nonfinite(values) if dtype_kind == "f" else None
        if found is not None:
            count, first = found
            problem, value = nonfinite_problem(count, array, first)
            at = first[1:]
            position = str(at[0]) if len(at) == 1 else str(at)
            raise DataError(
                f"{where}: {problem}; the first is sample {first[0]}, position {position} "
                f"within it ({value}); replace those values or drop those samples"
            )
    if kind == "signal" and values.ndim == 2:
        values = values[:, None, :]
    elif kind != "signal" and values.ndim == 3:
        values = values[:, None]
    return torch.from_numpy(values), scale


def _read_npy_error(path: Path, what: str, err: BaseException) -> DataError:
    """The DataError for an array that np.load could not read."""
    reason = error_reason(err)
    if isinstance(err, ValueError) and "allow_pickle" in reason:
        return DataError(
            f"{path}: cannot read {what} without unpickling objects (dtype object), which "
            "could run code; save numbers instead, e.g. x.astype(np.float32)"
        )
    return DataError(
        f"{path}: cannot read {what} ({reason}); the file is truncated or corrupt: save it again"
    )


def _npz_member(archive: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray | None:
    """The array ``key`` of an .npz, or None where it has none of that name."""
    if key not in archive.files:
        return None
    try:
        value = archive[key]
    except (OSError, *_NPY_READ_ERRORS) as err:
        raise _read_npy_error(path, f"array {key!r}", err) from None
    if not isinstance(value, np.ndarray):  # a zip member that is not an .npy
        raise DataError(f"{path}: {key!r} is not a NumPy array; write the file with np.savez")
    return value


def load_array_file(path: Path, kind: str) -> ArrayDataset:
    try:
        f = open(path, "rb")
    except OSError as err:
        raise DataError(
            f"{path}: cannot open it ({error_reason(err)}); check that it exists and is readable"
        ) from None
    with f:
        head = f.read(len(_NPY_MAGIC))
        f.seek(0)
        if head[:4] in _ZIP_MAGICS:
            try:
                archive = np.load(f, allow_pickle=False)
            except (OSError, *_NPY_READ_ERRORS) as err:
                raise _read_npy_error(path, "it", err) from None
            return _load_npz(archive, path, kind)  # reads members while f is open
        if head != _NPY_MAGIC:
            found = f"it starts with {head!r}" if head else "it is empty"
            raise DataError(
                f"{path}: not a NumPy .npy or .npz file ({found}); write it with np.save or "
                "np.savez"
            )
        try:
            array = np.load(f, allow_pickle=False)
        except (OSError, *_NPY_READ_ERRORS) as err:
            raise _read_npy_error(path, "it", err) from None
    x, scale = as_samples(array, path, kind)
    return split_off_test(path.stem, x, None, scale, where=path)


def _load_npz(archive: np.lib.npyio.NpzFile, path: Path, kind: str) -> ArrayDataset:
    """The data set of an open .npz: ``x`` and optional ``y``, ``x_test``, ``y_test``."""
    with archive:
        raw_x = _npz_member(archive, path, "x")
        if raw_x is None:
            raise DataError(
                f"{path}: an .npz needs an array named 'x' (found {sorted(archive.files)}); "
                "save it with np.savez(path, x=..., y=...)"
            )
        x, scale = as_samples(raw_x, path, kind, "x")
        y = checked_labels(_npz_member(archive, path, "y"), len(x), path, "y")
        raw_test = _npz_member(archive, path, "x_test")
        if raw_test is None:
            return split_off_test(path.stem, x, y, scale, where=path)
        x_test, test_scale = as_samples(raw_test, path, kind, "x_test")
        y_test = checked_labels(_npz_member(archive, path, "y_test"), len(x_test), path, "y_test")
    if x_test.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{path}: samples of 'x' have shape {tuple(x.shape[1:])} but those of 'x_test' "
            f"{tuple(x_test.shape[1:])}; both need the same shape"
        )
    if test_scale != scale:
        raise DataError(
            f"{path}: 'x' is {raw_x.dtype} but 'x_test' is {raw_test.dtype}; uint8 is read "
            "as 0..255 and other types as they are, so save both with the same dtype"
        )
    return ArrayDataset(path.stem, x, y, x_test, y_test, scale)
