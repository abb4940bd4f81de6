"""What each variant is built from, beyond its encoder and decoder.

A config says *which* model (plain data, :mod:`autoencoders.config`); this
module says what its variant is made of: the bottleneck between encoder and
decoder, the loss terms added to the reconstruction error, and the
LightningModule class that trains it. ``PARTS`` is keyed by config class and
read along the class's bases, so a variant that inherits a config (beta-VAE
from VAE) inherits its parts unless it has an entry of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from autoencoders.config import (
    ContractiveConfig,
    ModelConfig,
    SparseConfig,
    StackedConfig,
    VAEConfig,
    VQConfig,
)
from autoencoders.losses import BottleneckLoss, ContractivePenalty, LossTerm
from autoencoders.models.stacked import StackedAutoEncoder
from autoencoders.module import AutoEncoder
from autoencoders.nn.bottlenecks import (
    Bottleneck,
    IdentityBottleneck,
    SparseBottleneck,
    VariationalBottleneck,
    VectorQuantizer,
)


def _no_terms(cfg: ModelConfig) -> list[LossTerm]:
    return []


@dataclass(frozen=True)
class Parts:
    """A variant's parts, each made from its config.

    Attributes:
        bottleneck: the bottleneck (``latent_dim`` wide, taking
            ``cfg.encoder_features()`` values from the encoder).
        extra_terms: loss terms besides the reconstruction error and the
            bottleneck's own loss (which every model has).
        module: the LightningModule class; it reads its settings from ``cfg``.
    """

    bottleneck: Callable[[ModelConfig], Bottleneck] = lambda cfg: IdentityBottleneck(cfg.latent_dim)
    extra_terms: Callable[[ModelConfig], list[LossTerm]] = field(default=_no_terms)
    module: type[AutoEncoder] = AutoEncoder


def _vector_quantizer(cfg: VQConfig) -> Bottleneck:
    # the quantiser's parameters are the config's fields, under the same names
    names = ("num_codes", "code_dim", "commitment", "ema", "decay", "dead_after")
    return VectorQuantizer(cfg.latent_dim, **{n: getattr(cfg, n) for n in names})


#: Variants with parts of their own, by config class (subclasses inherit them).
PARTS: dict[type[ModelConfig], Parts] = {
    SparseConfig: Parts(
        bottleneck=lambda cfg: SparseBottleneck(
            cfg.latent_dim, cfg.sparse_loss, cfg.sparsity, cfg.sparse_weight
        )
    ),
    VAEConfig: Parts(
        bottleneck=lambda cfg: VariationalBottleneck(cfg.latent_dim, cfg.beta, cfg.kl_warmup_steps)
    ),
    VQConfig: Parts(bottleneck=_vector_quantizer),
    ContractiveConfig: Parts(extra_terms=lambda cfg: [ContractivePenalty(cfg.contractive_weight)]),
    StackedConfig: Parts(module=StackedAutoEncoder),
}


def parts_for(cfg: ModelConfig) -> Parts:
    """The parts of ``cfg``'s variant: its class's entry, else its nearest base's."""
    for cls in type(cfg).__mro__:
        if cls in PARTS:
            return PARTS[cls]
    return Parts()


def make_bottleneck(cfg: ModelConfig) -> Bottleneck:
    """The bottleneck ``cfg``'s variant puts between encoder and decoder."""
    return parts_for(cfg).bottleneck(cfg)


def loss_terms(cfg: ModelConfig) -> list[LossTerm]:
    """Every term added to the reconstruction error (see :mod:`autoencoders.losses`)."""
    return [BottleneckLoss(), *parts_for(cfg).extra_terms(cfg)]
