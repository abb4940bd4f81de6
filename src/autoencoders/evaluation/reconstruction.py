"""Reconstruction quality of inputs against their reconstructions, from arrays only."""

from __future__ import annotations

import logging
import math

import numpy as np

from autoencoders.evaluation.arrays import as_float, check_same_shape, flat

log = logging.getLogger(__name__)

#: PSNR reported for a perfect reconstruction (mean squared error below ``_MSE_FLOOR``)
_MSE_FLOOR = 1e-10
#: SSIM stabilising constants for data range 1 (Wang et al., 2004)
_SSIM_K1, _SSIM_K2 = 0.01, 0.03
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5
#: images per SSIM block, to bound the memory of the filtered copies
_CHUNK = 1024


def _bce_rows(x: np.ndarray, x_hat: np.ndarray, eps: float) -> np.ndarray:
    p = np.clip(x_hat, eps, 1.0 - eps)
    return -(x * np.log(p) + (1.0 - x) * np.log1p(-p)).sum(axis=1)


def per_sample_errors(
    x: np.ndarray, x_hat: np.ndarray, kind: str = "bce", eps: float = 1e-6
) -> np.ndarray:
    """Reconstruction error of every sample, summed over its features.

    Args:
        x: Inputs in [0, 1], shape ``(N, ...)``.
        x_hat: Reconstructions with the same shape as ``x``.
        kind: ``"bce"`` (binary cross-entropy, ``x_hat`` clipped to ``[eps, 1 - eps]``)
            or ``"sse"`` (sum of squared errors).
        eps: Clipping margin of the cross-entropy.

    Returns:
        Array of shape ``(N,)``; higher means a worse reconstruction.

    Raises:
        ValueError: If the shapes differ or ``kind`` is unknown.
    """
    x, x_hat = as_float(x), as_float(x_hat)
    check_same_shape(x, x_hat)
    xf, hf = flat(x), flat(x_hat)
    if kind == "bce":
        return _bce_rows(xf, hf, eps)
    if kind == "sse":
        return ((xf - hf) ** 2).sum(axis=1)
    raise ValueError(f"unknown error kind {kind!r}; expected 'bce' or 'sse'")


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2.0
    w = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return w / w.sum()


def _filter_valid(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of the last two axes of ``a`` with the 1-D window ``w``."""
    k = len(w)
    rows = a.shape[-2] - k + 1
    cols = a.shape[-1] - k + 1
    out = sum(w[i] * a[..., i : i + rows, :] for i in range(k))
    return sum(w[j] * out[..., :, j : j + cols] for j in range(k))


def _as_images(x: np.ndarray) -> np.ndarray | None:
    """``(N, C, H, W)`` view of image input, or ``None`` for flat ``(N, F)`` features."""
    if x.ndim == 4:
        return x
    if x.ndim == 3:
        return x[:, None]
    return None


def ssim_per_image(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Structural similarity of every image pair (data range 1), averaged over channels.

    Uses a Gaussian window (sigma 1.5) of width 11, clipped to the largest odd width
    that fits the image so that 8x8 images work, and 'valid' filtering (no padding).

    Args:
        x: Reference images, ``(N, C, H, W)`` or ``(N, H, W)``.
        x_hat: Images with the same shape.

    Returns:
        Array of shape ``(N,)`` with values in [-1, 1]; 1 means identical.

    Raises:
        ValueError: If the shapes differ or the input is not images.
    """
    x, x_hat = as_float(x), as_float(x_hat)
    check_same_shape(x, x_hat)
    a, b = _as_images(x), _as_images(x_hat)
    if a is None or b is None:
        raise ValueError(f"SSIM needs images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    size = min(_SSIM_WINDOW, a.shape[-2], a.shape[-1])
    if size % 2 == 0:
        size -= 1
    w = _gaussian_window(size, _SSIM_SIGMA)
    parts = [_ssim_rows(a[i : i + _CHUNK], b[i : i + _CHUNK], w) for i in range(0, len(a), _CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _ssim_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    mu_a, mu_b = _filter_valid(a, w), _filter_valid(b, w)
    var_a = _filter_valid(a * a, w) - mu_a**2
    var_b = _filter_valid(b * b, w) - mu_b**2
    cov = _filter_valid(a * b, w) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim_map.reshape(len(a), -1).mean(axis=1)


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray, eps: float = 1e-6) -> dict[str, float]:
    """Standard reconstruction metrics of a set of inputs and their reconstructions.

    Args:
        x: Inputs in [0, 1], shape ``(N, C, H, W)``, ``(N, H, W)`` or ``(N, F)``.
        x_hat: Reconstructions with the same shape as ``x``.
        eps: ``x_hat`` is clipped to ``[eps, 1 - eps]`` for the cross-entropy.

    Returns:
        Dict with ``bce_per_image`` (binary cross-entropy summed over pixels, averaged
        over images), ``sse_per_image`` (squared error, same reduction), ``mse`` (mean
        over all values), ``psnr`` (per-image PSNR in dB for data range 1, averaged;
        a perfect reconstruction counts as ``10 * log10(1 / 1e-10)`` = 100 dB instead of
        infinity) and ``ssim`` (mean SSIM; ``nan`` for flat ``(N, F)`` features).

    Raises:
        ValueError: If the shapes differ; the message names both.
    """
    x, x_hat = as_float(x), as_float(x_hat)
    check_same_shape(x, x_hat)
    xf, hf = flat(x), flat(x_hat)
    sq = (xf - hf) ** 2
    mse_rows = sq.mean(axis=1)
    psnr_rows = 10.0 * np.log10(1.0 / np.maximum(mse_rows, _MSE_FLOOR))
    ssim = float(ssim_per_image(x, x_hat).mean()) if x.ndim in (3, 4) else math.nan
    return {
        "bce_per_image": float(_bce_rows(xf, hf, eps).mean()),
        "sse_per_image": float(sq.sum(axis=1).mean()),
        "mse": float(sq.mean()),
        "psnr": float(psnr_rows.mean()),
        "ssim": ssim,
    }
