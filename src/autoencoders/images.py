"""Pictures from batches of images: grids, PNG and GIF files, inline display.

Everything that lays images out or writes them as pixels is here; matplotlib
figures (with axes and titles) are in :mod:`autoencoders.evaluation.figures`,
and use these grids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from autoencoders.errors import ConfigError
from autoencoders.files import atomic_path


def image_rows(rows: Sequence[torch.Tensor], gap: int = 1) -> torch.Tensor:
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


def tile(images: torch.Tensor, columns: int, gap: int = 1, border: int = 0) -> torch.Tensor:
    """``(N, C, H, W)`` images as one ``(C, H', W')`` grid, ``columns`` to a row, blank-framed."""
    columns = max(int(columns), 1)
    grid = image_rows([images[i : i + columns] for i in range(0, len(images), columns)], gap)
    return F.pad(grid, (border,) * 4, value=1.0) if border else grid


def to_pixels(grid: torch.Tensor) -> np.ndarray:
    """A ``(C, H, W)`` image in [0, 1] as 8-bit pixels: ``(H, W)`` for grey, ``(H, W, 3)`` for colour."""
    pixels = (grid.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()


#: file suffix -> Pillow format, for the pictures the commands write
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
}


def image_format(path: str | Path) -> str:
    """The Pillow format that ``path``'s suffix names; refuses a suffix no picture has."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ConfigError(
            f"cannot tell a picture format from {str(path)!r}: "
            f"end the name with one of {', '.join(IMAGE_FORMATS)}"
        )
    return IMAGE_FORMATS[suffix]


def save_grid_image(grid: torch.Tensor, path: str | Path, scale: int = 4) -> Path:
    """Saves a ``(C, H, W)`` grid in [0, 1], enlarged ``scale`` times, atomically.

    The format is the one the suffix names (``.png``, ``.jpg``, ``.webp``, ...),
    so a file called ``s.jpg`` holds JPEG bytes.
    """
    from PIL import Image

    fmt = image_format(path)
    image = Image.fromarray(to_pixels(grid))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt)
    return Path(path)


def save_gif(
    frames: torch.Tensor | np.ndarray,
    path: str | Path,
    frame_ms: int = 120,
    *,
    scale: int = 1,
    progress_bar: bool = False,
) -> Path:
    """Writes frames in [0, 1] as an endlessly looping GIF, atomically.

    GIF writers merge identical consecutive frames, so a GIF of repeated frames
    has fewer frames than ``frames``, unless ``progress_bar`` draws a bar under
    each frame that grows as the animation advances (it also shows where the
    loop starts).

    Args:
        frames: ``(T, H, W)`` grey or ``(T, C, H, W)`` frames, ``C`` 1 or 3.
        path: the GIF file; parent folders are created.
        frame_ms: display time of each frame.
        scale: enlargement of each pixel.
        progress_bar: draw the growing bar.

    Raises:
        ValueError: for frames of another shape.
    """
    from PIL import Image

    frames = torch.as_tensor(np.asarray(frames) if isinstance(frames, np.ndarray) else frames)
    if frames.dim() == 3:
        frames = frames[:, None]
    if frames.dim() != 4 or frames.shape[1] not in (1, 3) or len(frames) == 0:
        raise ValueError(
            f"a GIF needs frames (T, H, W) or (T, 1 or 3, H, W), got shape {tuple(frames.shape)}"
        )
    n, c, h, w = frames.shape
    width, bar = w * scale, (max(scale // 2, 1) if progress_bar else 0)
    images = []
    for i, frame in enumerate(frames):
        image = Image.fromarray(to_pixels(frame)).resize((width, h * scale), Image.NEAREST)
        if progress_bar:
            canvas = Image.new(image.mode, (width, h * scale + 2 * bar), 0)
            canvas.paste(image, (0, 0))
            filled = max(1, round(width * (i + 1) / n))
            white = 255 if c == 1 else (255, 255, 255)
            canvas.paste(white, (0, h * scale + bar, filled, h * scale + 2 * bar))
            image = canvas
        images.append(image)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=frame_ms,
            loop=0,
        )
    return Path(path)


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
