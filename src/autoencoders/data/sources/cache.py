"""Image folders decoded once into a ``.npy`` file, which later runs memory-map.

Decoding (and resizing) every image of a folder costs far more than a
training epoch over the pixels, and holding the decoded folder in memory
limits it to what fits. So the first run decodes the folder into one uint8
(or, for 16-bit images, float32) ``.npy`` of shape ``(N, C, H, W)``, written
under a temporary name and renamed when complete; later runs, and the
commands that read a trained model's data (``evaluate``, ``score``,
``explore``, ...), read that file instead, memory-mapped where it would not
fit in memory (:mod:`autoencoders.data.mapped`).

A cache file is named by the folder's path and a key: every image's relative
path, size and modification time, and the options that change the pixels
(channels, image size). A file added, removed, replaced or touched changes
the key, so the stale file is never read: the folder is decoded again and the
old file deleted. The default folder is the user's cache
(:func:`default_cache_dir`), not one beside the images: data folders are often
read-only or shared, and a hidden folder among the images would travel with
them. A cache folder that cannot be written is warned about, and the images
are decoded in memory as without a cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autoencoders.data.errors import DataError
from autoencoders.data.mapped import fits_in_memory
from autoencoders.data.sources.named import cache_dir
from autoencoders.errors import RunFolderError
from autoencoders.files import atomic_path

log = logging.getLogger(__name__)

#: changes whenever the decoding changes, so that older cache files are not read
CACHE_VERSION = 1
#: the value of ``--cache-dir`` that switches the cache off
NO_CACHE = "none"

#: makes an array of a dtype and shape for the decoder to fill
Allocate = Callable[[np.dtype, tuple[int, ...]], np.ndarray]
#: decodes a folder into arrays it asks ``Allocate`` for, calling ``progress`` per image
Decode = Callable[[Allocate, Callable[[], None]], np.ndarray]


def default_cache_dir() -> Path:
    """``images`` in the download cache: ``$AUTOENCODERS_DATA``, else ``~/.cache/autoencoders``."""
    return cache_dir() / "images"


def image_cache_dir(option: str | Path | None) -> Path | None:
    """The folder ``--cache-dir`` names: None is the default, ``"none"`` no cache (None)."""
    if option is None:
        return default_cache_dir()
    if str(option).strip().lower() == NO_CACHE:
        return None
    return Path(option).expanduser()


def cache_key(folder: Path, files: list[Path], options: dict[str, object]) -> str:
    """A digest of the folder's files (names, sizes, modification times) and the options.

    Raises:
        OSError: for a file that can no longer be read (removed while listing).
    """
    listing = []
    for file in files:
        info = file.stat()
        listing.append([file.relative_to(folder).as_posix(), info.st_size, info.st_mtime_ns])
    text = json.dumps({"version": CACHE_VERSION, "options": options, "files": listing})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _prefix(folder: Path) -> str:
    """The start of the names of a folder's cache files: its name and a digest of its path."""
    where = str(folder.expanduser().resolve())
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in folder.name) or "images"
    return f"{name}-{hashlib.sha1(where.encode()).hexdigest()[:10]}-"


def cached_images(
    folder: Path,
    files: list[Path],
    options: dict[str, object],
    decode: Decode,
    cache: Path | None,
    nbytes: Callable[[], int] = lambda: 0,
) -> Path | np.ndarray:
    """The folder's decoded images: the path of its cache file, or an array in memory.

    A current cache file is reused; otherwise ``decode`` fills a new one,
    written atomically (the stale file of the same folder is removed), with a
    progress bar on a terminal. With no ``cache``, or one that cannot be
    written (a warning says so), ``decode`` fills arrays in memory instead.

    Args:
        folder: the image folder.
        files: its image files, in the order of the data set's rows.
        options: the reading options that change the pixels (part of the key).
        decode: fills the array it is given the means to make (see :data:`Decode`).
        cache: the cache folder, or None for none.
        nbytes: about how many bytes the decoded images take (asked only when they
            are to be decoded in memory), so that images that could not fit
            there are refused rather than decoded.

    Raises:
        DataError: where the images must be decoded in memory but cannot fit.
    """
    if cache is None:
        _check_fits(folder, nbytes(), "--cache-dir is none")
        return decode(_in_memory, lambda: None)
    target = cache / f"{_prefix(folder)}{cache_key(folder, files, options)}.npy"
    if target.is_file():
        log.debug("%s: decoded images read from %s", folder, target)
        return target
    try:
        _write(target, folder, len(files), decode)
    except (OSError, RunFolderError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        log.warning(
            "%s: cannot write the image cache in %s (%s); decoding the images in memory "
            "instead (choose a writable --cache-dir, or --cache-dir none to skip this)",
            folder,
            cache,
            reason,
        )
        _check_fits(folder, nbytes(), f"the cache folder {cache} cannot be written ({reason})")
        return decode(_in_memory, lambda: None)
    for old in cache.glob(f"{_prefix(folder)}*.npy"):
        if old != target:  # the same folder's stale cache
            old.unlink(missing_ok=True)
    return target


def _check_fits(folder: Path, nbytes: int, why: str) -> None:
    """Refuses to decode images in memory that could not fit there.

    Raises:
        DataError: naming the size, why there is no cache file, and the fix.
    """
    if not fits_in_memory(nbytes, share=1.0):
        raise DataError(
            f"{folder}: its images take about {nbytes / 2**30:.1f} GiB decoded, more than the "
            f"memory available, and {why}; give a writable --cache-dir, where they are decoded "
            "once and then read a batch at a time"
        )


def _in_memory(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def _write(target: Path, folder: Path, count: int, decode: Decode) -> None:
    """Decodes into a temporary ``.npy`` beside ``target``, which it then becomes."""
    from tqdm.auto import tqdm

    with atomic_path(target) as tmp:
        opened: list[np.memmap] = []

        def allocate(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
            opened.clear()  # a restarted decode (deeper images found) starts a new file
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            opened.append(array)
            return array

        bar = tqdm(
            total=count,
            desc=f"decoding {folder.name}",
            unit="img",
            file=sys.stderr,
            disable=not _is_terminal(),
            leave=False,
        )
        with bar:
            decode(allocate, lambda: bar.update(1))
        for array in opened:
            array.flush()
        opened.clear()
    log.info("%s: %d images decoded once into %s", folder, count, target)


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["NO_CACHE", "cache_key", "cached_images", "default_cache_dir", "image_cache_dir"]
