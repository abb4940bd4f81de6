"""Small shape helpers shared by encoders and decoders."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
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


def check_halvable(
    spatial: Sequence[int], num_layers: int, what: str, shape: Sequence[int]
) -> None:
    """Checks that every spatial size survives ``num_layers`` exact halvings.

    Args:
        spatial: the spatial sizes, e.g. ``(H, W)`` or ``(L,)``.
        num_layers: number of stride-2 layers.
        what: the module's name, for the message.
        shape: the whole sample shape, for the message.

    Raises:
        ValueError: naming the shape and saying how to fix it (pad, or fewer layers).
    """
    if num_layers < 1:
        raise ValueError(f"{what} needs at least one entry in channels, got {num_layers}")
    factor = 2**num_layers
    if all(s % factor == 0 for s in spatial):
        return
    most = min((s & -s).bit_length() - 1 for s in spatial)
    sizes = "x".join(str(s) for s in spatial)
    padded = "x".join(str(-(-s // factor) * factor) for s in spatial)
    advice = f"or use at most {most} stride-2 layers (fewer channels)" if most else ""
    raise ValueError(
        f"{what} with {num_layers} stride-2 layers needs sizes divisible by {factor}, but the "
        f"input shape {tuple(shape)} has {sizes}: pad the input (e.g. {sizes} to {padded}, "
        f"like 28x28 to 32x32 with pad_to=32) {advice}".rstrip()
    )


def conv_block(
    in_channels: int, out_channels: int, dims: int, *, transpose: bool = False
) -> nn.Sequential:
    """A stride-2 convolution that halves (or, transposed, doubles) each spatial size.

    ``Conv -> BatchNorm -> ReLU`` in ``dims`` (1 or 2) spatial dimensions: a 3x3
    convolution with padding 1, or a 4x4 transposed convolution with padding 1.
    """
    if dims == 2:
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        norm: type[nn.Module] = nn.BatchNorm2d
    else:
        conv = nn.ConvTranspose1d if transpose else nn.Conv1d
        norm = nn.BatchNorm1d
    kernel = 4 if transpose else 3
    return nn.Sequential(
        conv(in_channels, out_channels, kernel, stride=2, padding=1, bias=False),
        norm(out_channels),
        nn.ReLU(inplace=True),
    )


def prefer_channels_last(convs: nn.Module, dims: int) -> None:
    """Stores 2-D convolution weights channels-last (NHWC).

    oneDNN on CPU and cuDNN's tensor-core kernels run NHWC convolutions without
    layout conversions; on 2 CPU cores this makes the conv model's training step
    about a quarter faster. The values and the state dict are unchanged.
    """
    if dims == 2:
        convs.to(memory_format=torch.channels_last)


def to_conv_layout(x: torch.Tensor, dims: int) -> torch.Tensor:
    """``x`` in the layout that :func:`prefer_channels_last` weights want."""
    return x.contiguous(memory_format=torch.channels_last) if dims == 2 else x
