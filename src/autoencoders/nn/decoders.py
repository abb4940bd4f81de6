"""Decoders: map a code ``z`` back to the input's shape.

Every decoder produces *logits* in :meth:`Decoder.decode_logits`; ``forward``
applies the output activation (a sigmoid for data in [0, 1]). The training
module uses the logits directly, which keeps binary cross-entropy numerically
stable and cheaper than a sigmoid followed by a clamped log.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autoencoders.nn.component import Component
from autoencoders.nn.layers import as_shape, mlp_stack, num_features, shrinking_widths

OUTPUT_ACTIVATIONS = ("sigmoid", "identity")


class Decoder(Component):
    """Base class: subclasses implement :meth:`decode_logits`.

    Args:
        output_activation: ``"sigmoid"`` for data in [0, 1] (images), ``"identity"``
            for unbounded real values (signals, standardized features).
    """

    def __init__(self, output_activation: str = "sigmoid") -> None:
        super().__init__()
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"output_activation must be one of {OUTPUT_ACTIVATIONS}, got {output_activation!r}"
            )
        self.output_activation = output_activation

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.output_activation == "sigmoid" else out


class LinearDecoder(Decoder):
    """One linear layer from the code to the output (the seed's simple decoder).

    Shape:
        ``(B, latent_dim) -> (B, *output_shape)``
    """

    def __init__(
        self, latent_dim: int, output_shape: Sequence[int], output_activation: str = "sigmoid"
    ) -> None:
        super().__init__(output_activation)
        self.latent_dim = int(latent_dim)
        self.output_shape = as_shape(output_shape, "output_shape")
        self.layer = nn.Linear(self.latent_dim, num_features(self.output_shape))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.layer(z).view(-1, *self.output_shape)


class MLPDecoder(Decoder):
    """The mirror image of :class:`~autoencoders.nn.encoders.MLPEncoder`.

    Shape:
        ``(B, latent_dim) -> (B, *output_shape)``
    """

    def __init__(
        self,
        latent_dim: int,
        num_layers: int,
        output_shape: Sequence[int],
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__(output_activation)
        self.latent_dim = int(latent_dim)
        self.output_shape = as_shape(output_shape, "output_shape")
        widths = shrinking_widths(num_features(self.output_shape), self.latent_dim, num_layers)
        self.widths = widths[::-1]
        self.layers = mlp_stack(self.widths)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).view(-1, *self.output_shape)
