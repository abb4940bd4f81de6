"""Encoders: map an input batch to a flat feature vector ``h`` per sample."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from autoencoders.nn.layers import (
    as_shape,
    conv_block,
    mlp_stack,
    num_features,
    prefer_channels_last,
    to_conv_layout,
)
from autoencoders.shapes import auto_conv_channels, check_halvable, shrinking_widths


class LinearEncoder(nn.Module):
    """One linear layer from the flattened input to the code (the seed's simple encoder).

    Args:
        input_shape: shape of one sample, e.g. ``(1, 32, 32)``.
        latent_dim: size of the output vector.

    Shape:
        ``(B, *input_shape) -> (B, latent_dim)``
    """

    def __init__(self, input_shape: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.input_shape = as_shape(input_shape, "input_shape")
        self.latent_dim = int(latent_dim)
        self.layer = nn.Linear(num_features(self.input_shape), self.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.flatten(1))


class MLPEncoder(nn.Module):
    """A deep fully connected encoder with geometrically shrinking widths.

    Each hidden layer is ``Linear -> BatchNorm1d -> ReLU``; the last layer is a
    plain ``Linear`` onto ``latent_dim`` units.

    Args:
        input_shape: shape of one sample.
        num_layers: number of linear layers (at least 1).
        latent_dim: size of the output vector.

    Shape:
        ``(B, *input_shape) -> (B, latent_dim)``
    """

    def __init__(self, input_shape: Sequence[int], num_layers: int, latent_dim: int) -> None:
        super().__init__()
        self.input_shape = as_shape(input_shape, "input_shape")
        self.latent_dim = int(latent_dim)
        self.widths = shrinking_widths(num_features(self.input_shape), self.latent_dim, num_layers)
        self.layers = mlp_stack(self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class _StridedConvEncoder(nn.Module):
    """Shared body of the 1-D and 2-D convolutional encoders."""

    dims: int = 2

    def __init__(
        self, input_shape: Sequence[int], channels: Sequence[int], latent_dim: int
    ) -> None:
        super().__init__()
        self.input_shape = as_shape(input_shape, "input_shape")
        if len(self.input_shape) != self.dims + 1:
            layout = "(C, H, W)" if self.dims == 2 else "(C, L)"
            raise ValueError(
                f"{type(self).__name__} needs input_shape {layout}, got {self.input_shape}"
            )
        if not channels and self.dims == 2:  # empty: the automatic net for this image size
            channels = auto_conv_channels(self.input_shape[1:])
        self.channels = [int(c) for c in channels]
        self.latent_dim = int(latent_dim)
        check_halvable(
            self.input_shape[1:], len(self.channels), type(self).__name__, self.input_shape
        )
        widths = [self.input_shape[0], *self.channels]
        self.convs = nn.Sequential(
            *(conv_block(a, b, self.dims) for a, b in itertools.pairwise(widths))
        )
        factor = 2 ** len(self.channels)
        self.feature_shape = (self.channels[-1], *(s // factor for s in self.input_shape[1:]))
        self.head = nn.Linear(num_features(self.feature_shape), self.latent_dim)
        prefer_channels_last(self.convs, self.dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # `flatten` copies a channels_last tensor into the row-major order the head expects.
        return self.head(self.convs(to_conv_layout(x, self.dims)).flatten(1))


class ConvEncoder(_StridedConvEncoder):
    """Stride-2 3x3 convolutions (``Conv2d -> BatchNorm2d -> ReLU``), then a linear head.

    Each layer halves the height and width, so both must be divisible by
    ``2 ** len(channels)``; 28x28 images are padded to 32x32 first.

    Args:
        input_shape: ``(C, H, W)`` of one image.
        channels: output channels of the convolutions, one entry per layer; empty:
            :func:`autoencoders.shapes.auto_conv_channels` (stride-2 layers down to
            about 4x4).
        latent_dim: size of the output vector.

    Raises:
        ValueError: if the height or width cannot be halved ``len(channels)`` times.

    Shape:
        ``(B, C, H, W) -> (B, latent_dim)``
    """

    dims = 2


class Conv1dEncoder(_StridedConvEncoder):
    """Stride-2 convolutions over time (``Conv1d -> BatchNorm1d -> ReLU``), then a linear head.

    Args:
        input_shape: ``(C, L)`` of one signal; ``L`` divisible by ``2 ** len(channels)``.
        channels: output channels of the convolutions, one entry per layer.
        latent_dim: size of the output vector.

    Raises:
        ValueError: if the length cannot be halved ``len(channels)`` times.

    Shape:
        ``(B, C, L) -> (B, latent_dim)``
    """

    dims = 1


class LSTMEncoder(nn.Module):
    """An LSTM reads the signal step by step; its last hidden state is mapped to the code.

    Args:
        input_shape: ``(C, L)`` of one signal (``C`` features per time step).
        hidden_size: units of the LSTM.
        latent_dim: size of the output vector.
        num_layers: stacked LSTM layers.

    Shape:
        ``(B, C, L) -> (B, latent_dim)``
    """

    def __init__(
        self, input_shape: Sequence[int], hidden_size: int, latent_dim: int, num_layers: int = 1
    ) -> None:
        super().__init__()
        self.input_shape = as_shape(input_shape, "input_shape")
        if len(self.input_shape) != 2:
            raise ValueError(f"LSTMEncoder needs input_shape (C, L), got {self.input_shape}")
        self.latent_dim = int(latent_dim)
        self.lstm = nn.LSTM(
            self.input_shape[0], int(hidden_size), num_layers=int(num_layers), batch_first=True
        )
        self.head = nn.Linear(int(hidden_size), self.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x.transpose(1, 2))
        return self.head(h_n[-1])
