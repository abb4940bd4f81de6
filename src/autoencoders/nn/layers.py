"""Small shape helpers shared by encoders and decoders."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import nn


def as_shape(shape: int | Sequence[int], what: str) -> tuple[int, ...]:
    """Returns ``shape`` as a tuple of positive ints, or raises a ValueError naming ``what``."""
    dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"{what} must be a non-empty shape of positive sizes, got {shape!r}")
    return dims


def num_features(shape: Sequence[int]) -> int:
    """Number of values in one sample of the given shape."""
    return math.prod(shape)


def shrinking_widths(in_features: int, latent_dim: int, num_layers: int) -> list[int]:
    """Layer widths that shrink geometrically from ``in_features`` to ``latent_dim``.

    The result has ``num_layers + 1`` entries, the first being ``in_features`` and
    the last ``latent_dim``; each step divides the width by the same factor
    ``(in_features / latent_dim) ** (1 / num_layers)``.

    Raises:
        ValueError: if the layers cannot shrink (``latent_dim >= in_features``) or a
            layer would end up with fewer units than the code (too many layers).
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
    if latent_dim >= in_features:
        raise ValueError(
            f"latent_dim={latent_dim} is not smaller than the {in_features} input features: "
            "a deep autoencoder must shrink; choose a smaller latent_dim"
        )
    ratio = (in_features / latent_dim) ** (1.0 / num_layers)
    widths = [round(in_features / ratio**i) for i in range(num_layers)] + [latent_dim]
    for i in range(1, len(widths)):
        if widths[i] >= widths[i - 1]:
            most = int(math.log2(in_features / latent_dim))
            raise ValueError(
                f"num_layers={num_layers} is too deep for {in_features} features and "
                f"latent_dim={latent_dim}: layer {i} would not shrink ({widths[i - 1]} -> "
                f"{widths[i]} units); use at most {max(most, 1)} layers"
            )
    return widths


def mlp_stack(widths: Sequence[int]) -> nn.Sequential:
    """``Linear -> BatchNorm1d -> ReLU`` blocks through ``widths``, ending in a plain ``Linear``."""
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True))
        for a, b in itertools.pairwise(widths[:-1])
    ]
    blocks.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*blocks)
