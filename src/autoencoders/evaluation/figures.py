"""Figures built with matplotlib's object-oriented API (no pyplot); image grids come from :mod:`autoencoders.images`."""

from __future__ import annotations

import base64
import io
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from autoencoders.files import atomic_path
from autoencoders.images import tile

log = logging.getLogger(__name__)

#: figure width per image tile, in inches
_TILE_INCHES = 0.8


def _to_hwc(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, 3)`` float images from the shapes models produce."""
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            raise ValueError(f"flat images of {a.shape[1]} values are not square")
        return a.reshape(len(a), side, side)
    if a.ndim == 4:
        if a.shape[1] == 1:
            return a[:, 0]
        if a.shape[1] == 3:
            return a.transpose(0, 2, 3, 1)
        raise ValueError(f"expected 1 or 3 channels, got images of shape {a.shape}")
    if a.ndim == 3:
        return a
    raise ValueError(f"cannot draw images of shape {a.shape}")


def _mosaic(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """Tiles ``(N, H, W)`` or ``(N, H, W, 3)`` images, ``ncol`` per row, ``pad`` blank pixels apart."""
    batch = torch.as_tensor(images)
    batch = batch[:, None] if batch.dim() == 3 else batch.permute(0, 3, 1, 2)
    grid = tile(batch, ncol, gap=pad, border=pad)
    return (grid[0] if grid.shape[0] == 1 else grid.permute(1, 2, 0)).numpy()


def _show(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(np.clip(image, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def image_grid(images: np.ndarray, nrow: int, title: str | None = None) -> Figure:
    """A grid of images in one panel.

    Args:
        images: ``(N, H, W)``, ``(N, 1, H, W)``, ``(N, 3, H, W)`` or square flat
            ``(N, H*W)`` values in [0, 1].
        nrow: Images per row (torchvision's ``make_grid`` convention).
        title: Optional figure title.

    Returns:
        A figure with one axes.
    """
    tiles = _to_hwc(images)
    ncol = max(1, min(nrow, len(tiles)))
    rows = math.ceil(len(tiles) / ncol)
    fig = Figure(figsize=(ncol * _TILE_INCHES, rows * _TILE_INCHES + 0.4), layout="constrained")
    ax = fig.add_subplot()
    _show(ax, _mosaic(tiles, ncol))
    if title:
        fig.suptitle(title)
    return fig


def reconstruction_figure(
    x: np.ndarray, x_hat: np.ndarray, n: int = 8, title: str | None = None
) -> Figure:
    """Inputs in the top row, their reconstructions in the row below.

    Args:
        x: Inputs (any shape :func:`image_grid` accepts); the first ``n`` are drawn.
        x_hat: Reconstructions of the same inputs, in the same order.
        n: Number of pairs to draw (capped at the shorter of the two arrays).
        title: Optional figure title.

    Returns:
        A figure with two axes: inputs, then reconstructions.
    """
    n = min(n, len(x), len(x_hat))
    top, bottom = _to_hwc(np.asarray(x)[:n]), _to_hwc(np.asarray(x_hat)[:n])
    fig = Figure(figsize=(n * _TILE_INCHES, 2 * _TILE_INCHES + 0.6), layout="constrained")
    axes = fig.subplots(2, 1)
    for ax, row, label in zip(axes, (top, bottom), ("input", "reconstruction"), strict=True):
        _show(ax, _mosaic(row, n))
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def interpolation_strip(images: np.ndarray, title: str | None = None) -> Figure:
    """Decoded points along a path in code space, as one horizontal strip.

    Args:
        images: The frames in order (any shape :func:`image_grid` accepts).
        title: Optional figure title.

    Returns:
        A figure with one axes.
    """
    tiles = _to_hwc(images)
    fig = Figure(figsize=(len(tiles) * _TILE_INCHES, _TILE_INCHES + 0.5), layout="constrained")
    _show(fig.add_subplot(), _mosaic(tiles, len(tiles)))
    if title:
        fig.suptitle(title)
    return fig


def roc_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], title: str | None = None
) -> Figure:
    """ROC curves of several models on one set of axes.

    Args:
        curves: Model name to ``(fpr, tpr, auc)``.
        title: Optional axes title.

    Returns:
        A figure with one axes: a curve per model (AUC in the legend) and the
        chance diagonal.
    """
    fig = Figure(figsize=(5.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Writes a figure as PNG atomically (temporary file in the same folder, then rename).

    Args:
        fig: The figure.
        path: Destination; parent folders are created.
        dpi: Resolution.

    Returns:
        The destination path.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def figure_to_base64_png(fig: Figure, dpi: int = 120) -> str:
    """A figure as base64 PNG text, for ``<img src="data:image/png;base64,...">``.

    Args:
        fig: The figure.
        dpi: Resolution.

    Returns:
        ASCII base64 of the PNG bytes.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")
