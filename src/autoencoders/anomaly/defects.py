"""Synthetic defects with exact masks, pasted into real images.

Real inspection data with pixel masks is rare and large; pasting known defects
into normal images of a real data set gives anomalies whose every pixel is
known, which is what pixel-level metrics need. The localisation benchmark and
the tests use these; each defect is drawn from a seeded generator.

Kinds:

* ``bright`` / ``dark``: a filled square of side ``size`` (drawn from a range),
  white or black;
* ``patch``: a square cut from another image at another place;
* ``scratch``: a thin bright line at a random angle.
"""

from __future__ import annotations

import numpy as np

#: the defect kinds :func:`paste_defects` draws
DEFECT_KINDS = ("bright", "dark", "patch", "scratch")


def paste_defects(
    images: np.ndarray,
    rng: np.random.Generator,
    kinds: tuple[str, ...] = ("bright", "dark"),
    size: tuple[int, int] = (4, 7),
    donors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One defect in each image: returns the defective images and their masks.

    Args:
        images: ``(N, C, H, W)`` floats in [0, 1] (left unchanged).
        rng: the generator every choice is drawn from.
        kinds: the kinds drawn from, uniformly (see the module's docstring).
        size: smallest and largest side of a square (and length/6 of a scratch), inclusive.
        donors: images patches are cut from (default: ``images`` themselves, another one).

    Returns:
        The images with their defects, and boolean masks ``(N, H, W)``, True
        where a pixel was changed by more than 1/255 (a defect drawn where the
        image already had that value changes nothing there, so is not marked).

    Raises:
        ValueError: for an unknown kind or a size larger than the images.
    """
    unknown = [k for k in kinds if k not in DEFECT_KINDS]
    if unknown:
        raise ValueError(f"unknown defect kinds {unknown}; choose from {DEFECT_KINDS}")
    x = np.array(images, dtype=np.float32, copy=True)
    n, _, h, w = x.shape
    if size[1] >= min(h, w) or size[0] < 1 or size[0] > size[1]:
        raise ValueError(f"defect size {size} does not fit {h}x{w} images")
    own = donors is None  # patches come from the other images of the batch
    donors = x.copy() if own else np.asarray(donors, dtype=np.float32)
    for i in range(n):
        kind = kinds[rng.integers(len(kinds))]
        side = int(rng.integers(size[0], size[1] + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        window = (slice(None), slice(top, top + side), slice(left, left + side))
        if kind == "bright":
            x[i][window] = 1.0
        elif kind == "dark":
            x[i][window] = 0.0
        elif kind == "patch":
            j = int(rng.integers(len(donors) - 1 if own else len(donors)))
            j += int(own and j >= i)  # never the image itself
            sy, sx = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            x[i][window] = donors[j, :, sy : sy + side, sx : sx + side]
        else:
            x[i] = _scratched(x[i], rng, length=6 * side)
    masks = np.abs(x - np.asarray(images, dtype=np.float32)).max(axis=1) > 1.0 / 255.0
    return x, masks


def _scratched(image: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
    """``image`` with a one-pixel bright line of about ``length`` pixels at a random angle."""
    _, h, w = image.shape
    angle = rng.uniform(0.0, np.pi)
    cy, cx = rng.uniform(0.25 * h, 0.75 * h), rng.uniform(0.25 * w, 0.75 * w)
    t = np.linspace(-length / 2, length / 2, 4 * length)
    ys = np.clip(np.round(cy + t * np.sin(angle)).astype(int), 0, h - 1)
    xs = np.clip(np.round(cx + t * np.cos(angle)).astype(int), 0, w - 1)
    out = image.copy()
    out[:, ys, xs] = 1.0
    return out
