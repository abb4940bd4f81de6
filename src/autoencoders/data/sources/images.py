"""Folders of images: colour or grey, any size, with or without class sub-folders.

A folder whose images lie directly in it is unlabelled data; a folder of
sub-folders holds one class per sub-folder (images anywhere below it belong to
it). Each image is read as it is meant to look: EXIF orientation applied,
transparency composited on white, palette, CMYK and 16-bit images converted.
``channels_mode`` picks RGB or grey (``auto``: RGB if any image has colour);
``image_size`` resizes every image (shorter side to fit, then the centre).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from autoencoders.data.errors import DataError
from autoencoders.data.sources.arrays import read_npy
from autoencoders.data.sources.cache import Allocate, cached_images
from autoencoders.data.sources.dataset import (
    USER_DATA_HELP,
    ArrayDataset,
    error_reason,
    split_off_test,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: what Pillow can raise for a file that is not a readable image
_IMAGE_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
#: modes holding more than 8 bits per pixel, read as float32 in [0, 1] (by their full range)
_DEEP_MODES = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a visible file with an image suffix."""
    return (
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def _image_files(folder: Path) -> list[Path]:
    """The image files anywhere below ``folder``, hidden folders skipped, in sorted order."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += _image_files(entry)
        elif is_image_file(entry):
            found.append(entry)
    return found


def _canonical(img):
    """``img`` upright and as one of Pillow's modes ``L``, ``RGB`` or ``F`` (floats in [0, 1]).

    Transparency is composited on white, so a cut-out reads as it is shown.
    """
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode in _DEEP_MODES or img.mode == "I":
        # 16-bit grey; Pillow reads some 16-bit files as "I" (32-bit) with 16-bit values
        values = np.asarray(img, dtype=np.float32) / 65535.0
        return Image.fromarray(np.clip(values, 0.0, 1.0), mode="F")
    if img.mode == "F":
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("1", "L"):
        return img.convert("L")
    if img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info:
        grey = img.mode in ("LA", "La", "L")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        return flat.convert("L") if grey else flat
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def _fitted(img, size: tuple[int, int] | None):
    """``img`` scaled so that it covers ``size`` (height, width), then its centre cut out."""
    if size is None or (img.height, img.width) == size:
        return img
    from PIL import Image, ImageOps

    return ImageOps.fit(img, (size[1], size[0]), Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def read_image(file: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file as ``(H, W)`` (grey) or ``(H, W, 3)`` (colour) pixels.

    uint8 for 8-bit images, float32 in [0, 1] for deeper ones; ``size`` resizes it.

    Raises:
        DataError: naming a file that cannot be read.
    """
    from PIL import Image

    try:
        with Image.open(file) as img:
            pixels = np.asarray(_fitted(_canonical(img), size))
    except (*_IMAGE_READ_ERRORS, Image.DecompressionBombError) as err:
        raise DataError(
            f"{file}: cannot read this image ({error_reason(err)}); it is truncated, corrupt or "
            "not an image: replace or remove it"
        ) from None
    if pixels.dtype == np.float32:
        return np.clip(pixels, 0.0, 1.0)  # bicubic resizing may overshoot
    if pixels.ndim == 3 and _is_grey(pixels):
        return pixels[..., 0].copy()  # colour in name only: keep one channel
    return pixels


def _is_grey(pixels: np.ndarray) -> bool:
    """Whether the channels of ``(H, W, 3)`` pixels are equal everywhere."""
    return bool(
        (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    )


def _to_grey(pixels: np.ndarray) -> np.ndarray:
    """Colour pixels as grey, with Pillow's weights and rounding (ITU-R 601-2 luma)."""
    rgb = pixels.astype(np.uint32)
    luma = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000
    return (luma >> 16).astype(np.uint8)


def _as_channels(pixels: np.ndarray, rgb: bool, deep: bool) -> np.ndarray:
    """One image as ``(C, H, W)``: 3 channels if ``rgb`` else 1; float32 [0, 1] if ``deep``."""
    if pixels.ndim == 3 and not rgb:
        pixels = _to_grey(pixels)
    if deep and pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[None], 3, axis=0) if rgb else pixels[None]
    else:
        pixels = pixels.transpose(2, 0, 1)
    return pixels


def _layout(path: Path) -> tuple[list[Path], list[int], tuple[str, ...] | None]:
    """The folder's image files, their labels and the class names (None: unlabelled).

    Raises:
        DataError: for a folder with both loose images and class sub-folders, or no images.
    """
    entries = sorted(e for e in path.iterdir() if not e.name.startswith("."))
    loose = [e for e in entries if is_image_file(e)]
    classes = [(d, _image_files(d)) for d in entries if d.is_dir()]
    classes = [(d, files) for d, files in classes if files]
    if loose and classes:
        raise DataError(
            f"{path}: holds images ({loose[0].name}, ...) beside class sub-folders "
            f"({classes[0][0].name}, ...); move the images into a class sub-folder, or give a "
            "folder of images alone for unlabelled data"
        )
    if loose:
        return loose, [], None
    if not classes:
        raise DataError(f"{path}: no images found (expected {USER_DATA_HELP})")
    files = [f for _, found in classes for f in found]
    labels = [label for label, (_, found) in enumerate(classes) for _ in found]
    return files, labels, tuple(d.name for d, _ in classes)


def load_image_folder(
    path: Path,
    channels_mode: str = "auto",
    image_size: tuple[int, int] | None = None,
    *,
    cache: Path | None = None,
    memory_map: str = "auto",
) -> ArrayDataset:
    """A folder of images as one data set (see the module's docstring).

    Args:
        path: the folder.
        channels_mode: ``"auto"`` (RGB if any image has colour, else grey), ``"rgb"`` or ``"grey"``.
        image_size: ``(height, width)`` every image is resized to; None keeps the sizes,
            which must then all be the same.
        cache: folder the images are decoded to once, and read from on later
            calls while the files are unchanged (see :mod:`autoencoders.data.sources.cache`);
            None decodes them in memory.
        memory_map: when a cache file is memory-mapped rather than loaded
            (``"auto"``, ``"always"``, ``"never"``; see :func:`load_array_file`).

    Raises:
        DataError: for an unreadable file, images of different sizes without
            ``image_size``, or a folder without images, in one line.
    """
    files, labels, classes = _layout(path)
    options = {"channels_mode": channels_mode, "image_size": image_size}

    def decode(allocate: Allocate, advance: Callable[[], None]) -> np.ndarray:
        return _decode(files, channels_mode, image_size, allocate, advance)

    def nbytes() -> int:  # as the first image would be stored, for every image
        first = read_image(files[0], image_size)
        per_image = first.size * (3 if first.ndim == 2 and channels_mode == "rgb" else 1)
        return len(files) * per_image * first.itemsize

    found = cached_images(path, files, options, decode, cache, nbytes)
    if isinstance(found, Path):
        x, _ = read_npy(found, "image", memory_map)
    else:
        x = torch.from_numpy(found)
    y = torch.tensor(labels) if classes is not None else None
    names = tuple(f.relative_to(path).as_posix() for f in files)
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    return split_off_test(path.name, x, y, scale, classes, where=path, files=names)


def _decode(
    files: list[Path],
    channels_mode: str,
    image_size: tuple[int, int] | None,
    allocate: Allocate,
    advance: Callable[[], None],
) -> np.ndarray:
    """Decodes ``files`` into one ``(N, C, H, W)`` array that ``allocate`` makes.

    The layout is chosen from the first image (grey or colour, 8 or 16 bits)
    and the channels mode; an image that needs more (colour under ``auto``,
    16 bits) restarts the decoding with that layout, so no list of decoded
    images is ever held besides the array.
    """
    first = read_image(files[0], image_size)
    rgb = channels_mode == "rgb" or (channels_mode == "auto" and first.ndim == 3)
    deep = first.dtype != np.uint8
    while True:
        x = allocate(
            np.dtype(np.float32 if deep else np.uint8),
            (len(files), 3 if rgb else 1, *first.shape[:2]),
        )
        for i, file in enumerate(files):
            pixels = first if i == 0 else read_image(file, image_size)
            if pixels.shape[:2] != first.shape[:2]:
                (h, w), (h0, w0) = pixels.shape[:2], first.shape[:2]
                raise DataError(
                    f"{file} is {w}x{h} but {files[0]} is {w0}x{h0}: all images must have the "
                    "same size; pass --image-size N (or HxW) to resize them all"
                )
            colour = pixels.ndim == 3 and channels_mode == "auto" and not rgb
            if colour or (pixels.dtype != np.uint8 and not deep):
                rgb, deep = rgb or colour, deep or pixels.dtype != np.uint8
                break  # start again with room for colour or 16 bits
            x[i] = _as_channels(pixels, rgb, deep)
            advance()
        else:
            return x
