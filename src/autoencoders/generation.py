"""Making new data with a trained autoencoder: samples from the prior and interpolations.

Variational and vector-quantised models sample codes from their bottleneck's
prior; the others use a Gaussian fitted to their training codes (see
:meth:`autoencoders.module.AutoEncoder.sample`). Interpolations decode the
straight line between two codes; in eval mode a VAE's code is its posterior
mean, so the line runs between the two inputs' most likely codes.

Example:
    >>> import torch
    >>> from autoencoders.generation import interpolate
    >>> from autoencoders.models import build_model, make_config
    >>> model = build_model(make_config("vae", input_shape=(1, 8, 8), latent_dim=4))
    >>> interpolate(model, torch.rand(1, 8, 8), torch.rand(1, 8, 8), steps=5).shape
    torch.Size([5, 1, 8, 8])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoencoders.codecs import ModelCodec, interpolate_codes
from autoencoders.images import image_rows, save_gif, save_grid_image, tile
from autoencoders.module import AutoEncoder

#: samples per row of a saved sample grid
GRID_COLUMNS = 8


@contextlib.contextmanager
def _eval_mode(model: AutoEncoder) -> Iterator[AutoEncoder]:
    """Puts the model in eval mode without gradients, restoring its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def sample_images(
    model: AutoEncoder, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Decodes ``n`` codes drawn from the model's prior.

    Args:
        model: a trained autoencoder.
        n: number of samples.
        generator: random-number generator; the same seed gives the same samples.

    Returns:
        ``(n, *input_shape)`` outputs in the data's range, on the model's device.

    Raises:
        RuntimeError: if the model has no prior of its own and was never trained.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    with _eval_mode(model):
        return model.sample(n, generator=generator)


def interpolate(
    model: AutoEncoder, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10
) -> torch.Tensor:
    """Decodes ``steps`` evenly spaced points on the line between the codes of two inputs.

    The model runs in eval mode, so a VAE uses its posterior means. The first
    output is the reconstruction of ``x_a``, the last that of ``x_b``.

    Args:
        model: an autoencoder.
        x_a: one input, of the model's input shape (a leading batch axis of 1 is allowed).
        x_b: the other input, same shape.
        steps: number of points, endpoints included (at least 2).

    Returns:
        ``(steps, *input_shape)`` outputs.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two endpoints), got {steps}")
    with _eval_mode(model):
        pair = [_one_sample(model, x).detach().float().cpu().numpy() for x in (x_a, x_b)]
        frames = interpolate_codes(ModelCodec(model), *pair, steps=steps)
    return torch.as_tensor(frames, device=model.device)


def interpolation_pair(labels: Any) -> tuple[int, int]:
    """Two samples to interpolate between: the first, and the first of another class.

    A morph between classes tells more than one within a class; without a
    second class (or labels of -1 throughout) it is the first two samples.
    """
    y = np.asarray(labels)
    others = np.flatnonzero(y != y[0])
    return 0, int(others[0]) if len(others) else min(1, len(y) - 1)


def _one_sample(model: AutoEncoder, x: torch.Tensor) -> torch.Tensor:
    """``x`` without a leading batch axis of size 1, if the model's sample shape says it has one."""
    shape = getattr(model.decoder, "output_shape", None)
    if shape is not None and x.dim() == len(shape) + 1 and x.shape[0] == 1:
        return x[0]
    return x


def save_sample_grid(
    model: AutoEncoder,
    n: int,
    path: str | Path,
    generator: torch.Generator | None = None,
    columns: int = GRID_COLUMNS,
) -> Path:
    """Writes a PNG grid of ``n`` samples (``columns`` per row), atomically.

    Args:
        model: a trained image autoencoder (inputs ``(C, H, W)``).
        n: number of samples.
        path: the PNG file.
        generator: random-number generator for reproducible samples.
        columns: samples per row.

    Returns:
        ``path``.
    """
    images = sample_images(model, n, generator)
    _check_images(images)
    return save_grid_image(tile(images, columns), path)


def save_interpolation(
    model: AutoEncoder,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    png_path: str | Path,
    gif_path: str | Path | None = None,
    steps: int = 10,
    scale: int = 4,
    frame_ms: int = 120,
) -> tuple[Path, Path | None]:
    """Writes the interpolation between two images as a strip (PNG) and an animation (GIF).

    Args:
        model: an image autoencoder.
        x_a: the first image ``(C, H, W)``.
        x_b: the second image.
        png_path: the strip of ``steps`` images, left to right.
        gif_path: the animated GIF with one frame per step (``None``: no GIF). A
            progress bar under each frame shows how far along the line it lies; it
            also keeps every frame distinct, since GIF writers merge identical
            consecutive frames (with more steps than the bar has pixels,
            ``width * scale``, neighbouring frames may still merge).
        steps: number of images, endpoints included.
        scale: enlargement of each pixel.
        frame_ms: display time of each GIF frame.

    Returns:
        The PNG path and the GIF path (or ``None``).
    """
    images = interpolate(model, x_a, x_b, steps)
    _check_images(images)
    png = save_grid_image(image_rows([images]), png_path, scale=scale)
    gif = None
    if gif_path is not None:
        gif = save_gif(images, gif_path, frame_ms, scale=scale, progress_bar=True)
    return png, gif


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"pictures need image outputs (N, 1 or 3, H, W), got {tuple(images.shape)}; "
            "use sample_images / interpolate for other data"
        )
