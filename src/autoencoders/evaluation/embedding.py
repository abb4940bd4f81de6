"""Two-dimensional maps of codes (PCA, UMAP, t-SNE) and a figure comparing them."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

from autoencoders.evaluation.arrays import subsample_index

log = logging.getLogger(__name__)

_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}
_umap_module: Any = None


def load_umap() -> Any:
    """Imports ``umap`` with its numba functions cached on disk.

    umap compiles most of its numba functions without ``cache=True``, which costs
    ~30 s in every new process (digits bake-off: a third of ``make demo``).
    Turning numba's own on-disk cache on for them pays that once per install:
    the compiled code lands beside umap's sources (or in ``NUMBA_CACHE_DIR``),
    keyed by the source file and numba's version, so an upgrade recompiles.
    """
    global _umap_module
    if _umap_module is None:
        import importlib

        import umap  # slow to import (numba); only the maps and the density clustering need it
        from numba.core.dispatcher import Dispatcher

        for part in ("umap_", "layouts", "utils", "spectral", "distances", "sparse"):
            module = importlib.import_module(f"umap.{part}")
            for fn in vars(module).values():
                # only umap's own functions, each once (modules import each other's)
                if (isinstance(fn, Dispatcher) and fn.py_func.__module__.startswith("umap.")
                        and type(fn._cache).__name__ == "NullCache"):  # fmt: skip
                    try:
                        fn.enable_caching()
                    except Exception as err:  # e.g. a read-only install: compile as before
                        log.debug("numba cache off for %s: %s", fn.__name__, err)
        _umap_module = umap
    return _umap_module


def project_2d(
    z: np.ndarray, method: str = "pca", max_samples: int = 5000, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Maps codes to two dimensions.

    PCA uses every code (codes that already have two dimensions are returned as
    they are). UMAP and t-SNE, which scale worse, use a seeded subsample of at most
    ``max_samples`` codes.

    Args:
        z: Codes, shape ``(N, D)``.
        method: ``"pca"``, ``"umap"`` or ``"tsne"``.
        max_samples: Most codes mapped by UMAP and t-SNE.
        random_state: Seed of the subsample and of the method.

    Returns:
        ``(coords, sample_index)``: ``(n, 2)`` coordinates, and the sorted indices
        into ``z`` of the ``n`` codes they belong to.

    Raises:
        ValueError: If ``method`` is unknown.
    """
    if method not in _NAMES:
        raise ValueError(f"unknown projection {method!r}; expected one of {tuple(_NAMES)}")
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if z.shape[1] < 2:
        z = np.hstack([z, np.zeros((len(z), 2 - z.shape[1]))])
    if method == "pca":
        idx = np.arange(len(z))
        if z.shape[1] == 2:
            return z, idx
        return PCA(n_components=2, random_state=random_state).fit_transform(z), idx
    idx = subsample_index(len(z), max_samples, random_state)
    sub = z[idx]
    if method == "umap":
        umap = load_umap()

        k = min(15, len(sub) - 1)
        # Exact neighbours from scikit-learn (0.1 s for 5,000 codes) instead of umap's
        # NN-descent, whose numba compilation costs ~40 s in every new process.
        dist, nbr = NearestNeighbors(n_neighbors=k).fit(sub).kneighbors(sub)
        with warnings.catch_warnings():
            # a fixed random_state forces one thread; without an NN-descent index umap
            # cannot map new points later, which we never ask of it
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
            reducer = umap.UMAP(
                n_components=2,
                n_neighbors=k,
                random_state=random_state,
                precomputed_knn=(nbr, dist, None),
            )
            return reducer.fit_transform(sub), idx
    perplexity = min(30.0, (len(sub) - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state)
    return tsne.fit_transform(sub), idx


def _title(method: str, used: int, total: int) -> str:
    name = _NAMES[method]
    if used < total:
        return f"{name} ({used:,} of {total:,} points)"
    return f"{name} ({total:,} points)"


def embedding_figure(
    z: np.ndarray,
    y: np.ndarray,
    methods: Sequence[str] = ("pca", "umap", "tsne"),
    max_samples: int = 3000,
    random_state: int = 0,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Side-by-side 2-D maps of codes, one panel per method, coloured by label.

    Every panel shows the same seeded subsample of at most ``max_samples`` codes.

    Args:
        z: Codes, shape ``(N, D)``.
        y: Integer labels, shape ``(N,)``.
        methods: Projections to draw, any of ``"pca"``, ``"umap"``, ``"tsne"``.
        max_samples: Most codes drawn.
        random_state: Seed of the subsample and of the projections.
        class_names: Optional legend name for each label value (indexed by label).

    Returns:
        A figure with one axes per method, titled e.g. "UMAP (3,000 of 10,000 points)".
    """
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    y = np.asarray(y)
    sub = subsample_index(len(z), max_samples, random_state)
    z_sub, y_sub = z[sub], y[sub]
    classes = np.unique(y_sub)
    cmap = "tab10" if len(classes) <= 10 else "tab20"
    fig = Figure(figsize=(4.2 * len(methods) + 1.2, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods), squeeze=False)[0])
    colours = colormaps[cmap]
    for ax, method in zip(axes, methods, strict=True):
        coords, idx = project_2d(z_sub, method, max_samples=len(z_sub), random_state=random_state)
        labels = y_sub[idx]
        for i, cls in enumerate(classes):
            mask = labels == cls
            name = class_names[int(cls)] if class_names is not None else str(cls)
            ax.scatter(
                coords[mask, 0],
                coords[mask, 1],
                s=3,
                alpha=0.7,
                color=colours(i % colours.N),
                label=name,
                rasterized=True,
            )
        ax.set_title(_title(method, len(idx), len(z)))
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right center", markerscale=4, frameon=False, fontsize=8)
    return fig
