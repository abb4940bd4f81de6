"""NumPy files: an ``.npy`` array, or an ``.npz`` with ``x`` and optional ``y``, ``x_test``, ``y_test``."""

from __future__ import annotations

import contextlib
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from autoencoders.data.errors import DataError
from autoencoders.data.mapped import MAPPABLE_DTYPES, MappedRows, fits_in_memory
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
    check_form(array.dtype, array.shape, where, kind)
    dtype_kind = array.dtype.kind
    if dtype_kind == "u" and array.dtype.itemsize == 1:
        values, scale = np.ascontiguousarray(array, dtype=np.uint8), 255.0
    else:
        # overflow of float64 beyond float32's range is reported below, not warned about
        with np.errstate(over="ignore"):
            values, scale = np.ascontiguousarray(array, dtype=np.float32), 1.0
        found = first_nonfinite(values) if dtype_kind == "f" else None
        if found is not None:
            raise _nonfinite_error(where, found, array)
    if kind == "signal" and values.ndim == 2:
        values = values[:, None, :]
    elif kind != "signal" and values.ndim == 3:
        values = values[:, None]
    return torch.from_numpy(values), scale


def check_form(dtype: np.dtype, shape: tuple[int, ...], where: str, kind: str) -> None:
    """Refuses arrays that are no samples of numbers (see :func:`as_samples`), from dtype and shape.

    Raises:
        DataError: naming ``where``, the problem and the fix.
    """
    dtype_kind = dtype.kind
    if dtype_kind == "c":
        raise DataError(
            f"{where}: holds complex numbers ({dtype}); save real values instead, "
            "e.g. np.abs(x), or x.real and x.imag as two channels"
        )
    if dtype_kind not in "biuf":
        raise DataError(
            f"{where}: expected numbers, got dtype {dtype}; save a numeric array, "
            "e.g. x.astype(np.float32)"
        )
    if kind == "signal":
        if len(shape) not in (2, 3):
            raise DataError(
                f"{where}: signals must have shape (N, L) or (N, C, L), got {shape}; "
                "reshape the array to one of these"
            )
    elif len(shape) not in (2, 3, 4):
        hint = " (for one feature per sample: x.reshape(-1, 1))" if len(shape) == 1 else ""
        raise DataError(
            f"{where}: expected (N, F) features, (N, H, W) or (N, C, H, W) images, got "
            f"{shape}; reshape the array to one of these{hint}"
        )
    if shape[0] == 0:
        raise DataError(f"{where}: holds no samples (shape {shape}); it needs at least one")
    if int(np.prod(shape)) == 0:
        raise DataError(
            f"{where}: its samples hold no values (shape {shape}); every dimension after "
            "the first needs a size of at least 1"
        )


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


def load_array_file(path: Path, kind: str, memory_map: str = "auto") -> ArrayDataset:
    """The data set of an ``.npy`` or ``.npz`` file (see the module's docstring).

    An ``.npy`` is read by :func:`read_npy` (memory-mapped where it would not
    fit in memory); an ``.npz`` is loaded whole.

    Raises:
        DataError: naming the file, the problem and the fix.
    """
    with _open_array_file(path) as (f, zipped):
        if zipped:
            try:
                archive = np.load(f, allow_pickle=False)
            except (OSError, *_NPY_READ_ERRORS) as err:
                raise _read_npy_error(path, "it", err) from None
            return _load_npz(archive, path, kind)  # reads members while f is open
        x, scale = _read_open_npy(f, path, kind, memory_map)
    return split_off_test(path.stem, x, None, scale, where=path)  # type: ignore[arg-type]


def read_npy(
    path: Path, kind: str, memory_map: str = "auto"
) -> tuple[torch.Tensor | MappedRows, float]:
    """All samples of an ``.npy`` file, and the scale that brings them into [0, 1].

    A uint8 or float32 array in C order is memory-mapped (:class:`MappedRows`,
    read a batch at a time, never whole) where ``memory_map`` is ``"always"``,
    or ``"auto"`` and it would not fit in memory
    (:func:`~autoencoders.data.mapped.fits_in_memory`); other arrays are loaded
    whole (:func:`as_samples`), and one that could not fit is refused.

    Raises:
        DataError: naming the file, the problem and the fix.
    """
    with _open_array_file(path) as (f, zipped):
        if zipped:
            raise DataError(f"{path}: is an .npz archive, not an .npy file; write it with np.save")
        return _read_open_npy(f, path, kind, memory_map)


@contextlib.contextmanager
def _open_array_file(path: Path) -> Iterator[tuple[BinaryIO, bool]]:
    """The open file, and whether it is a zip archive (.npz) rather than an .npy.

    Raises:
        DataError: for a file that cannot be opened, or is neither.
    """
    try:
        f = open(path, "rb")
    except OSError as err:
        raise DataError(
            f"{path}: cannot open it ({error_reason(err)}); check that it exists and is readable"
        ) from None
    with f:
        head = f.read(len(_NPY_MAGIC))
        f.seek(0)
        if head[:4] not in _ZIP_MAGICS and head != _NPY_MAGIC:
            found = f"it starts with {head!r}" if head else "it is empty"
            raise DataError(
                f"{path}: not a NumPy .npy or .npz file ({found}); write it with np.save or "
                "np.savez"
            )
        yield f, head[:4] in _ZIP_MAGICS


def _read_open_npy(
    f: BinaryIO, path: Path, kind: str, memory_map: str
) -> tuple[torch.Tensor | MappedRows, float]:
    """:func:`read_npy` on the open file ``f``."""
    header = _npy_header(f)
    f.seek(0)
    if header is not None and _mapped(header, path, kind, memory_map):
        return _mapped_samples(path, kind, header)
    try:
        array = np.load(f, allow_pickle=False)
    except (OSError, *_NPY_READ_ERRORS) as err:
        raise _read_npy_error(path, "it", err) from None
    return as_samples(array, path, kind)


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


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` file's header says: its array's dtype, shape, order and data offset."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int


def _npy_header(f: BinaryIO) -> NpyHeader | None:
    """The header of the open ``.npy`` file ``f`` (None where it cannot be read as one).

    A header that cannot be read is left to ``np.load``, whose error names the problem.
    """
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
    except (OSError, *_NPY_READ_ERRORS):
        return None
    return NpyHeader(np.dtype(dtype), tuple(shape), bool(fortran), f.tell())


def _mapped(header: NpyHeader, path: Path, kind: str, memory_map: str) -> bool:
    """Whether to memory-map the ``.npy`` file of ``header`` rather than load it whole.

    Raises:
        DataError: for data that can be neither mapped nor held in memory.
    """
    if memory_map == "never" or header.dtype.hasobject or not header.shape:
        return False
    check_form(header.dtype, header.shape, str(path), kind)
    mappable = (
        header.dtype in MAPPABLE_DTYPES
        and header.dtype.byteorder != ">"  # a big-endian file needs converting
        and not header.fortran_order
    )
    if mappable and memory_map == "always":
        return True
    values = int(np.prod(header.shape))
    resident = values * (1 if header.dtype == np.uint8 else 4)  # as as_samples stores it
    if fits_in_memory(resident):
        return False
    if mappable:
        return True
    if not fits_in_memory(resident, share=1.0):
        order = "in Fortran order" if header.fortran_order else f"of {header.dtype}"
        raise DataError(
            f"{path}: {resident / 2**30:.1f} GiB does not fit in the memory available, and an "
            f"array {order} cannot be memory-mapped; save it as uint8 or float32 in C order, "
            "e.g. np.save(path, np.ascontiguousarray(x, dtype=np.float32))"
        )
    return False


def _mapped_samples(path: Path, kind: str, header: NpyHeader) -> tuple[MappedRows, float]:
    """The ``.npy`` file of ``header`` as samples read from a memory map.

    Raises:
        DataError: for a file shorter than its header says, or NaN or infinite values.
    """
    shape = header.shape
    needed = header.offset + int(np.prod(shape)) * header.dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise DataError(
            f"{path}: cannot read it (the header promises {needed:,} bytes but the file has "
            f"{size:,}); the file is truncated or corrupt: save it again"
        )
    sample = shape[1:]
    if kind == "signal" and len(shape) == 2:
        sample = (1, *sample)
    elif kind != "signal" and len(shape) == 3:
        sample = (1, *sample)
    x = MappedRows(path, header.offset, header.dtype, shape, sample)
    if header.dtype.kind == "f":
        _check_finite(x, path)
    return x, 255.0 if header.dtype == np.uint8 else 1.0


def _check_finite(x: MappedRows, path: Path) -> None:
    """Refuses NaN or infinite values in a map, read a chunk at a time.

    Raises:
        DataError: naming the first such value's sample and position.
    """
    done = 0
    for chunk in x.chunks():
        values = chunk.numpy()
        found = first_nonfinite(values)
        if found is not None:
            counted = f" (counted in samples {done} to {done + len(values) - 1})"
            raise _nonfinite_error(str(path), found, values, offset=done, counted=counted)
        done += len(values)


def _nonfinite_error(
    where: str,
    found: tuple[int, tuple[int, ...]],
    values: np.ndarray,
    offset: int = 0,
    counted: str = "",
) -> DataError:
    """The one-line error for NaN or infinite values: how many, and where the first is.

    ``found`` is :func:`first_nonfinite`'s answer for ``values``, whose first sample
    is sample ``offset`` of the file (a chunk of a memory-mapped one).
    """
    count, first = found
    problem, value = nonfinite_problem(count, values, first)
    at = first[1:]
    position = str(at[0]) if len(at) == 1 else str(at)
    return DataError(
        f"{where}: {problem}{counted}; the first is sample {offset + first[0]}, position "
        f"{position} within it ({value}); replace those values or drop those samples"
    )
