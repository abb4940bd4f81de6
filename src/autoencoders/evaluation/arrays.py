"""Small array helpers shared by the evaluation modules."""

from __future__ import annotations

import numpy as np


def as_float(a: np.ndarray) -> np.ndarray:
    """Returns ``a`` as a float64 numpy array (accepts anything array-like, e.g. tensors).

    Args:
        a: Array-like input.

    Returns:
        A float64 copy or view of ``a``.
    """
    return np.asarray(a, dtype=np.float64)


def flat(a: np.ndarray) -> np.ndarray:
    """Reshapes ``(N, ...)`` to ``(N, F)``.

    Args:
        a: Array with samples on the first axis.

    Returns:
        The same values as a 2-D array.
    """
    return a.reshape(len(a), -1)


def check_same_shape(x: np.ndarray, x_hat: np.ndarray) -> None:
    """Raises when two arrays that must align do not.

    Args:
        x: Reference array.
        x_hat: Array that should match ``x`` in shape.

    Raises:
        ValueError: If the shapes differ; the message names both.
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"shape mismatch: x has shape {x.shape}, x_hat has shape {x_hat.shape}")


def subsample_index(n: int, max_samples: int | None, random_state: int) -> np.ndarray:
    """Sorted indices of a seeded subsample of ``max_samples`` out of ``n`` (all when fewer).

    Args:
        n: Number of items available.
        max_samples: Most items to keep; ``None`` keeps all.
        random_state: Seed of the subsample.

    Returns:
        Sorted integer indices into ``range(n)``.
    """
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=max_samples, replace=False))
