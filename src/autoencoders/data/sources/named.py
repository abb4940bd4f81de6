"""The named data sets: the IDX data sets (MNIST and kin), scikit-learn's digits and photo patches.

An IDX data set is looked for in the user's folder, the cache and system
folders, and downloaded where none holds it; :data:`DATASETS` maps each name
to its loader.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.data.download import fetch
from autoencoders.data.errors import DataError
from autoencoders.data.idx import read_idx_pair
from autoencoders.data.sources.dataset import ArrayDataset, check_label_values, split_off_test
from autoencoders.registry import DATASET_DESCRIPTIONS

# one logger for the whole package, named as when it was one module
log = logging.getLogger("autoencoders.data.sources")

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


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
    """An entry of :data:`DATASETS`: ``load(data_dir, download, **options)``.

    ``options`` names the keyword options ``load`` takes (``patch_size``).
    """

    description: str
    load: Callable[..., ArrayDataset]
    options: tuple[str, ...] = ()


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


def find_idx_folder(folder: Path) -> dict[str, Path] | None:
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
        files = find_idx_folder(folder)
        if files is not None:
            if data_dir is not None and not data_dir.is_dir():
                # a download target that was never needed: say where the data came from
                log.info("--data-dir %s does not exist; using the %s files in %s",
                         data_dir, name, folder)  # fmt: skip
            log.debug("using %s files in %s", name, folder)
            data = idx_dataset(name, files, source.classes)
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
    data = idx_dataset(name, files, source.classes)
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


def idx_dataset(name: str, files: dict[str, Path], classes: tuple[str, ...] | None) -> ArrayDataset:
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
        check_label_values(labels, str(files[key]))
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
    return split_off_test("digits", x, y, 16.0, tuple(str(i) for i in range(10)), n_test=300)


#: photo-patches: how many patches, how many of them are the test set, the seed of their places
PATCH_COUNT, PATCH_TEST, PATCH_SEED = 20_000, 2_000, 0


def _load_photo_patches(
    data_dir: Path | None, download: bool, *, patch_size: int = 16, grey: bool = False
) -> ArrayDataset:
    """Square patches cut at seeded random places from scikit-learn's two sample photos.

    The photos (china.jpg, flower.jpg, 427x640 colour) ship with scikit-learn, so
    this works offline. Each of the :data:`PATCH_COUNT` patches comes from a
    photo picked at random and a random place in it, all drawn with the fixed
    :data:`PATCH_SEED`, so the data set is the same on every call and machine;
    its label is the photo (``china``, ``flower``). The grey variant converts the
    photos with Pillow's luma weights first. The natural-image patches of the
    sparse autoencoder lecture notes (Ng, CS294A), in colour and at any size.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    photos = [np.asarray(p, dtype=np.uint8) for p in bunch.images]
    if grey:
        photos = [np.asarray(Image.fromarray(p).convert("L"))[..., None] for p in photos]
    height = min(p.shape[0] for p in photos)
    width = min(p.shape[1] for p in photos)
    if not 1 <= patch_size <= min(height, width):
        raise DataError(
            f"--patch-size {patch_size} does not fit the {height}x{width} photos of photo-patches; "
            f"give 1 to {min(height, width)}"
        )
    rng = np.random.default_rng(PATCH_SEED)
    which = rng.integers(0, len(photos), PATCH_COUNT)
    tops = rng.integers(0, height - patch_size + 1, PATCH_COUNT)
    lefts = rng.integers(0, width - patch_size + 1, PATCH_COUNT)
    span = np.arange(patch_size)
    x = np.empty((PATCH_COUNT, patch_size, patch_size, photos[0].shape[2]), dtype=np.uint8)
    for i, photo in enumerate(photos):  # one gather per photo
        rows = np.flatnonzero(which == i)
        r = (tops[rows, None] + span)[:, :, None]
        c = (lefts[rows, None] + span)[:, None, :]
        x[rows] = photo[r, c]
    classes = tuple(Path(f).stem for f in bunch.filenames)
    name = "photo-patches-grey" if grey else "photo-patches"
    images = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(which.astype(np.int64))
    return split_off_test(name, images, labels, 255.0, classes, n_test=PATCH_TEST)


def _photo_patches(grey: bool) -> Callable[..., ArrayDataset]:
    def load(data_dir: Path | None, download: bool, **options: Any) -> ArrayDataset:
        return _load_photo_patches(data_dir, download, grey=grey, **options)

    return load


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        DATASET_DESCRIPTIONS["digits"],
        _load_digits,
    ),
    **{
        name: DatasetInfo(source.description, lambda d, dl, n=name: _load_idx_named(n, d, dl))
        for name, source in IDX_SOURCES.items()
    },
    **{
        name: DatasetInfo(DATASET_DESCRIPTIONS[name], _photo_patches(grey), ("patch_size",))
        for name, grey in (("photo-patches", False), ("photo-patches-grey", True))
    },
}
