"""Decoders: map a code ``z`` back to the input's shape.

Every decoder produces *logits* in :meth:`Decoder.decode_logits`; ``forward``
applies the output activation (a sigmoid for data in [0, 1]). The training
module uses the logits directly, which keeps binary cross-entropy numerically
stable and cheaper than a sigmoid followed by a clamped log.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from autoencoders.choices import OUTPUT_ACTIVATIONS

# the encoders' helpers, named by their module: these layers mirror those
from autoencoders.nn import layers
from autoencoders.shapes import auto_conv_channels, check_halvable, shrinking_widths


class Decoder(nn.Module):
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
        self.output_shape = layers.as_shape(output_shape, "output_shape")
        self.layer = nn.Linear(self.latent_dim, layers.num_features(self.output_shape))

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
        self.output_shape = layers.as_shape(output_shape, "output_shape")
        widths = shrinking_widths(
            layers.num_features(self.output_shape), self.latent_dim, num_layers
        )
        self.widths = widths[::-1]
        self.layers = layers.mlp_stack(self.widths)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).view(-1, *self.output_shape)


class _StridedConvDecoder(Decoder):
    """Shared body of the 1-D and 2-D transposed-convolution decoders."""

    dims: int = 2

    def __init__(
        self,
        latent_dim: int,
        channels: Sequence[int],
        output_shape: Sequence[int],
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__(output_activation)
        self.output_shape = layers.as_shape(output_shape, "output_shape")
        if len(self.output_shape) != self.dims + 1:
            layout = "(C, H, W)" if self.dims == 2 else "(C, L)"
            raise ValueError(
                f"{type(self).__name__} needs output_shape {layout}, got {self.output_shape}"
            )
        self.latent_dim = int(latent_dim)
        if not channels and self.dims == 2:  # empty: the automatic net, as the encoder's
            channels = auto_conv_channels(self.output_shape[1:])
        self.channels = [int(c) for c in channels]
        check_halvable(
            self.output_shape[1:], len(self.channels), type(self).__name__, self.output_shape
        )
        factor = 2 ** len(self.channels)
        self.feature_shape = (self.channels[-1], *(s // factor for s in self.output_shape[1:]))
        self.head = nn.Linear(self.latent_dim, layers.num_features(self.feature_shape))
        widths = self.channels[::-1]
        blocks: list[nn.Module] = [
            layers.conv_block(a, b, self.dims, transpose=True)
            for a, b in itertools.pairwise(widths)
        ]
        last = nn.ConvTranspose2d if self.dims == 2 else nn.ConvTranspose1d
        blocks.append(last(widths[-1], self.output_shape[0], 4, stride=2, padding=1))
        self.deconvs = nn.Sequential(*blocks)
        layers.prefer_channels_last(self.deconvs, self.dims)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(
            layers.to_conv_layout(self.head(z).unflatten(1, self.feature_shape), self.dims)
        )


class ConvDecoder(_StridedConvDecoder):
    """The mirror of :class:`~autoencoders.nn.encoders.ConvEncoder`.

    A linear layer makes the smallest feature map, then 4x4 stride-2 transposed
    convolutions (``ConvTranspose2d -> BatchNorm2d -> ReLU``) double it back to
    exactly ``output_shape``; the last one outputs the image's channels.

    Args:
        latent_dim: size of the code.
        channels: the encoder's channels (used in reverse order); empty: the
            automatic ones, as :class:`~autoencoders.nn.encoders.ConvEncoder`'s.
        output_shape: ``(C, H, W)``; ``H`` and ``W`` divisible by ``2 ** len(channels)``.
        output_activation: ``"sigmoid"`` or ``"identity"``.

    Shape:
        ``(B, latent_dim) -> (B, C, H, W)``
    """

    dims = 2


class Conv1dDecoder(_StridedConvDecoder):
    """The mirror of :class:`~autoencoders.nn.encoders.Conv1dEncoder`.

    Args:
        latent_dim: size of the code.
        channels: the encoder's channels (used in reverse order).
        output_shape: ``(C, L)``; ``L`` divisible by ``2 ** len(channels)``.
        output_activation: ``"sigmoid"`` or ``"identity"``.

    Shape:
        ``(B, latent_dim) -> (B, C, L)``
    """

    dims = 1


class LSTMDecoder(Decoder):
    """Repeats the code at every time step, runs an LSTM, and maps each step to the output.

    Args:
        latent_dim: size of the code.
        hidden_size: units of the LSTM.
        output_shape: ``(C, L)`` of one signal.
        output_activation: ``"sigmoid"`` or ``"identity"``.
        num_layers: stacked LSTM layers.

    Shape:
        ``(B, latent_dim) -> (B, C, L)``
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_size: int,
        output_shape: Sequence[int],
        output_activation: str = "sigmoid",
        num_layers: int = 1,
    ) -> None:
        super().__init__(output_activation)
        self.output_shape = layers.as_shape(output_shape, "output_shape")
        if len(self.output_shape) != 2:
            raise ValueError(f"LSTMDecoder needs output_shape (C, L), got {self.output_shape}")
        self.latent_dim = int(latent_dim)
        self.lstm = nn.LSTM(
            self.latent_dim, int(hidden_size), num_layers=int(num_layers), batch_first=True
        )
        self.head = nn.Linear(int(hidden_size), self.output_shape[0])

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        steps = z.unsqueeze(1).expand(-1, self.output_shape[1], -1)
        out, _ = self.lstm(steps)
        return self.head(out).transpose(1, 2)
