"""``load_dataset``: a name or a path to one ``ArrayDataset``, and the errors for neither.

A name picks an entry of :data:`~autoencoders.data.sources.named.DATASETS`; a
path goes to the reader of its kind (IDX folder, image folder, array, table).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from autoencoders.data.errors import DataError
from autoencoders.data.sources.arrays import load_array_file
from autoencoders.data.sources.cache import image_cache_dir
from autoencoders.data.sources.dataset import USER_DATA_HELP, ArrayDataset, error_reason
from autoencoders.data.sources.images import is_image_file, load_image_folder
from autoencoders.data.sources.mvtec import is_mvtec_folder, load_mvtec_folder
from autoencoders.data.sources.named import (
    DATASETS,
    IDX_FILES,
    IDX_SOURCES,
    find_idx_folder,
    idx_dataset,
)
from autoencoders.data.sources.tables import TABLE_SUFFIXES, load_table
from autoencoders.errors import ConfigError
from autoencoders.run_config import (
    CHANNELS_MODES,
    DATA_KINDS,
    MEMORY_MAP_MODES,
    parse_image_size,
)

# one logger for the whole package, named as when it was one module
log = logging.getLogger("autoencoders.data.sources")


def _load_path(
    path: Path,
    kind: str,
    label_column: str | None = None,
    header: bool = True,
    images: dict | None = None,
    memory_map: str = "auto",
    cache: Path | None = None,
) -> ArrayDataset:
    """The reader of ``path``'s kind; ``images`` holds the image folder reader's options.

    ``memory_map`` says when an ``.npy`` (or a cached image folder) is memory-mapped,
    ``cache`` where an image folder is decoded to once (None: decoded every time).
    """
    images = images or {}
    if path.is_dir():
        files = find_idx_folder(path)
        if files is not None:
            _refuse_image_options(path, images)
            return idx_dataset(path.name, files, None)
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
        if is_mvtec_folder(path):  # train/good, test/<class>, ground_truth/
            return load_mvtec_folder(path, **images)
        if any(d.is_dir() or is_image_file(d) for d in path.iterdir()):
            return load_image_folder(path, **images, cache=cache, memory_map=memory_map)
        raise DataError(f"{path}: the folder holds no data; expected {USER_DATA_HELP}")
    _refuse_image_options(path, images)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return load_array_file(path, kind, memory_map)
    if suffix in TABLE_SUFFIXES:
        return load_table(path, label_column, header)
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected {USER_DATA_HELP}")


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
    *,
    channels_mode: str = "auto",
    image_size: str | tuple[int, int] | None = None,
    patch_size: int = 16,
    memory_map: str = "auto",
    cache_dir: str | Path | None = None,
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
        channels_mode: an image folder's channels: ``"auto"`` (RGB if any image
            has colour, else grey), ``"rgb"`` or ``"grey"``.
        image_size: ``N`` or ``"HxW"`` (or ``(H, W)``) an image folder's images are
            resized to (shorter side to fit, then the centre); None keeps their one size.
        patch_size: side of the patches of the ``photo-patches`` data sets.
        memory_map: ``"always"``, ``"never"`` or ``"auto"`` (when it would take
            over a quarter of the memory available): read a uint8 or float32
            ``.npy`` through a memory map, a batch at a time, rather than loading
            it (see :mod:`autoencoders.data.mapped`).
        cache_dir: folder an image folder is decoded to once and read from later
            (see :mod:`autoencoders.data.sources.cache`); None: the default
            (:func:`~autoencoders.data.sources.cache.default_cache_dir`); ``"none"``:
            decode in memory every time.

    Raises:
        DataError: for an unknown name, missing or unreadable files, or malformed
            data (including NaN or infinite values); the message names the file.
        ConfigError: for a ``kind`` not in :data:`~autoencoders.run_config.DATA_KINDS`, or image options out of range.
    """
    if kind not in DATA_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    if memory_map not in MEMORY_MAP_MODES:
        raise ConfigError(
            f"--memory-map must be one of {', '.join(MEMORY_MAP_MODES)}, got {memory_map!r}"
        )
    if channels_mode not in CHANNELS_MODES:
        raise ConfigError(
            f"--channels-mode must be one of {', '.join(CHANNELS_MODES)}, got {channels_mode!r}"
        )
    size = image_size
    if size is not None and not isinstance(size, tuple):
        size = parse_image_size(size)
    images = {"channels_mode": channels_mode, "image_size": size}
    data_dir = _expand(data_dir) if data_dir is not None else None
    name = str(name_or_path)
    if data_dir is not None:
        _check_data_dir(data_dir, name, download)
    try:
        if name in DATASETS:
            _refuse_image_options(name, images)
            info = DATASETS[name]
            options = {"patch_size": patch_size} if "patch_size" in info.options else {}
            return info.load(data_dir, download, **options)
        path = _expand(name)
        if path.exists():
            cache = image_cache_dir(cache_dir)
            return _load_path(path, kind, label_column, header, images, memory_map, cache)
    except OSError as err:  # a folder or file the loaders could not list or open
        where = err.filename or name
        raise DataError(
            f"{where}: cannot read it ({err.strerror or error_reason(err)}); check that it exists "
            "and is readable"
        ) from None
    raise _not_found(name)


def _refuse_image_options(source: str | Path, images: dict) -> None:
    """Refuses ``--image-size`` and ``--channels-mode`` for data that is no image folder.

    Raises:
        DataError: naming the option, since it would otherwise be ignored.
    """
    if images.get("image_size") is not None:
        given = "--image-size"
    elif images.get("channels_mode", "auto") != "auto":
        given = "--channels-mode"
    else:
        return
    raise DataError(
        f"{source} is no folder of images, so {given} (given, or the checkpoint's run's) cannot "
        f"apply to it; leave {given} out, or give a folder of images"
    )


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
