"""Denoising quality: is the model's output closer to the clean input than its noisy input?"""

from __future__ import annotations

import math

import numpy as np

from autoencoders.evaluation.arrays import as_float, check_same_shape
from autoencoders.evaluation.reconstruction import per_sample_errors


def _ratio(before: float, after: float) -> float:
    """``before / after``, infinite when ``after`` is zero and ``before`` is not."""
    if after > 0:
        return before / after
    return math.inf if before > 0 else math.nan


def denoising_metrics(
    x_clean: np.ndarray, x_noisy: np.ndarray, x_hat: np.ndarray
) -> dict[str, float]:
    """Errors of a denoiser's output and of its corrupted input, both against the clean data.

    Args:
        x_clean: Uncorrupted inputs in [0, 1], shape ``(N, ...)``.
        x_noisy: The corrupted inputs that were fed to the model, same shape.
        x_hat: The model's outputs for ``x_noisy``, same shape.

    Returns:
        Dict with ``recon_sse_per_image`` and ``recon_bce_per_image`` (output vs
        clean), ``noisy_sse_per_image`` and ``noisy_bce_per_image`` (corrupted input
        vs clean; the noisy values are clipped to ``[1e-6, 1 - 1e-6]`` for the
        cross-entropy, like any prediction), and ``improvement`` (noisy SSE divided by
        output SSE: above 1 means the model removed noise, ``inf`` for a perfect
        output) with ``improvement_bce``, the same ratio for the cross-entropy. The
        cross-entropy of the output has a floor (the entropy of the clean pixels), so
        its ratio is smaller than the SSE one.

    Raises:
        ValueError: If any two shapes differ; the message names both.
    """
    x_clean, x_noisy, x_hat = as_float(x_clean), as_float(x_noisy), as_float(x_hat)
    check_same_shape(x_clean, x_noisy)
    check_same_shape(x_clean, x_hat)
    recon_sse = float(per_sample_errors(x_clean, x_hat, "sse").mean())
    noisy_sse = float(per_sample_errors(x_clean, x_noisy, "sse").mean())
    recon_bce = float(per_sample_errors(x_clean, x_hat, "bce").mean())
    noisy_bce = float(per_sample_errors(x_clean, x_noisy, "bce").mean())
    return {
        "recon_sse_per_image": recon_sse,
        "noisy_sse_per_image": noisy_sse,
        "recon_bce_per_image": recon_bce,
        "noisy_bce_per_image": noisy_bce,
        "improvement": _ratio(noisy_sse, recon_sse),
        "improvement_bce": _ratio(noisy_bce, recon_bce),
    }
