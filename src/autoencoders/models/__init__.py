"""Models from configs: :func:`build_model` turns a config into a trainable module.

The registry of variants, ``VARIANTS``, is plain data in :mod:`autoencoders.registry`
(every variant is named there, and only there); it is re-exported here with
``make_config`` and ``variant``. A variant with parts of its own (a bottleneck,
a loss term, a training module) lists them in ``PARTS`` (:mod:`.parts`).

Example:
    >>> from autoencoders.models import VARIANTS, build_model, make_config
    >>> cfg = make_config("deep", input_shape=(1, 8, 8), latent_dim=4, num_layers=2)
    >>> model = build_model(cfg)
    >>> model.encode(__import__("torch").rand(5, 1, 8, 8)).shape
    torch.Size([5, 4])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoencoders.config import ModelConfig, config_from_dict
from autoencoders.models.architectures import ARCHITECTURES, build_backbone
from autoencoders.models.parts import PARTS, Parts, loss_terms, parts_for
from autoencoders.models.stacked import StackedAutoEncoder
from autoencoders.module import AutoEncoder

# The registry itself is torch-free data (autoencoders.registry); re-exported here
# because this is where a model is built from it.
from autoencoders.registry import VARIANTS, Variant, make_config, variant


def build_model(cfg: ModelConfig | Mapping[str, Any]) -> AutoEncoder:
    """Builds the trainable model a config describes.

    Args:
        cfg: a config object, or its dict form (as stored in ``config.json``).
    """
    if isinstance(cfg, Mapping):
        name = str(cfg.get("model", "deep"))
        cfg = config_from_dict(dict(cfg), variant(name).config_cls)
    parts = parts_for(cfg)
    bottleneck = parts.bottleneck(cfg)
    encoder, decoder = build_backbone(cfg, bottleneck.in_features)
    return parts.module(encoder, bottleneck, decoder, cfg, loss_terms=loss_terms(cfg))


__all__ = [
    "ARCHITECTURES",
    "PARTS",
    "VARIANTS",
    "Parts",
    "StackedAutoEncoder",
    "Variant",
    "build_model",
    "make_config",
    "variant",
]
