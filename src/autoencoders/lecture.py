"""The lecture notebook's names, kept so the notebook runs as written: a compatibility layer.

The notebook this project grew from builds its models by hand from parts,
``AutoEncoder(SimpleEncoder(...), SimpleBlottleneck(...), SimpleDecoder(...), lr=...)``,
and imports them from ``autoencoders.models.simple`` / ``.deep`` / ``.sparse``,
``autoencoders.lightning_extension`` and ``autoencoders.scripts.run``. Those
modules re-export what is defined here, and nothing else.

Everything here stands on the one model description, the config: the lecture's
:class:`AutoEncoder` reads the config that describes its parts
(:func:`config_for_parts`), so its checkpoints carry that config and
:func:`autoencoders.load` rebuilds them like any other. Defaults are the
command line's (:mod:`autoencoders.config`): the lecture's package had its own
(a sparsity target of 0.25, batches of 32); the notebook passes the values it
relies on (its sparse model uses the ``log`` penalty, which has no target).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from autoencoders import module
from autoencoders.checkpoint import load
from autoencoders.config import ModelConfig, SparseConfig
from autoencoders.errors import ConfigError
from autoencoders.models import build_model, make_config
from autoencoders.nn import bottlenecks
from autoencoders.nn.bottlenecks import IdentityBottleneck
from autoencoders.nn.decoders import LinearDecoder, MLPDecoder
from autoencoders.nn.encoders import LinearEncoder, MLPEncoder
from autoencoders.training import fit

SimpleEncoder = LinearEncoder
SimpleDecoder = LinearDecoder
SimpleBottleneck = IdentityBottleneck
#: the lecture notebook's spelling, kept so its imports run unchanged
SimpleBlottleneck = IdentityBottleneck
#: ``DeepEncoder(input_shape, num_layers, latent_dim)``
DeepEncoder = MLPEncoder
#: ``DeepDecoder(latent_dim, num_layers, output_shape)``
DeepDecoder = MLPDecoder

_SPARSE = {f.name: f.default for f in dataclasses.fields(SparseConfig)}


class SparseBottleneck(bottlenecks.SparseBottleneck):
    """``SparseBottleneck(latent_dim, loss_type, sparsity, beta)`` with the ``sparse`` model's defaults."""

    def __init__(
        self,
        latent_dim: int = _SPARSE["latent_dim"],
        loss_type: str = _SPARSE["sparse_loss"],
        sparsity: float = _SPARSE["sparsity"],
        beta: float = _SPARSE["sparse_weight"],
    ) -> None:
        super().__init__(latent_dim, loss_type, sparsity, beta)


def config_for_parts(
    encoder: nn.Module, bottleneck: nn.Module, decoder: nn.Module, **settings: Any
) -> ModelConfig:
    """The config that :func:`~autoencoders.models.build_model` turns into these very parts.

    Args:
        encoder: a linear or MLP encoder (``SimpleEncoder``, ``DeepEncoder``).
        bottleneck: an identity or sparse bottleneck.
        decoder: the decoder matching ``encoder``.
        **settings: further config fields (``lr``, ``noise_ratio``, ``recon_loss``, ...).

    Raises:
        ConfigError: for parts the lecture does not use, or parts that do not fit
            one another (the config would build something else).
    """
    fields: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if isinstance(encoder, LinearEncoder) and isinstance(decoder, LinearDecoder):
        fields["architecture"] = "linear"
    elif isinstance(encoder, MLPEncoder) and isinstance(decoder, MLPDecoder):
        fields.update(architecture="mlp", num_layers=len(encoder.widths) - 1)
    else:
        raise ConfigError(
            f"a hand-built model takes a linear or MLP encoder and its decoder, got "
            f"{type(encoder).__name__} and {type(decoder).__name__}; build other models "
            "with autoencoders.build_model(make_config(...))"
        )
    fields.update(
        input_shape=tuple(encoder.input_shape),
        latent_dim=int(bottleneck.latent_dim),
        output_activation=decoder.output_activation,
    )
    if isinstance(bottleneck, bottlenecks.SparseBottleneck):
        name = "sparse"
        fields.update(
            sparse_loss=bottleneck.loss_type,
            sparsity=bottleneck.sparsity,
            sparse_weight=bottleneck.beta,
        )
    elif isinstance(bottleneck, IdentityBottleneck):
        noisy = fields.get("noise_ratio", 0.0) > 0
        name = "simple" if fields["architecture"] == "linear" else "denoising" if noisy else "deep"
        fields.setdefault("noise_ratio", 0.0)
    else:
        raise ConfigError(
            f"a hand-built model takes an identity or sparse bottleneck, got "
            f"{type(bottleneck).__name__}; build other models with make_config"
        )
    cfg = make_config(name, **fields)
    _check_parts_match(cfg, encoder, bottleneck, decoder)
    return cfg


def _check_parts_match(
    cfg: ModelConfig, encoder: nn.Module, bottleneck: nn.Module, decoder: nn.Module
) -> None:
    """Refuses parts that the config would not rebuild as they are (mismatched sizes)."""
    built = build_model(cfg)
    for part, given in (("encoder", encoder), ("bottleneck", bottleneck), ("decoder", decoder)):
        want = {k: tuple(v.shape) for k, v in getattr(built, part).state_dict().items()}
        have = {k: tuple(v.shape) for k, v in given.state_dict().items()}
        if want != have:
            raise ConfigError(
                f"the {part} does not fit the other parts (model {cfg.model!r}, "
                f"latent_dim {cfg.latent_dim}, input_shape {cfg.input_shape}): "
                "give every part the same shapes and depth"
            )


class AutoEncoder(module.AutoEncoder):
    """The lecture's constructor: parts and settings in, a model described by its config out.

    ``AutoEncoder(encoder, bottleneck, decoder, lr=0.01, recon_loss="rmse")``: the
    parts are ``SimpleEncoder`` or ``DeepEncoder``, ``SimpleBlottleneck`` or
    ``SparseBottleneck``, ``SimpleDecoder`` or ``DeepDecoder``; the settings are
    config fields (``lr``, ``noise_ratio``, ``recon_loss``, ``noise``, ...; ``None``
    or left out: the command line's default), plus ``prevent_tb_logging`` (show
    validation images inline instead of in TensorBoard) and ``log_images``.

    Raises:
        ConfigError: for a setting that is not a config field, or parts that
            :func:`config_for_parts` cannot describe.
    """

    def __init__(self, *parts: nn.Module, **settings: Any) -> None:
        if len(parts) != 3:
            raise TypeError(
                f"AutoEncoder takes an encoder, a bottleneck and a decoder, got {len(parts)}"
            )
        shown = {k: settings.pop(k) for k in ("prevent_tb_logging", "log_images") if k in settings}
        super().__init__(*parts, config_for_parts(*parts, **settings), **shown)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = None, **_: Any
    ) -> module.AutoEncoder:
        """The model a checkpoint holds (:func:`autoencoders.load`)."""
        return load(checkpoint_path, map_location=map_location or "cpu")


def build_logger(
    model_type: str, datamodule_name: str, task: str | None = None, root: str | Path = "logs"
) -> TensorBoardLogger:
    """A TensorBoard logger writing under ``<root>/<datamodule_name>/<model_type>_<task>``.

    Each call starts a new ``version_N`` folder, so repeated runs do not mix.
    """
    return TensorBoardLogger(
        str(Path(root) / datamodule_name), name=f"{model_type}_{task or 'featureExtraction'}"
    )


def train_lecture_model(
    model: module.AutoEncoder,
    logger: TensorBoardLogger,
    datamodule: L.LightningDataModule,
    epochs: int = 60,
) -> str:
    """Trains ``model`` and returns the path of its last checkpoint.

    The checkpoint and ``config.json`` go into the logger's run folder.
    """
    return str(fit(model, datamodule, epochs, logger=logger).checkpoint)
