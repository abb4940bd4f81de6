"""Encoder/decoder families a config can ask for by name (``ModelConfig.architecture``)."""

from __future__ import annotations

from collections.abc import Callable

from autoencoders.config import ModelConfig
from autoencoders.nn.component import Component
from autoencoders.nn.decoders import LinearDecoder, MLPDecoder
from autoencoders.nn.encoders import LinearEncoder, MLPEncoder

#: (config, encoder output size) -> (encoder, decoder)
BackboneBuilder = Callable[[ModelConfig, int], tuple[Component, Component]]


def _linear(cfg: ModelConfig, h_dim: int) -> tuple[Component, Component]:
    return (
        LinearEncoder(cfg.input_shape, h_dim),
        LinearDecoder(cfg.latent_dim, cfg.input_shape, cfg.output_activation),
    )


def _mlp(cfg: ModelConfig, h_dim: int) -> tuple[Component, Component]:
    return (
        MLPEncoder(cfg.input_shape, cfg.num_layers, h_dim),
        MLPDecoder(cfg.latent_dim, cfg.num_layers, cfg.input_shape, cfg.output_activation),
    )


ARCHITECTURES: dict[str, BackboneBuilder] = {
    "linear": _linear,
    "mlp": _mlp,
}


def build_backbone(cfg: ModelConfig, h_dim: int) -> tuple[Component, Component]:
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
