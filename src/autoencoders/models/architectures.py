"""Encoder/decoder families a config can ask for by name (``ModelConfig.architecture``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from autoencoders.config import ModelConfig
from autoencoders.nn.decoders import (
    Conv1dDecoder,
    ConvDecoder,
    LinearDecoder,
    LSTMDecoder,
    MLPDecoder,
)
from autoencoders.nn.encoders import (
    Conv1dEncoder,
    ConvEncoder,
    LinearEncoder,
    LSTMEncoder,
    MLPEncoder,
)

#: (config, encoder output size) -> (encoder, decoder)
BackboneBuilder = Callable[[ModelConfig, int], tuple[nn.Module, nn.Module]]


def _linear(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    return (
        LinearEncoder(cfg.input_shape, h_dim),
        LinearDecoder(cfg.latent_dim, cfg.input_shape, cfg.output_activation),
    )


def _mlp(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    return (
        MLPEncoder(cfg.input_shape, cfg.num_layers, h_dim),
        MLPDecoder(cfg.latent_dim, cfg.num_layers, cfg.input_shape, cfg.output_activation),
    )


def _conv(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    # conv_channels(): a config never validated with its shape may still say "automatic"
    channels = cfg.conv_channels()
    return (
        ConvEncoder(cfg.input_shape, channels, h_dim),
        ConvDecoder(cfg.latent_dim, channels, cfg.input_shape, cfg.output_activation),
    )


def _conv1d(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    channels = cfg.conv_channels()
    return (
        Conv1dEncoder(cfg.input_shape, channels, h_dim),
        Conv1dDecoder(cfg.latent_dim, channels, cfg.input_shape, cfg.output_activation),
    )


#: LSTM width of configs that have no ``hidden_size`` field
DEFAULT_LSTM_HIDDEN = 64


def _lstm(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    hidden = int(getattr(cfg, "hidden_size", DEFAULT_LSTM_HIDDEN))
    return (
        LSTMEncoder(cfg.input_shape, hidden, h_dim),
        LSTMDecoder(cfg.latent_dim, hidden, cfg.input_shape, cfg.output_activation),
    )


ARCHITECTURES: dict[str, BackboneBuilder] = {
    "linear": _linear,
    "mlp": _mlp,
    "conv": _conv,
    "conv1d": _conv1d,
    "lstm": _lstm,
}


def build_backbone(cfg: ModelConfig, h_dim: int) -> tuple[nn.Module, nn.Module]:
    """Builds the encoder (``input_shape -> h_dim``) and decoder (``latent_dim -> input_shape``).

    Raises:
        ValueError: for an unknown architecture, listing the valid ones.
    """
    builder = ARCHITECTURES.get(cfg.architecture)
    if builder is None:
        raise ValueError(
            f"unknown architecture {cfg.architecture!r}; choose one of {sorted(ARCHITECTURES)}"
        )
    return builder(cfg, h_dim)
