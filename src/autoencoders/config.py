"""Configurations: one dataclass per model variant, plus the training run's settings.

A config is plain data. It round-trips through JSON (``config_to_dict`` /
``config_from_dict``), command-line flags are generated from its fields, and
:func:`autoencoders.models.build_model` turns it into a trainable model. Variant
configs inherit their parent's fields and add only their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoencoders.module import AutoEncoder

from autoencoders.nn.bottlenecks import (
    Bottleneck,
    IdentityBottleneck,
    SparseBottleneck,
    VariationalBottleneck,
    VectorQuantizer,
)


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
    steps_per_call: int | None = option(
        None,
        "optimizer steps per Lightning training_step call (default: 2048 samples' worth "
        "of batches; 1: Lightning's usual one step per call)",
    )
    data_kind: str = option(
        "auto",
        "how to read 2-D/3-D arrays: auto (images, or signals for the sequence model), "
        "image or signal",
    )
    checkpoint_every: int = option(
        0, "also save last.ckpt every N optimizer steps inside an epoch (0: at epoch ends only)"
    )
    resume: str | None = option(
        None, "continue the run in this run folder or from this .ckpt file"
    )
    overwrite: bool = option(False, "replace a run folder that holds another run")
    devices: int = option(1, "processes (CPU) or GPUs to train on, per machine")
    num_nodes: int = option(1, "machines taking part (with --strategy ddp)")
    strategy: str = option("auto", "Lightning strategy: auto, ddp, ddp_spawn, ...")


@dataclass
class ConvConfig(ModelConfig):
    """A convolutional autoencoder: stride-2 3x3 convolutions and their transposed mirror."""

    model: str = option("conv", "model variant", cli=False)
    architecture: str = option("conv", "encoder/decoder family")


@dataclass
class VAEConfig(DeepConfig):
    """A variational autoencoder: a Gaussian code with a KL penalty towards N(0, I)."""

    model: str = option("vae", "model variant", cli=False)
    beta: float = option(1.0, "weight of the KL term (1: VAE, >1: beta-VAE)")
    kl_warmup_steps: int = option(0, "training steps over which the KL weight ramps from 0 to 1")

    def make_bottleneck(self) -> Bottleneck:
        return VariationalBottleneck(self.latent_dim, self.beta, self.kl_warmup_steps)


@dataclass
class BetaVAEConfig(VAEConfig):
    """A beta-VAE that weights the KL term twice: a smoother, more disentangled code."""

    model: str = option("beta-vae", "model variant", cli=False)
    beta: float = option(2.0, "weight of the KL term (1: VAE, >1: beta-VAE)")


@dataclass
class LooseBetaVAEConfig(VAEConfig):
    """A beta-VAE with half the KL weight: sharper reconstructions, a less regular code."""

    model: str = option("beta-vae-loose", "model variant", cli=False)
    beta: float = option(0.5, "weight of the KL term (1: VAE, >1: beta-VAE)")


@dataclass
class VQConfig(DeepConfig):
    """A vector-quantised autoencoder: each group of the code snaps to a learned codebook."""

    model: str = option("vq", "model variant", cli=False)
    latent_dim: int = option(32, "size of the code z")
    num_codes: int = option(512, "codebook entries")
    code_dim: int = option(4, "size of each codebook entry; latent_dim must be a multiple")
    commitment: float = option(0.25, "weight of the commitment loss")
    ema: bool = option(False, "update the codebook by moving averages instead of gradients")
    decay: float = option(0.99, "decay of the codebook's moving averages (--ema)")
    dead_after: int = option(20, "restart codes unused for this many steps (0: never)")

    def make_bottleneck(self) -> Bottleneck:
        return VectorQuantizer(
            self.latent_dim,
            num_codes=self.num_codes,
            code_dim=self.code_dim,
            commitment=self.commitment,
            ema=self.ema,
            decay=self.decay,
            dead_after=self.dead_after,
        )


@dataclass
class ContractiveConfig(DeepConfig):
    """A deep autoencoder penalised for the encoder's sensitivity to its input."""

    model: str = option("contractive", "model variant", cli=False)
    contractive_weight: float = option(
        0.1, "weight of the squared Frobenius norm of the encoder's Jacobian"
    )

    def module_kwargs(self) -> dict[str, Any]:
        return {**super().module_kwargs(), "contractive_weight": self.contractive_weight}


@dataclass
class StackedConfig(DeepConfig):
    """A deep autoencoder pre-trained greedily layer by layer, then fine-tuned end to end."""

    model: str = option("stacked", "model variant", cli=False)
    pretrain_epochs: int = option(1, "epochs of greedy training per layer before fine-tuning")

    def module_class(self) -> type[AutoEncoder]:
        """The training module of this variant (:class:`~autoencoders.models.stacked.StackedAutoEncoder`)."""
        from autoencoders.models.stacked import StackedAutoEncoder

        return StackedAutoEncoder

    def module_kwargs(self) -> dict[str, Any]:
        return {**super().module_kwargs(), "pretrain_epochs": self.pretrain_epochs}


@dataclass
class SequenceConfig(ModelConfig):
    """An autoencoder for 1-D signals ``(C, L)``: strided 1-D convolutions or an LSTM."""

    model: str = option("sequence", "model variant", cli=False)
    input_shape: tuple[int, ...] = option(
        (1, 64), "shape of one signal (C, L); set from the data set", cli=False
    )
    architecture: str = option("conv1d", "encoder/decoder family: conv1d or lstm")
    channels: tuple[int, ...] = option((16, 32, 64), "channels of the conv1d stride-2 layers")
    hidden_size: int = option(64, "LSTM hidden units (lstm architecture)")
    recon_loss: str = option("mse", "reconstruction loss: mse or rmse (bce needs [0,1] data)")
    output_activation: str = option("identity", "decoder output: identity or sigmoid")
    noise_ratio: float = option(0.0, "corruption strength during training (0: off)", cli=False)
