"""The model registry: every autoencoder variant is added here, and only here.

``VARIANTS`` maps the name a user types (``autoencoders train --model NAME``,
``AutoencoderTransformer(model=NAME)``) to its config class and a one-line
description. The command line, the estimator, ``list-models`` and the contract
tests all read this dict.

Example:
    >>> from autoencoders.models import VARIANTS, build_model, make_config
    >>> cfg = make_config("deep", input_shape=(1, 8, 8), latent_dim=4, num_layers=2)
    >>> model = build_model(cfg)
    >>> model.encode(__import__("torch").rand(5, 1, 8, 8)).shape
    torch.Size([5, 4])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoencoders.config import (
    BetaVAEConfig,
    ContractiveConfig,
    ConvConfig,
    DeepConfig,
    DenoisingConfig,
    LooseBetaVAEConfig,
    ModelConfig,
    SequenceConfig,
    SimpleConfig,
    SparseConfig,
    StackedConfig,
    VAEConfig,
    VQConfig,
    config_from_dict,
)
from autoencoders.errors import ConfigError
from autoencoders.models.architectures import ARCHITECTURES, build_backbone
from autoencoders.models.stacked import StackedAutoEncoder
from autoencoders.module import AutoEncoder


@dataclass(frozen=True)
class Variant:
    """A registered model: its config class and what it is, in one line."""

    config_cls: type[ModelConfig]
    description: str


VARIANTS: dict[str, Variant] = {
    "simple": Variant(SimpleConfig, "one linear layer each way; the linear baseline"),
    "deep": Variant(DeepConfig, "deep fully connected encoder and decoder (BatchNorm, ReLU)"),
    "denoising": Variant(DenoisingConfig, "deep autoencoder trained to undo salt-and-pepper noise"),
    "sparse": Variant(SparseConfig, "deep autoencoder with a sparsity penalty on a sigmoid code"),
    "conv": Variant(ConvConfig, "convolutional encoder and transposed-convolution decoder"),
    "vae": Variant(VAEConfig, "variational autoencoder: Gaussian code, KL to N(0, I), can sample"),
    "beta-vae": Variant(BetaVAEConfig, "beta-VAE with beta=2: smoother code, blurrier images"),
    "beta-vae-loose": Variant(
        LooseBetaVAEConfig, "beta-VAE with beta=0.5: sharper images, less regular code"
    ),
    "vq": Variant(VQConfig, "vector-quantised code: groups snap to a learned 512-entry codebook"),
    "contractive": Variant(
        ContractiveConfig, "deep autoencoder penalising the encoder Jacobian's norm"
    ),
    "stacked": Variant(StackedConfig, "deep autoencoder pre-trained layer by layer, then tuned"),
    "sequence": Variant(SequenceConfig, "1-D signal autoencoder (strided conv1d, or lstm)"),
}


def variant(name: str) -> Variant:
    """Looks a variant up by name.

    Raises:
        ValueError: for an unknown name, listing the registered ones.
    """
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(VARIANTS)}") from None


def make_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of variant ``name`` with some fields changed (unknown fields raise)."""
    return config_from_dict({**overrides, "model": name}, variant(name).config_cls)


def build_model(cfg: ModelConfig | Mapping[str, Any]) -> AutoEncoder:
    """Builds the trainable model a config describes.

    Args:
        cfg: a config object, or its dict form (as stored in ``config.json``).
    """
    if isinstance(cfg, Mapping):
        name = str(cfg.get("model", "deep"))
        cfg = config_from_dict(dict(cfg), variant(name).config_cls)
    bottleneck = cfg.make_bottleneck()
    encoder, decoder = build_backbone(cfg, bottleneck.in_features)
    return cfg.module_class()(encoder, bottleneck, decoder, cfg)


__all__ = [
    "ARCHITECTURES",
    "VARIANTS",
    "StackedAutoEncoder",
    "Variant",
    "build_model",
    "make_config",
    "variant",
]
