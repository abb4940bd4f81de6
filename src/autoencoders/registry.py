"""The names a user types, as plain data: model variants and named data sets.

``VARIANTS`` maps the name a user types (``autoencoders train --model NAME``,
``AutoencoderTransformer(model=NAME)``) to its config class and a one-line
description; ``DATASET_DESCRIPTIONS`` does the same for the named data sets.
This module imports no torch, so the command line can list models, data sets
and each model's defaults in a fraction of a second; building a model
(:func:`autoencoders.models.build_model`) and loading data happen elsewhere.

Example:
    >>> from autoencoders.registry import make_config
    >>> make_config("denoising").noise_ratio
    0.25
"""

from __future__ import annotations

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

#: The model ``train`` builds when none is named.
DEFAULT_MODEL = "deep"

#: Named data sets, each with one line for ``list-datasets``; their loaders are
#: :data:`autoencoders.data.DATASETS`, which takes its descriptions from here.
DATASET_DESCRIPTIONS: dict[str, str] = {
    "digits": "1,797 8x8 digits bundled with scikit-learn (offline), split 1,497 train / 300 test",
    "mnist": "70,000 28x28 handwritten digits (LeCun et al.)",
    "fashion-mnist": "70,000 28x28 images of clothes in 10 classes (Zalando Research)",
    "kmnist": "70,000 28x28 cursive Japanese characters in 10 classes (Clanuwat et al.)",
    "photo-patches": "20,000 16x16 colour patches of scikit-learn's two sample photos (offline), "
    "split 18,000 / 2,000",
    "photo-patches-grey": "the same patches in grey, the natural images of Ng's sparse "
    "autoencoder notes",
}


def variant(name: Any) -> Variant:
    """Looks a variant up by name.

    Raises:
        ConfigError: for an unknown name (or a value that is no name), listing the
            registered ones.
    """
    if isinstance(name, str) and name in VARIANTS:
        return VARIANTS[name]
    raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(VARIANTS)}")


def make_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of variant ``name`` with some fields changed (unknown fields raise)."""
    return config_from_dict({**overrides, "model": name}, variant(name).config_cls)
