"""Turning batches of images into pictures for logs and notebooks."""

from __future__ import annotations

from pathlib import Path

import torch


def image_rows(rows: list[torch.Tensor], gap: int = 1) -> torch.Tensor:
    """Lays out batches of images as rows of one grid image.

    Args:
        rows: batches of shape ``(N, C, H, W)`` with values in [0, 1]; shorter
            batches leave their row's end blank.
        gap: blank pixels between images.

    Returns:
        A ``(C, rows * (H + gap) - gap, N * (W + gap) - gap)`` tensor in [0, 1].
    """
    width = max(r.shape[0] for r in rows)
    c, h, w = rows[0].shape[1:]
    grid = torch.ones(c, len(rows) * (h + gap) - gap, width * (w + gap) - gap)
    for i, row in enumerate(rows):
        for j, image in enumerate(row.detach().float().cpu().clamp(0, 1)):
            top, left = i * (h + gap), j * (w + gap)
            grid[:, top : top + h, left : left + w] = image
    return grid


def show_inline(grid: torch.Tensor, title: str) -> None:
    """Shows a grid image under a notebook cell (does nothing outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    from matplotlib.figure import Figure

    c, h, w = grid.shape
    fig = Figure(figsize=(min(12.0, w / 24), min(8.0, h / 24 + 0.4)))
    ax = fig.add_subplot()
    image = grid[0] if c == 1 else grid.permute(1, 2, 0)
    ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    display(fig)


def save_grid_png(grid: torch.Tensor, path: str | Path, scale: int = 4) -> Path:
    """Saves a ``(C, H, W)`` grid in [0, 1] as a PNG, enlarged ``scale`` times, atomically."""
    from PIL import Image

    from autoencoders.files import atomic_path

    pixels = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    array = pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
    image = Image.fromarray(array)
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)
