"""Layers shared by encoders and decoders.

The torch-free size rules they follow are in :mod:`autoencoders.shapes`.
"""

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


def mlp_stack(widths: Sequence[int]) -> nn.Sequential:
    """``Linear -> BatchNorm1d -> ReLU`` blocks through ``widths``, ending in a plain ``Linear``."""
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True))
        for a, b in itertools.pairwise(widths[:-1])
    ]
    blocks.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*blocks)


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
