"""Where data comes from: named data sets and the user's own files, as one ``ArrayDataset``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autoencoders.data.download import fetch
from autoencoders.data.errors import DataError
from autoencoders.data.idx import read_idx_pair

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


@dataclass(frozen=True)
class ArrayDataset:
    """A whole data set in memory.

    ``*_x`` hold uint8 (0..255) or float32 values of shape ``(N, C, H, W)`` for
    images, ``(N, F)`` for feature vectors or ``(N, C, L)`` for signals; divide
    by ``scale`` to get [0, 1] (``scale`` is 1 for float data). Labels are int64,
    or ``None`` when the data is unlabelled.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor | None
    scale: float = 255.0
    classes: tuple[str, ...] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3


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
        "70,000 28x28 handwritten digits (LeCun et al.)",
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
        "70,000 28x28 images of clothes in 10 classes (Zalando Research)",
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
        "70,000 28x28 cursive Japanese characters in 10 classes (Clanuwat et al.)",
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
) -> ArrayDataset:
    """Holds out a seeded random test set (``TEST_FRACTION`` unless ``n_test`` is given)."""
    n = len(x)
    n_test = n_test if n_test is not None else max(1, round(n * TEST_FRACTION))
    if n < 2:
        raise DataError(f"{name}: needs at least 2 samples, got {n}")
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
    )


def _as_samples(array: np.ndarray, path: Path, kind: str) -> tuple[torch.Tensor, float]:
    """Gives an array the ``(N, ...)`` layout and a scale for [0, 1]."""
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: expected a numeric array, got dtype {array.dtype}")
    if kind == "signal":
        if array.ndim == 2:
            array = array[:, None, :]
        if array.ndim != 3:
            raise DataError(
                f"{path}: signals must have shape (N, L) or (N, C, L), got {array.shape}"
            )
    elif array.ndim == 3:
        array = array[:, None]
    elif array.ndim not in (2, 4):
        raise DataError(
            f"{path}: expected (N, F) features, (N, H, W) or (N, C, H, W) images, got {array.shape}"
        )
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array)), 255.0
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)), 1.0


def _labels(y: np.ndarray | None, n: int, path: Path) -> torch.Tensor | None:
    if y is None:
        return None
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{path}: {n} samples but {len(y)} labels")
    return torch.from_numpy(y.astype(np.int64))


def _load_array_file(path: Path, kind: str) -> ArrayDataset:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise DataError(f"{path}: cannot read it without unpickling objects ({err})") from None
    if isinstance(loaded, np.ndarray):
        x, scale = _as_samples(loaded, path, kind)
        return _split_off_test(path.stem, x, None, scale)
    with loaded:
        if "x" not in loaded:
            raise DataError(f"{path}: an .npz needs an array named 'x' (found {sorted(loaded)})")
        x, scale = _as_samples(loaded["x"], path, kind)
        y = _labels(loaded["y"] if "y" in loaded else None, len(x), path)
        if "x_test" not in loaded:
            return _split_off_test(path.stem, x, y, scale)
        x_test, _ = _as_samples(loaded["x_test"], path, kind)
        y_test = _labels(loaded["y_test"] if "y_test" in loaded else None, len(x_test), path)
        return ArrayDataset(path.stem, x, y, x_test.to(x.dtype), y_test, scale)


def _load_table(path: Path) -> ArrayDataset:
    try:
        import pandas as pd
    except ImportError:
        raise DataError(
            f"{path}: reading tables needs pandas: pip install pandas pyarrow"
        ) from None
    try:
        table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as err:
        raise DataError(f"{path}: cannot read this table ({err})") from None
    y, classes = None, None
    if "label" in table.columns:
        labels = table.pop("label")
        if labels.isna().any():
            raise DataError(f"{path}: the 'label' column has empty cells; fill or drop those rows")
        if pd.api.types.is_integer_dtype(labels):
            y = labels.to_numpy()
        else:  # class names (or float codes): number them in sorted order
            names = sorted(labels.astype(str).unique())
            classes = tuple(names)
            y = labels.astype(str).map({n: i for i, n in enumerate(names)}).to_numpy()
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise DataError(
                f"{path}: column {column!r} is not numeric; drop it, or name it 'label' if it "
                "holds the class"
            )
    if table.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides 'label'")
    x = torch.tensor(table.to_numpy(dtype=np.float32))
    return _split_off_test(path.stem, x, _labels(y, len(x), path), 1.0, classes)


def _load_image_folder(path: Path) -> ArrayDataset:
    from PIL import Image

    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    images, labels, size, first = [], [], None, None
    for label, folder in enumerate(class_dirs):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(file) as img:
                gray = np.asarray(img.convert("L"), dtype=np.uint8)
            if size is None:
                size, first = gray.shape, file
            elif gray.shape != size:
                raise DataError(
                    f"{file} is {gray.shape[1]}x{gray.shape[0]} but {first} is "
                    f"{size[1]}x{size[0]}: all images must have the same size"
                )
            images.append(gray)
            labels.append(label)
    if not images:
        raise DataError(f"{path}: no images found (expected {USER_DATA_HELP})")
    x = torch.from_numpy(np.stack(images)).unsqueeze(1)
    classes = tuple(d.name for d in class_dirs)
    return _split_off_test(path.name, x, torch.tensor(labels), 255.0, classes)


def _load_path(path: Path, kind: str) -> ArrayDataset:
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
        return _load_table(path)
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected {USER_DATA_HELP}")


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "1,797 8x8 digits bundled with scikit-learn (offline), split 1,497 train / 300 test",
        _load_digits,
    ),
    **{
        name: DatasetInfo(source.description, lambda d, dl, n=name: _load_idx_named(n, d, dl))
        for name, source in IDX_SOURCES.items()
    },
}


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    download: bool = True,
    kind: str = "auto",
) -> ArrayDataset:
    """Loads a named data set or the user's own data.

    Args:
        name_or_path: a name from :data:`DATASETS`, or a path (see ``USER_DATA_HELP``).
        data_dir: folder searched first for local copies, and where downloads go.
        download: allow downloading named data sets that are not found locally.
        kind: ``"signal"`` reads 2-D/3-D ``.npy``/``.npz`` arrays as 1-D signals
            ``(N, C, L)``; ``"auto"`` reads 2-D as features, 3-D as images.

    Raises:
        DataError: for an unknown name, missing files, or malformed data.
    """
    data_dir = Path(data_dir).expanduser() if data_dir is not None else None
    name = str(name_or_path)
    if name in DATASETS:
        return DATASETS[name].load(data_dir, download)
    path = Path(name).expanduser()
    if path.exists():
        return _load_path(path, kind)
    raise DataError(
        f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}, or give a path to "
        f"{USER_DATA_HELP}"
    )
