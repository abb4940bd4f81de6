"""Encoders: map an input batch to a flat feature vector ``h`` per sample."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autoencoders.nn.component import Component
from autoencoders.nn.layers import as_shape, mlp_stack, num_features, shrinking_widths


class LinearEncoder(Component):
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


class MLPEncoder(Component):
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
