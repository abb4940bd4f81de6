"""The folder layout of MVTec AD, the standard benchmark of visual inspection.

::

    DIR/train/good/*.png                    normal images only: the model trains on these
    DIR/test/good/*.png                     normal test images
    DIR/test/<defect>/*.png                 anomalous test images, one folder per defect kind
    DIR/ground_truth/<defect>/<name>_mask.png   where each defect is (white on black)
    DIR/validation/good|<defect>/*.png      optional: labelled images to choose a threshold on

As a data set, ``train/good`` is the training split (the data module splits its
validation rows from it) and ``test/`` is the test split, labelled by folder
name: class 0 is ``good``, the defects follow in sorted order. ``files`` name
each row's file relative to ``DIR``. Images are read by the image-folder reader
(:func:`~autoencoders.data.sources.images.load_image_folder`), so colour, odd
formats and ``image_size`` work as for any folder of images.

Masks are read only by who needs them (:func:`read_masks`): a defect image of a
layout that has ``ground_truth/`` must have its mask, of the image's own size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autoencoders.data.errors import DataError
from autoencoders.data.sources.dataset import ArrayDataset
from autoencoders.data.sources.images import is_image_file, load_image_folder, read_image

#: the class of normal images
GOOD = "good"
#: the optional folder of labelled images a threshold may be chosen on
VALIDATION = "validation"


def is_mvtec_folder(path: Path) -> bool:
    """Whether ``path`` has the MVTec AD layout: ``train/good`` and ``test/`` folders."""
    return (path / "train" / GOOD).is_dir() and (path / "test").is_dir()


@dataclass(frozen=True)
class LabelledImages:
    """One split of the layout: images ``(N, C, H, W)``, labels (0: good), files, class names."""

    x: torch.Tensor
    y: torch.Tensor
    files: tuple[str, ...]
    classes: tuple[str, ...]
    scale: float


def read_split(
    root: Path,
    split: str,
    channels_mode: str = "auto",
    image_size: tuple[int, int] | None = None,
) -> LabelledImages:
    """The images of ``root/split`` in file order, labelled by their folder (``good`` is 0).

    Raises:
        DataError: for a split with no ``good`` folder where one is needed, or
            the image reader's errors (unreadable files, mixed sizes).
    """
    folder = root / split
    data = load_image_folder(folder, channels_mode, image_size)
    train_rows, test_rows = data.row_numbers()
    order = torch.argsort(torch.cat([train_rows, test_rows]))
    x = torch.cat([data.train_x, data.test_x])[order]
    found = data.classes or ()
    if data.train_y is None or data.test_y is None:
        raise DataError(
            f"{folder}: holds loose images; put them in {folder / GOOD} (normal) or "
            f"{folder}/<defect>/ (anomalous)"
        )
    y = torch.cat([data.train_y, data.test_y])[order]
    classes = (GOOD, *sorted(c for c in found if c != GOOD))
    relabel = torch.tensor([classes.index(c) for c in found])
    files = tuple(f"{split}/{name}" for name in (data.files or ()))
    return LabelledImages(x, relabel[y], files, classes, data.scale)


def load_mvtec_folder(
    path: Path, channels_mode: str = "auto", image_size: tuple[int, int] | None = None
) -> ArrayDataset:
    """The layout as a data set: ``train/good`` to train on, ``test/`` as the labelled test set.

    Raises:
        DataError: for anomalies under ``train/``, images of another size or
            colour in ``test/`` than in ``train/``, or the image reader's errors.
    """
    train = read_split(path, "train", channels_mode, image_size)
    if train.classes != (GOOD,):
        others = ", ".join(c for c in train.classes if c != GOOD)
        raise DataError(
            f"{path / 'train'}: holds {others} beside good; the model trains on normal images "
            f"only, so move them under {path / 'test'}"
        )
    mode = channels_mode
    if mode == "auto":  # one colour mode for both splits, whichever has colour
        mode = "rgb" if train.x.shape[1] == 3 else "auto"
    test = read_split(path, "test", mode, image_size)
    if test.x.shape[1] == 3 and train.x.shape[1] == 1:
        train = read_split(path, "train", "rgb", image_size)
    if test.x.shape[1:] != train.x.shape[1:]:
        raise DataError(
            f"{path}: test images are {_size(test.x)} but training images are {_size(train.x)}; "
            "give all images one size, or pass --image-size N (or HxW) to resize them all"
        )
    n, m = len(train.x), len(test.x)
    scale = min(train.scale, test.scale)
    x_train, x_test = _rescaled(train, scale), _rescaled(test, scale)
    return ArrayDataset(
        path.name,
        x_train,
        train.y,
        x_test,
        test.y,
        scale,
        test.classes,
        train_rows=torch.arange(n),
        test_rows=torch.arange(n, n + m),
        files=train.files + test.files,
    )


def _rescaled(images: LabelledImages, scale: float) -> torch.Tensor:
    """``images.x`` in units where ``scale`` is [0, 1] (8-bit beside 16-bit images: floats)."""
    if images.scale == scale:
        return images.x
    return images.x.float() / images.scale * scale


def _size(x: torch.Tensor) -> str:
    channels, h, w = x.shape[1:]
    return f"{w}x{h} with {channels} channel{'s' if channels > 1 else ''}"


def mask_file(root: Path, file: str) -> Path | None:
    """Where the mask of ``file`` (relative to ``root``, e.g. ``test/crack/000.png``) lies.

    None for a normal image (``good``), which has no defect to mark.
    """
    parts = Path(file).parts
    if len(parts) < 3 or parts[-2] == GOOD:
        return None
    return root / "ground_truth" / parts[-2] / f"{Path(parts[-1]).stem}_mask.png"


def has_masks(root: Path) -> bool:
    """Whether the layout marks its defects: a ``ground_truth/`` folder."""
    return (root / "ground_truth").is_dir()


def read_masks(
    root: Path, files: list[str] | tuple[str, ...], image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The defect masks of ``files`` as booleans ``(N, H, W)``; normal images' are all False.

    A mask is white (any value above half) where the defect is. It must have its
    image's size; with ``image_size`` both are resized the same way.

    Raises:
        DataError: naming a defect image's missing mask, or one of another size.
    """
    from PIL import Image

    masks = []
    for file in files:
        image = root / file
        with Image.open(image) as img:
            width, height = img.size
        size = image_size or (height, width)
        where = mask_file(root, file)
        if where is None:
            masks.append(np.zeros(size, dtype=bool))
            continue
        if not is_image_file(where):
            raise DataError(
                f"{where}: missing; the defect image {image} needs its mask there (white where "
                "the defect is), or remove the image"
            )
        with Image.open(where) as img:
            mask_w, mask_h = img.size
        if (mask_h, mask_w) != (height, width):
            raise DataError(
                f"{where} is {mask_w}x{mask_h} but its image {image} is {width}x{height}; a mask "
                "must have its image's size"
            )
        pixels = read_image(where, image_size)
        if pixels.ndim == 3:
            pixels = pixels.max(axis=2)
        limit = 0.5 if pixels.dtype != np.uint8 else 127
        masks.append(pixels > limit)
    return np.stack(masks) if masks else np.zeros((0, 0, 0), dtype=bool)
