"""Where data comes from: named data sets and the user's own files, as one ``ArrayDataset``."""

from __future__ import annotations

import logging
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.data.download import fetch
from autoencoders.data.errors import DataError
from autoencoders.data.idx import read_idx_pair
from autoencoders.errors import ConfigError
from autoencoders.registry import DATASET_DESCRIPTIONS

log = logging.getLogger(__name__)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
USER_DATA_HELP = (
    "a folder of the four IDX files, a .npy/.npz array, a .csv/.parquet table, "
    "or a folder of images with one sub-folder per class"
)
#: share of user data held out as a test set when it brings none
TEST_FRACTION = 0.1
#: values of ``kind`` that :func:`load_dataset` understands ("image" reads as "auto" does)
KINDS = ("auto", "image", "signal")
#: the bytes an .npy file starts with, and those of a zip archive (.npz)
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: what reading a damaged .npy/.npz can raise (besides OSError)
_NPY_READ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error, struct.error)
#: what Pillow can raise for a file that is not a readable image
_IMAGE_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


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


@dataclass(frozen=True)
class IdxSource:
    """A named IDX data set and where to find it.

    Attributes:
        description: one line for listings.
        folder: the folder name torchvision uses (``<root>/<folder>/raw``).
        mirrors: base URLs the ``.gz`` files are downloaded from.
        md5: checksum (md5 or sha256) of each downloaded ``.gz`` file, by key of ``IDX_FILES``.
        classes: class names, by label.
        system_dirs: folders where a system package installs the files (trusted:
            not checksummed, since packagers recompress them, but their shapes
            must match ``train_count``, ``test_count`` and ``image_size``).
        train_count: number of training images of the real data set.
        test_count: number of test images of the real data set.
        image_size: height and width of every image.
    """

    description: str
    folder: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    classes: tuple[str, ...] | None = None
    system_dirs: tuple[str, ...] = ()
    train_count: int = 60_000
    test_count: int = 10_000
    image_size: tuple[int, int] = (28, 28)


@dataclass(frozen=True)
class DatasetInfo:
    """An entry of :data:`DATASETS`."""

    description: str
    load: Callable[[Path | None, bool], ArrayDataset]


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# Checksums are the md5 sums of the .gz files as published by each data set's authors.
IDX_SOURCES = {
    "mnist": IdxSource(
        DATASET_DESCRIPTIONS["mnist"],
        "MNIST",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        {
            "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
            "test_images": "9fb629c4189551a2d022fa330f9573f3",
            "test_labels": "ec29112dd5afa0611ce80d1b7f3cd668",
        },
        tuple(str(i) for i in range(10)),
    ),
    "fashion-mnist": IdxSource(
        DATASET_DESCRIPTIONS["fashion-mnist"],
        "FashionMNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
            "test_images": "bef4ecab320f06d8554ea6380940ec79",
            "test_labels": "bb300cfdad3c16e7a12e480ee83cd310",
        },
        FASHION_CLASSES,
        ("/usr/share/datasets/fashion-mnist",),
    ),
    "kmnist": IdxSource(
        DATASET_DESCRIPTIONS["kmnist"],
        "KMNIST",
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        {
            "train_images": "bdb82020997e1d708af4cf47b453dcf7",
            "train_labels": "e144d726b3acfaa3e44228e80efcd344",
            "test_images": "5c965bf0a639b31b8f53240b1b52f4d7",
            "test_labels": "7320c461ea6c1c855c0b718fb2a4b134",
        },
    ),
}


def cache_dir() -> Path:
    """Where downloads go: ``$AUTOENCODERS_DATA``, else ``$XDG_CACHE_HOME/autoencoders``."""
    if os.environ.get("AUTOENCODERS_DATA"):
        return Path(os.environ["AUTOENCODERS_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autoencoders"


def _find_idx_folder(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (raw or .gz), or None if any is missing."""
    found = {}
    for key, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _candidate_folders(name: str, source: IdxSource, data_dir: Path | None) -> list[Path]:
    """Folders that may hold the IDX files of ``name``, in the order they are searched.

    Under ``data_dir``: torchvision's ``<root>/<Folder>/raw``, the folder itself,
    and ``<root>/<name>``; then the same under the cache, except the cache folder
    itself (shared by all data sets, so files there would be ambiguous); then
    system folders.
    """
    folders = []
    if data_dir is not None:
        folders += [data_dir / source.folder / "raw", data_dir, data_dir / name]
    cache = cache_dir()
    folders += [cache / source.folder / "raw", cache / name]
    return folders + [Path(d) for d in source.system_dirs]


def _load_idx_named(name: str, data_dir: Path | None, download: bool) -> ArrayDataset:
    source = IDX_SOURCES[name]
    searched = _candidate_folders(name, source, data_dir)
    system = {Path(d) for d in source.system_dirs}
    for folder in searched:
        files = _find_idx_folder(folder)
        if files is not None:
            if data_dir is not None and not data_dir.is_dir():
                # a download target that was never needed: say where the data came from
                log.info("--data-dir %s does not exist; using the %s files in %s",
                         data_dir, name, folder)  # fmt: skip
            log.debug("using %s files in %s", name, folder)
            data = _idx_dataset(name, files, source.classes)
            _check_shapes(data, source, files, full=folder in system)
            return data
    if not download:
        raise _missing(name, searched, "downloading is switched off")
    target = (data_dir or cache_dir()) / source.folder / "raw"
    try:
        files = {
            key: fetch(f"{IDX_FILES[key]}.gz", source.mirrors, target, source.md5[key])
            for key in IDX_FILES
        }
    except DataError as err:
        raise _missing(name, searched, str(err)) from None
    data = _idx_dataset(name, files, source.classes)
    _check_shapes(data, source, files, full=False)
    return data


def _check_shapes(
    data: ArrayDataset, source: IdxSource, files: dict[str, Path], full: bool
) -> None:
    """Checks the image size of a named data set and, if ``full``, its sample counts."""
    if data.sample_shape[1:] != source.image_size:
        raise DataError(
            f"{files['train_images']} holds {data.sample_shape[1]}x{data.sample_shape[2]} "
            f"images, but {data.name} has {source.image_size[0]}x{source.image_size[1]}: "
            "these are not its files; move them away or pass them as a path instead"
        )
    counts = (len(data.train_x), len(data.test_x))
    if full and counts != (source.train_count, source.test_count):
        raise DataError(
            f"{files['train_images']} and {files['test_images']} hold {counts[0]:,} and "
            f"{counts[1]:,} images, but {data.name} has {source.train_count:,} and "
            f"{source.test_count:,}; reinstall the package that provides them"
        )


def _missing(name: str, searched: list[Path], why: str) -> DataError:
    where = "\n  ".join(str(p) for p in searched)
    names = ", ".join(f"{s}[.gz]" for s in IDX_FILES.values())
    hint = "  (or: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
    return DataError(
        f"{name} is not on this machine and could not be downloaded ({why}).\n"
        f"Looked for {names} in:\n  {where}\n"
        f"Copy the four IDX files into a folder and pass --data-dir FOLDER{hint}."
    )


def _idx_dataset(
    name: str, files: dict[str, Path], classes: tuple[str, ...] | None
) -> ArrayDataset:
    train_x, train_y = read_idx_pair(files["train_images"], files["train_labels"])
    test_x, test_y = read_idx_pair(files["test_images"], files["test_labels"])
    for key, images in (("train_images", train_x), ("test_images", test_x)):
        if images.dtype != np.uint8:
            raise DataError(
                f"{files[key]}: holds images of type {images.dtype}, but only uint8 IDX "
                "images (type code 0x08) can be read; convert them, or save them as an .npy"
            )
        if images.size == 0:
            raise DataError(
                f"{files[key]}: holds no image data (shape {images.shape}); "
                "it needs at least one image of at least 1x1 pixels"
            )
    for key, labels in (("train_labels", train_y), ("test_labels", test_y)):
        _check_label_values(labels, str(files[key]))
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{files['train_images']} and {files['test_images']} hold images of different sizes "
            f"({train_x.shape[1:]} vs {test_x.shape[1:]})"
        )
    return ArrayDataset(
        name,
        torch.from_numpy(train_x).unsqueeze(1),
        torch.from_numpy(train_y),
        torch.from_numpy(test_x).unsqueeze(1),
        torch.from_numpy(test_y),
        255.0,
        classes,
    )


def _load_digits(data_dir: Path | None, download: bool) -> ArrayDataset:
    """scikit-learn's bundled 8x8 digits: 1,797 images of values 0..16, stored as uint8.

    The data set has no official test split, so a seeded permutation (seed 42)
    holds out 300 images as test and leaves 1,497 for training; the split is
    the same on every call and every machine.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return _split_off_test("digits", x, y, 16.0, tuple(str(i) for i in range(10)), n_test=300)


def _split_off_test(
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


def _reason(err: BaseException) -> str:
    """An exception's message on one line (at most 200 characters), or its type's name."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _first_nonfinite(values: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
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


def _nonfinite_problem(count: int, original: np.ndarray, first: tuple[int, ...]) -> tuple[str, str]:
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


def _as_samples(
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
        kind: one of :data:`KINDS` (see :func:`load_dataset`).
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
        found = _first_nonfinite(values) if dtype_kind == "f" else None
        if found is not None:
            count, first = found
            problem, value = _nonfinite_problem(count, array, first)
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


def _check_label_values(y: np.ndarray, where: str) -> None:
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


def _labels(
    y: np.ndarray | None, n: int, path: Path, key: str | None = None
) -> torch.Tensor | None:
    """Checks one label per sample, each a whole number from 0 up, as int64."""
    if y is None:
        return None
    where = f"{path}" if key is None else f"{path}, array {key!r}"
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{where}: {n} samples but {len(y)} labels; give one label per sample")
    _check_label_values(y, where)
    return torch.from_numpy(y.astype(np.int64))


def _read_npy_error(path: Path, what: str, err: BaseException) -> DataError:
    """The DataError for an array that np.load could not read."""
    reason = _reason(err)
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


def _load_array_file(path: Path, kind: str) -> ArrayDataset:
    try:
        f = open(path, "rb")
    except OSError as err:
        raise DataError(
            f"{path}: cannot open it ({_reason(err)}); check that it exists and is readable"
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
    x, scale = _as_samples(array, path, kind)
    return _split_off_test(path.stem, x, None, scale, where=path)


def _load_npz(archive: np.lib.npyio.NpzFile, path: Path, kind: str) -> ArrayDataset:
    """The data set of an open .npz: ``x`` and optional ``y``, ``x_test``, ``y_test``."""
    with archive:
        raw_x = _npz_member(archive, path, "x")
        if raw_x is None:
            raise DataError(
                f"{path}: an .npz needs an array named 'x' (found {sorted(archive.files)}); "
                "save it with np.savez(path, x=..., y=...)"
            )
        x, scale = _as_samples(raw_x, path, kind, "x")
        y = _labels(_npz_member(archive, path, "y"), len(x), path, "y")
        raw_test = _npz_member(archive, path, "x_test")
        if raw_test is None:
            return _split_off_test(path.stem, x, y, scale, where=path)
        x_test, test_scale = _as_samples(raw_test, path, kind, "x_test")
        y_test = _labels(_npz_member(archive, path, "y_test"), len(x_test), path, "y_test")
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


def _table_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or unsupported table can raise."""
    errors = (OSError, ValueError, TypeError, NotImplementedError, ImportError)
    try:
        import pyarrow
    except ImportError:
        return errors
    return (*errors, pyarrow.ArrowException)


#: column names read as the label column, case-insensitively, in this order of preference
LABEL_NAMES = ("label", "target", "class", "y")
#: rows of a CSV read to decide whether its first row is a header
_HEADER_SAMPLE = 1000


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(sample: Any) -> bool:
    """Whether the first row of ``sample`` (a CSV's first rows, as text) names the columns.

    It does where a column holds text above numbers. Where some column is numbers
    from its first row on, the first row is data. Where every column holds text
    (class names, say), a first row whose text never recurs below is a header.
    Empty cells decide nothing.
    """
    first, rest = sample.iloc[0], sample.iloc[1:]
    numbers_down, names = False, False
    for column in sample.columns:
        head = str(first[column]).strip()
        below = [str(v).strip() for v in rest[column] if str(v).strip()]
        below_numeric = bool(below) and all(_is_number(v) for v in below)
        if not head:
            continue
        if _is_number(head):
            numbers_down = numbers_down or below_numeric or not below
        elif below_numeric or not below:
            return True
        elif head not in below:
            names = True
    return names and not numbers_down


def _read_table(path: Path, header: bool, notes: list[str]) -> tuple[Any, bool]:
    """The table at ``path`` with string column names, and whether it had a header row.

    A CSV's header row is detected (:func:`_looks_like_header`) unless ``header``
    is false; a CSV without one gets its columns named by position, ``"0"``, ``"1"``, ....
    """
    import pandas as pd

    if path.suffix.lower() != ".csv":
        table = pd.read_parquet(path)
        table.columns = [str(c) for c in table.columns]
        return table, True
    if header:
        sample = pd.read_csv(
            path, header=None, nrows=_HEADER_SAMPLE, dtype=str, keep_default_na=False
        )
        header = _looks_like_header(sample)
        if not header:
            notes.append("no header row (the first holds numbers), columns named 0, 1, ...")
    table = pd.read_csv(path, header=0 if header else None)
    table.columns = [str(c) for c in table.columns]
    return table, header


def _drop_index_column(table: Any, header: bool, notes: list[str]) -> Any:
    """``table`` without a leading row-index column, if it has one.

    That is an unnamed first column (pandas's ``Unnamed: 0``, or the first column
    of a CSV without a header) or one named ``index``, holding 0..n-1.
    """
    import pandas as pd

    if table.shape[1] < 2:
        return table
    name = table.columns[0]
    unnamed = (
        name.startswith("Unnamed: 0") or name.lower() == "index" or (not header and name == "0")
    )
    column = table[name]
    if not unnamed or not pd.api.types.is_integer_dtype(column):
        return table
    if not np.array_equal(column.to_numpy(), np.arange(len(column))):
        return table
    notes.append(f"dropped column {name!r} (it numbers the rows 0..{len(column) - 1})")
    return table.drop(columns=[name])


def _label_column(
    table: Any, path: Path, label_column: str | None, header: bool, notes: list[str]
) -> str | None:
    """The name of the column that holds the labels, or None; says which one it took.

    ``label_column`` names it (exactly, else case-insensitively); ``"none"`` means
    no labels; ``None`` takes the first of :data:`LABEL_NAMES` the table has, else
    (in a CSV without a header) its one non-numeric column, if it has exactly one.
    """
    import pandas as pd

    columns = list(table.columns)
    lower = {c.lower(): c for c in reversed(columns)}  # the first of equal names wins
    if label_column is not None:
        if label_column.lower() == "none":
            return None
        found = label_column if label_column in columns else lower.get(label_column.lower())
        if found is None:
            shown = ", ".join(repr(c) for c in columns[:20]) + (
                ", ..." if len(columns) > 20 else ""
            )
            raise DataError(
                f"{path}: no column {label_column!r} for --label-column (columns: {shown}); "
                "give one of them, or --label-column none for unlabelled data"
            )
        notes.append(f"labels from column {found!r}")
        return found
    found = next((lower[n] for n in LABEL_NAMES if n in lower), None)
    why = "its name"
    if found is None and not header:
        # without a header no column has a name; text among numbers can only be classes
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
        found, why = (text[0], "the one column of text") if len(text) == 1 else (None, "")
    if found is None:
        notes.append(f"unlabelled (no column named {', '.join(LABEL_NAMES)})")
    else:
        notes.append(f"labels from column {found!r} ({why}; --label-column picks another)")
    return found


def _load_table(path: Path, label_column: str | None = None, header: bool = True) -> ArrayDataset:
    try:
        import pandas as pd
    except ImportError:
        raise DataError(
            f"{path}: reading tables needs pandas: pip install pandas pyarrow"
        ) from None
    notes: list[str] = []
    try:
        table, header = _read_table(path, header, notes)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty; expected a header line of column names, then one "
            "row per sample"
        ) from None
    except _table_errors() as err:
        raise DataError(f"{path}: cannot read this table ({_reason(err)})") from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: the table has no rows; add one row per sample")
    table = _drop_index_column(table, header, notes)
    y, classes = None, None
    label = _label_column(table, path, label_column, header, notes)
    if label is not None:
        labels = table.pop(label)
        if labels.isna().any():
            row = int(np.argmax(labels.isna().to_numpy()))
            raise DataError(
                f"{path}: the label column {label!r} has empty cells (the first in row {row}, "
                "counting data rows from 0); fill or drop those rows"
            )
        if pd.api.types.is_integer_dtype(labels):
            y = labels.to_numpy(dtype=np.int64)
        else:  # class names (or float codes): number them in sorted order
            values = labels.unique()
            numeric = pd.api.types.is_numeric_dtype(labels)
            names = [str(v) for v in sorted(values)] if numeric else sorted(map(str, values))
            classes = tuple(names)
            y = labels.astype(str).map({n: i for i, n in enumerate(names)}).to_numpy()
    if table.shape[1] == 0:
        raise DataError(
            f"{path}: no feature columns besides the label {label!r}; add feature columns"
        )
    for column in table.columns:
        series = table[column]
        if pd.api.types.is_complex_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            raise DataError(
                f"{path}: column {column!r} is not numeric; drop it, or pass --label-column "
                f"{column} if it holds the class"
            )
    with np.errstate(over="ignore"):  # values beyond float32 are reported below
        values = table.to_numpy(dtype=np.float32, na_value=np.nan)
    found = _first_nonfinite(values)
    if found is not None:
        count, (row, col) = found
        original = table.to_numpy(dtype=np.float64, na_value=np.nan)
        problem, value = _nonfinite_problem(count, original, (row, col))
        empty = " (an empty cell reads as NaN)" if np.isnan(original[row, col]) else ""
        raise DataError(
            f"{path}: {problem}; the first is in row {row} (counting data rows from 0), "
            f"column {table.columns[col]!r} ({value}{empty}); fill or drop those rows"
        )
    x = torch.tensor(values)  # a copy: pandas may hand out a read-only view
    y_checked = _labels(y, len(x), path)
    # said once the table is read, so that a refused table gives one line only
    log.info("%s: %s", path, "; ".join(notes))
    return _split_off_test(path.stem, x, y_checked, 1.0, classes, where=path, tabular=True)


def _read_gray(file: Path) -> np.ndarray:
    """One image file as a uint8 grayscale array; a DataError names an unreadable file."""
    from PIL import Image

    try:
        with Image.open(file) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (*_IMAGE_READ_ERRORS, Image.DecompressionBombError) as err:
        raise DataError(
            f"{file}: cannot read this image ({_reason(err)}); it is truncated, corrupt or "
            "not an image: replace or remove it"
        ) from None


def _load_image_folder(path: Path) -> ArrayDataset:
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    images, labels, names, size, first = [], [], [], None, None
    for label, folder in enumerate(class_dirs):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES or file.is_dir():
                continue
            gray = _read_gray(file)
            if size is None:
                size, first = gray.shape, file
            elif gray.shape != size:
                raise DataError(
                    f"{file} is {gray.shape[1]}x{gray.shape[0]} but {first} is "
                    f"{size[1]}x{size[0]}: all images must have the same size"
                )
            images.append(gray)
            labels.append(label)
            names.append(f"{folder.name}/{file.name}")
    if not images:
        raise DataError(f"{path}: no images found (expected {USER_DATA_HELP})")
    x = torch.from_numpy(np.stack(images)).unsqueeze(1)
    classes = tuple(d.name for d in class_dirs)
    return _split_off_test(
        path.name, x, torch.tensor(labels), 255.0, classes, where=path, files=tuple(names)
    )


def _load_path(
    path: Path, kind: str, label_column: str | None = None, header: bool = True
) -> ArrayDataset:
    if path.is_dir():
        files = _find_idx_folder(path)
        if files is not None:
            return _idx_dataset(path.name, files, None)
        present = [
            stem
            for stem in IDX_FILES.values()
            if (path / stem).is_file() or (path / f"{stem}.gz").is_file()
        ]
        if present:
            missing = [s for s in IDX_FILES.values() if s not in present]
            raise DataError(
                f"{path}: holds {', '.join(present)} but not {', '.join(missing)} "
                "(raw or .gz); copy in all four IDX files"
            )
        if any(d.is_dir() for d in path.iterdir()):
            return _load_image_folder(path)
        raise DataError(f"{path}: the folder holds no data; expected {USER_DATA_HELP}")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return _load_array_file(path, kind)
    if suffix in TABLE_SUFFIXES:
        return _load_table(path, label_column, header)
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected {USER_DATA_HELP}")


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        DATASET_DESCRIPTIONS["digits"],
        _load_digits,
    ),
    **{
        name: DatasetInfo(source.description, lambda d, dl, n=name: _load_idx_named(n, d, dl))
        for name, source in IDX_SOURCES.items()
    },
}


def _expand(path: str | Path) -> Path:
    """``path`` with a leading ``~`` expanded, or as given where that fails."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~someone for a user that does not exist
        return Path(path)


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    download: bool = True,
    kind: str = "auto",
    label_column: str | None = None,
    header: bool = True,
) -> ArrayDataset:
    """Loads a named data set or the user's own data.

    Args:
        name_or_path: a name from :data:`DATASETS`, or a path (see ``USER_DATA_HELP``).
        data_dir: folder searched first for local copies, and where downloads go.
        download: allow downloading named data sets that are not found locally.
        kind: ``"signal"`` reads 2-D/3-D ``.npy``/``.npz`` arrays as 1-D signals
            ``(N, C, L)``; ``"auto"`` (or ``"image"``) reads 2-D as features, 3-D as images.
        label_column: a table's label column (``"none"``: no labels); by default
            the first of :data:`LABEL_NAMES` it has, case-insensitively.
        header: whether a CSV's first row may name its columns (it is detected);
            ``False`` reads it as data.

    Raises:
        DataError: for an unknown name, missing or unreadable files, or malformed
            data (including NaN or infinite values); the message names the file.
        ConfigError: for a ``kind`` not in :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    data_dir = _expand(data_dir) if data_dir is not None else None
    name = str(name_or_path)
    if data_dir is not None:
        _check_data_dir(data_dir, name, download)
    try:
        if name in DATASETS:
            return DATASETS[name].load(data_dir, download)
        path = _expand(name)
        if path.exists():
            return _load_path(path, kind, label_column, header)
    except OSError as err:  # a folder or file the loaders could not list or open
        where = err.filename or name
        raise DataError(
            f"{where}: cannot read it ({err.strerror or _reason(err)}); check that it exists "
            "and is readable"
        ) from None
    raise _not_found(name)


def _check_data_dir(data_dir: Path, name: str, download: bool) -> None:
    """Refuses a ``data_dir`` that is not a folder, unless a download may create it.

    A named IDX data set that may be downloaded is the one case where a missing
    folder is expected: it is where the files go. Everywhere else the folder
    must hold data (or is not read at all), so a missing one is a typo to name.

    Raises:
        DataError: naming the folder and why it cannot be used.
    """
    if data_dir.is_dir():
        return
    if data_dir.exists():
        raise DataError(f"--data-dir {data_dir} is a file, not a folder; give a folder")
    if name in IDX_SOURCES and download:
        log.debug("--data-dir %s does not exist yet; a download would create it", data_dir)
        return
    if name in IDX_SOURCES:
        why = f"give the folder that holds the {name} files (downloading is switched off)"
    else:
        # digits ships with scikit-learn and a path names its own data: neither reads it
        why = f"{name} does not read a data folder, so leave --data-dir out"
    raise DataError(f"--data-dir {data_dir} does not exist; {why}")


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a file or folder (a suffix, a slash, ``~`` or ``.``)."""
    return "/" in name or os.sep in name or name.startswith(("~", ".")) or Path(name).suffix != ""


def _not_found(name: str) -> DataError:
    """The error for a ``--dataset`` that is neither a named data set nor an existing path.

    A name that looks like a path is a file or folder that is not there, with the
    closest entry of its folder as a hint; a bare name lists the named data sets,
    with the closest of them where one is close.
    """
    import difflib

    if not _looks_like_path(name):
        close = difflib.get_close_matches(name.lower(), list(DATASETS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return DataError(
            f"unknown data set {name!r}{hint}: choose one of {', '.join(DATASETS)}, or give a "
            f"path to {USER_DATA_HELP}"
        )
    path = _expand(name)
    folder = name.endswith(("/", os.sep)) or path.suffix == ""
    what = "folder" if folder else "file"
    parent = path.parent
    if parent.is_dir():
        try:
            entries = sorted(p.name for p in parent.iterdir() if not p.name.startswith("."))
        except OSError:
            entries = []
        close = difflib.get_close_matches(path.name, entries, n=1, cutoff=0.6)
        named = difflib.get_close_matches(path.stem.lower(), list(DATASETS), n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {parent / close[0]}?"
        elif named:
            hint = f"the named data set is --dataset {named[0]}, without a suffix"
        else:
            where = "the current folder" if str(parent) == "." else str(parent)
            hint = f"nothing of a similar name is in {where}"
    else:
        hint = f"its folder {parent} does not exist either"
    return DataError(
        f"{what} not found: {name}; {hint} (`autoencoders list-datasets` names the data sets "
        "and the files a path may be)"
    )
