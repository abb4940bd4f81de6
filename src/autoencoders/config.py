"""Configurations: one dataclass per model variant, plus the training run's settings.

A config is plain data. It round-trips through JSON (``config_to_dict`` /
``config_from_dict``), command-line flags are generated from its fields, and
:func:`autoencoders.models.build_model` turns it into a trainable model. Variant
configs inherit their parent's fields and add only their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from autoencoders.nn.bottlenecks import Bottleneck, IdentityBottleneck, SparseBottleneck


def option(default: Any, help: str, *, cli: bool = True) -> Any:
    """A dataclass field with a help text for the command line."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata={"help": help, "cli": cli})


@dataclass
class ModelConfig:
    """Fields every variant has. ``model`` is the variant's registry key."""

    model: str = option("deep", "model variant", cli=False)
    input_shape: tuple[int, ...] = option(
        (1, 32, 32), "shape of one sample; set from the data set", cli=False
    )
    latent_dim: int = option(20, "size of the code z")
    architecture: str = option("mlp", "encoder/decoder family: linear, mlp, conv, lstm, conv1d")
    num_layers: int = option(3, "linear layers in each of the mlp encoder and decoder")
    channels: tuple[int, ...] = option(
        (32, 64, 128), "channels of the conv/conv1d encoder's stride-2 layers"
    )
    lr: float = option(1e-3, "Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay")
    recon_loss: str = option("bce", "reconstruction loss: bce (data in [0,1]), mse or rmse")
    output_activation: str = option("sigmoid", "decoder output: sigmoid ([0,1] data) or identity")
    noise: str = option("salt_pepper", "input corruption: salt_pepper, gaussian or masking")
    noise_ratio: float = option(0.0, "corruption strength during training (0: off)")

    def make_bottleneck(self) -> Bottleneck:
        """The bottleneck this variant puts between encoder and decoder."""
        return IdentityBottleneck(self.latent_dim)

    def module_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the training module besides the three networks."""
        return {
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "recon_loss": self.recon_loss,
            "noise": self.noise,
            "noise_ratio": self.noise_ratio,
            "config": config_to_dict(self),
        }


@dataclass
class SimpleConfig(ModelConfig):
    """One linear layer each way (the lecture's first model)."""

    model: str = option("simple", "model variant", cli=False)
    architecture: str = option("linear", "encoder/decoder family")


@dataclass
class DeepConfig(ModelConfig):
    """A deep fully connected autoencoder."""

    model: str = option("deep", "model variant", cli=False)


@dataclass
class DenoisingConfig(DeepConfig):
    """A deep autoencoder trained on corrupted inputs to reproduce the clean ones."""

    model: str = option("denoising", "model variant", cli=False)
    noise_ratio: float = option(0.25, "corruption strength during training (0: off)")


@dataclass
class SparseConfig(DeepConfig):
    """A deep autoencoder with a sigmoid code pushed towards sparse activations."""

    model: str = option("sparse", "model variant", cli=False)
    sparse_loss: str = option("kld", "sparsity penalty: kld, log or l1")
    sparsity: float = option(0.05, "target mean activation of each code unit (kld)")
    sparse_weight: float = option(1.0, "weight of the sparsity penalty")

    def make_bottleneck(self) -> Bottleneck:
        return SparseBottleneck(
            self.latent_dim, self.sparse_loss, self.sparsity, self.sparse_weight
        )


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """The config as JSON data (tuples become lists)."""
    return {
        f.name: list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v
        for f in dataclasses.fields(cfg)
    }


def config_from_dict(data: dict[str, Any], config_cls: type[ModelConfig]) -> ModelConfig:
    """Builds ``config_cls`` from JSON data, refusing keys the class does not have.

    Raises:
        ValueError: naming the unknown keys and listing the valid ones.
    """
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model {config_cls().model!r}; "
            f"valid options: {sorted(names)}"
        )
    values = {k: tuple(v) if isinstance(names[k].default, tuple) else v for k, v in data.items()}
    return config_cls(**values)


@dataclass
class TrainConfig:
    """Settings of one training run (data, schedule, output), separate from the model."""

    dataset: str = option("digits", "data set name or path (see `autoencoders list-datasets`)")
    data_dir: str | None = option(None, "folder holding or receiving data files")
    epochs: int = option(10, "training epochs")
    batch_size: int = option(256, "training batch size")
    train_size: int | None = option(None, "use only this many training samples")
    exclude_class: int | None = option(None, "leave this class out of training")
    only_class: int | None = option(None, "train on this class only")
    seed: int = option(42, "random seed (data split, initialisation, noise)")
    output: str = option("runs", "folder for checkpoints, logs and pictures")
    accelerator: str = option("auto", "cpu, gpu or auto")
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)")
    precision: str | None = option(None, "Lightning precision, e.g. 16-mixed or bf16-mixed")
    compile: bool = option(False, "wrap the model in torch.compile")
