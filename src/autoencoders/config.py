"""Configurations: one dataclass per model variant, plus the training run's settings.

A config is plain data. It round-trips through JSON (``config_to_dict`` /
``config_from_dict``), command-line flags are generated from its fields, and
:func:`autoencoders.models.build_model` turns it into a trainable model. Variant
configs inherit their parent's fields and add only their own.

Every field states what it accepts in its :func:`~autoencoders.options.option`
metadata (a numeric ``range`` or a set of ``choices``; the type comes from the
annotation), and one validator, :func:`~autoencoders.options.check_fields`,
reads that metadata for every config class.
``validate()`` adds the rules that tie several fields together (a VQ code made
of whole codebook entries, a code size that fits the input, ...). Every refusal
is a :class:`~autoencoders.errors.ConfigError` whose one-line message names the
option as typed on the command line, the value given and what would be valid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Configs are plain data and import no model code (nor torch): the command line reads
# them to print --help quickly, and autoencoders.models builds the networks they describe.
from autoencoders.choices import (
    ARCHITECTURES,
    NOISE_KINDS,
    OUTPUT_ACTIVATIONS,
    RECON_LOSSES,
    SPARSE_LOSSES,
)
from autoencoders.errors import ConfigError
from autoencoders.options import (
    UNIT,
    Interval,
    above,
    at_least,
    check_fields,
    field_labeller,
    option,
)
from autoencoders.shapes import (
    auto_conv_channels,
    check_halvable,
    is_image_shape,
    shrinking_widths,
)

# ----------------------------------------------------------------- limits
#: The largest code any model may have. The plain autoencoder keeps a running
#: latent_dim x latent_dim float32 covariance of its codes (for sampling), 1 GiB at
#: this size, and the linear and conv models hold latent_dim x (input or feature
#: map) weight matrices. Past it, a slip like ``--latent-dim 100000`` would be
#: attempted as an allocation of tens of GiB instead of being refused.
MAX_LATENT_DIM = 16384
#: How many times the number of input values the code may hold. Overcomplete codes
#: (a sparse code wider than a small input) are legitimate; a code many times
#: larger than what it encodes is a mistake.
MAX_LATENT_FACTOR = 4
#: The widest layer, LSTM or codebook: a guard against typos, not a memory estimate.
MAX_WIDTH = 16384

#: counts that allocate memory (layer widths, codebook size)
WIDTH = Interval(1, MAX_WIDTH)


def variant_name(name: str) -> Any:
    """The ``model`` field of a variant's config: its registry key, not a flag of its own.

    Each config class names its own variant; ``validate`` refuses any other name.
    """
    return option(name, "model variant", cli=False, flag="--model")


# ------------------------------------------------------------ model configs
@dataclass
class ModelConfig:
    """Fields every variant has. ``model`` is the variant's registry key."""

    model: str = variant_name("deep")
    input_shape: tuple[int, ...] = option(
        (1, 32, 32), "shape of one sample; set from the data set", cli=False, range=at_least(1)
    )
    latent_dim: int = option(20, "size of the code z", range=at_least(1))
    architecture: str = option(
        "mlp",
        "encoder/decoder family: linear, mlp, conv, lstm, conv1d",
        choices=ARCHITECTURES,
    )
    num_layers: int = option(
        3, "linear layers in each of the mlp encoder and decoder", range=at_least(1)
    )
    # () is "automatic", resolved from input_shape (conv_channels) by build_model and
    # config_to_dict, so a checkpoint stores the channels its network was built with.
    channels: tuple[int, ...] = option(
        (),
        "channels of the conv/conv1d encoder's stride-2 layers (default: automatic; conv halves "
        "the image down to about 4x4 with 32, 64, 128, 256, 256... channels, e.g. 3 layers "
        "for 32x32, 4 for 64x64; conv1d: 32, 64, 128)",
        range=WIDTH,
    )
    lr: float | str = option(
        1e-3,
        "Adam learning rate, or auto: Lightning's learning-rate finder chooses it before training",
        range=above(0),
        words=("auto",),
    )
    weight_decay: float = option(0.0, "Adam weight decay", range=at_least(0))
    recon_loss: str = option(
        "bce", "reconstruction loss: bce (data in [0,1]), mse or rmse", choices=RECON_LOSSES
    )
    output_activation: str = option(
        "sigmoid",
        "decoder output: sigmoid ([0,1] data) or identity",
        choices=OUTPUT_ACTIVATIONS,
    )
    noise: str = option(
        "salt_pepper", "input corruption: salt_pepper, gaussian or masking", choices=NOISE_KINDS
    )
    noise_ratio: float = option(0.0, "corruption strength during training (0: off)", range=UNIT)

    def encoder_features(self) -> int:
        """How many values the encoder hands the bottleneck (its ``in_features``).

        Equal to the ``in_features`` of the bottleneck :func:`autoencoders.models.parts.make_bottleneck` builds, without building it.
        """
        return self.latent_dim

    def validate(self, *, input_shape_known: bool = True, flags: bool = True) -> None:
        """Checks every field, and the fields against each other, before any work.

        Accepted values are normalised in place (lists become tuples, numpy
        scalars Python numbers, ints in float fields floats).

        Args:
            input_shape_known: whether ``input_shape`` is the data's. ``False``
                (the default shape is still a placeholder) skips the rules that
                depend on it: the code size relative to the input, and whether the
                architecture fits the shape.
            flags: name options as command-line flags (``--latent-dim``); ``False``
                names them as fields (``latent_dim``), for Python callers.

        Raises:
            ConfigError: for the first rule broken, in one line naming the option,
                the value and what would be valid.
        """
        auto = _is_auto(self.channels)
        if auto:  # the rules check the channels the network would get, not an empty list
            self.channels = self.conv_channels()
        try:
            self._validate(input_shape_known, flags, auto)
        finally:
            # stays "automatic": a later input_shape (the data's) gets its own network;
            # config_to_dict stores the resolved channels
            if auto:
                self.channels = ()

    def conv_channels(self) -> tuple[int, ...]:
        """The channels of the conv/conv1d stride-2 layers: those given, or the automatic ones.

        Automatic (``channels`` empty): for ``conv``, stride-2 stages down to about
        4x4 (:func:`autoencoders.shapes.auto_conv_channels`); otherwise (conv1d, and
        families that have no conv layers) :data:`FIXED_CHANNELS`.
        """
        if not _is_auto(self.channels):
            return tuple(self.channels)
        shape = self.input_shape
        if self.architecture == "conv" and is_image_shape(shape):  # else the rules refuse it
            return auto_conv_channels(shape[1:])
        return FIXED_CHANNELS

    def _validate(self, input_shape_known: bool, flags: bool, auto: bool) -> None:
        check_fields(self, flags=flags)
        own = next(f.default for f in dataclasses.fields(self) if f.name == "model")
        if self.model != own:
            raise ConfigError(
                f"{type(self).__name__} describes model {own!r}, got model {self.model!r}; "
                "build each model from its own config (autoencoders.make_config(name))"
            )
        name = field_labeller(self, flags)
        self._check_combinations(name)
        self._check_latent_size(name, input_shape_known)
        if input_shape_known:
            self._check_backbone(name, auto)

    def _check_combinations(self, name: Callable[[str], str]) -> None:
        """Rules between fields that hold whatever the input's shape."""
        if self.recon_loss == "bce" and self.output_activation != "sigmoid":
            raise ConfigError(
                f"{name('recon_loss')} bce needs outputs in [0, 1], i.e. "
                f"{name('output_activation')} sigmoid, got {name('output_activation')} "
                f"{self.output_activation}; use {name('recon_loss')} mse for unbounded data"
            )

    def _check_latent_size(self, name: Callable[[str], str], input_shape_known: bool) -> None:
        # The bound is min(4 x input values, 16384): see MAX_LATENT_DIM and MAX_LATENT_FACTOR.
        most, why = MAX_LATENT_DIM, f"at most {MAX_LATENT_DIM}"
        if input_shape_known:
            n_in = math.prod(self.input_shape)
            if MAX_LATENT_FACTOR * n_in < most:
                most = MAX_LATENT_FACTOR * n_in
                why = f"at most {MAX_LATENT_FACTOR}x the {n_in} values of input_shape {self.input_shape}"
        if self.latent_dim > most:
            raise ConfigError(
                f"{name('latent_dim')} must be in [1, {most}] ({why}; the model keeps a "
                "latent_dim x latent_dim covariance of its codes and latent_dim-wide weight "
                f"matrices), got {self.latent_dim}"
            )

    def _check_backbone(self, name: Callable[[str], str], auto: bool = False) -> None:
        """Whether the encoder/decoder family can be built for ``input_shape``."""
        arch, shape = self.architecture, self.input_shape
        layout = {"conv": "(C, H, W)", "conv1d": "(C, L)", "lstm": "(C, L)"}.get(arch)
        if layout is not None and len(shape) != layout.count(",") + 1:
            raise ConfigError(
                f"{name('architecture')} {arch} needs input_shape {layout}, got {shape}"
            )
        if arch in ("conv", "conv1d"):
            try:
                check_halvable(shape[1:], len(self.channels), f"the {arch} encoder", shape)
            except ValueError as err:
                given = f"(automatic: {list(self.channels)})" if auto else list(self.channels)
                raise ConfigError(f"{name('channels')} {given}: {err}") from None
        if arch == "mlp":
            self._check_mlp(name)

    def _check_mlp(self, name: Callable[[str], str]) -> None:
        """The mlp narrows layer by layer from the input to the code, both ways."""
        n_in = math.prod(self.input_shape)
        factor = self.encoder_features() // self.latent_dim
        widths = {self.encoder_features(), self.latent_dim}
        if factor + 1 > n_in:
            raise ConfigError(
                f"{name('architecture')} mlp cannot narrow {n_in} input values to a code "
                f"(it needs more than {factor}); use {name('architecture')} linear"
            )
        if max(widths) >= n_in:
            unit = "latent_dim" if factor == 1 else f"{factor} x latent_dim"
            raise ConfigError(
                f"{name('latent_dim')} must be in [1, {(n_in - 1) // factor}] for "
                f"{name('architecture')} mlp on {n_in} input values (every layer narrows, "
                f"down to {unit} units), got {self.latent_dim}"
            )
        if _mlp_fits(n_in, widths, self.num_layers):
            return
        # the most layers that fit, for the message (assumes fewer layers fit more easily)
        low, high = 1, self.num_layers - 1
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if _mlp_fits(n_in, widths, mid) else (low, mid - 1)
        raise ConfigError(
            f"{name('num_layers')} must be in [1, {low}] for {n_in} input values and "
            f"{name('latent_dim')} {self.latent_dim} (each mlp layer must be narrower than "
            f"the one before), got {self.num_layers}: too deep"
        )


#: the channels of conv1d (and the unused field of other families) when none are given:
#: the conv layers' default before the conv net followed the image size
FIXED_CHANNELS = (32, 64, 128)


def _is_auto(channels: object) -> bool:
    """Whether ``channels`` asks for the automatic choice (an empty list)."""
    return isinstance(channels, (list, tuple)) and len(channels) == 0


def _mlp_fits(n_in: int, widths: set[int], num_layers: int) -> bool:
    """Whether ``num_layers`` strictly narrowing layers lead from ``n_in`` to each width."""
    for width in widths:
        if num_layers > n_in - width:  # not enough distinct widths; also spares a huge list
            return False
        try:
            shrinking_widths(n_in, width, num_layers)
        except ValueError:
            return False
    return True


@dataclass
class SimpleConfig(ModelConfig):
    """One linear layer each way (the lecture's first model)."""

    model: str = variant_name("simple")
    architecture: str = option("linear", "encoder/decoder family", choices=ARCHITECTURES)


@dataclass
class DeepConfig(ModelConfig):
    """A deep fully connected autoencoder."""

    model: str = variant_name("deep")


@dataclass
class DenoisingConfig(DeepConfig):
    """A deep autoencoder trained on corrupted inputs to reproduce the clean ones."""

    model: str = variant_name("denoising")
    noise_ratio: float = option(0.25, "corruption strength during training (0: off)", range=UNIT)


@dataclass
class SparseConfig(DeepConfig):
    """A deep autoencoder with a sigmoid code pushed towards sparse activations."""

    model: str = variant_name("sparse")
    sparse_loss: str = option("kld", "sparsity penalty: kld, log or l1", choices=SPARSE_LOSSES)
    sparsity: float = option(
        0.05,
        "target mean activation of each code unit (kld)",
        range=Interval(0, 1, low_open=True, high_open=True),
    )
    sparse_weight: float = option(1.0, "weight of the sparsity penalty", range=at_least(0))


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """The config as JSON data (tuples become lists).

    Automatic ``channels`` of a conv/conv1d model are stored resolved for the config's
    ``input_shape``, so a checkpoint rebuilds the network it was trained with even if
    the rule changes; other families have no conv layers and keep ``[]``.
    """
    data = {
        f.name: list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v
        for f in dataclasses.fields(cfg)
    }
    if _is_auto(data.get("channels")) and cfg.architecture in ("conv", "conv1d"):
        data["channels"] = list(cfg.conv_channels())
    return data


def config_from_dict(
    data: dict[str, Any], config_cls: type[ModelConfig], *, flags: bool = True
) -> ModelConfig:
    """Builds ``config_cls`` from JSON data and validates it.

    The rules that depend on the input's shape run only when ``data`` gives
    ``input_shape``; otherwise the class's default shape is a placeholder, to be
    replaced by the data's (and the config validated again then).

    Args:
        data: field values; lists stand for tuples.
        config_cls: the variant's config class.
        flags: name options in messages as command-line flags (``--latent-dim``),
            or, when ``False``, as fields (``latent_dim``).

    Raises:
        ConfigError: for keys the class does not have (listing the valid ones) and
            for any value :meth:`ModelConfig.validate` refuses.
    """
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for model {config_cls().model!r}; "
            f"valid options: {sorted(names)}"
        )
    cfg = config_cls(**data)
    cfg.validate(input_shape_known="input_shape" in data, flags=flags)
    return cfg


# ------------------------------------------------------------ more variants
@dataclass
class ConvConfig(ModelConfig):
    """A convolutional autoencoder: stride-2 3x3 convolutions and their transposed mirror."""

    model: str = variant_name("conv")
    architecture: str = option("conv", "encoder/decoder family", choices=ARCHITECTURES)


@dataclass
class VAEConfig(DeepConfig):
    """A variational autoencoder: a Gaussian code with a KL penalty towards N(0, I)."""

    model: str = variant_name("vae")
    beta: float = option(1.0, "weight of the KL term (1: VAE, >1: beta-VAE)", range=at_least(0))
    kl_warmup_steps: int = option(
        0, "training steps over which the KL weight ramps from 0 to 1", range=at_least(0)
    )

    def encoder_features(self) -> int:
        """The encoder gives a mean and a log-variance per code unit."""
        return 2 * self.latent_dim


@dataclass
class BetaVAEConfig(VAEConfig):
    """A beta-VAE that weights the KL term twice: a smoother, more disentangled code."""

    model: str = variant_name("beta-vae")
    beta: float = option(2.0, "weight of the KL term (1: VAE, >1: beta-VAE)", range=at_least(0))


@dataclass
class LooseBetaVAEConfig(VAEConfig):
    """A beta-VAE with half the KL weight: sharper reconstructions, a less regular code."""

    model: str = variant_name("beta-vae-loose")
    beta: float = option(0.5, "weight of the KL term (1: VAE, >1: beta-VAE)", range=at_least(0))


@dataclass
class VQConfig(DeepConfig):
    """A vector-quantised autoencoder: each group of the code snaps to a learned codebook."""

    model: str = variant_name("vq")
    latent_dim: int = option(32, "size of the code z", range=at_least(1))
    # at least 2: a one-entry codebook quantises everything to one point
    num_codes: int = option(512, "codebook entries", range=(2, MAX_WIDTH))
    code_dim: int = option(
        4, "size of each codebook entry; latent_dim must be a multiple", range=at_least(1)
    )
    commitment: float = option(0.25, "weight of the commitment loss", range=at_least(0))
    ema: bool = option(False, "update the codebook by moving averages instead of gradients")
    # open at 0 too: the quantiser refuses decay 0 (the codebook would forget every step)
    decay: float = option(
        0.99,
        "decay of the codebook's moving averages (--ema)",
        range=Interval(0, 1, low_open=True, high_open=True),
    )
    dead_after: int = option(
        20, "restart codes unused for this many steps (0: never)", range=at_least(0)
    )

    def _check_combinations(self, name: Callable[[str], str]) -> None:
        super()._check_combinations(name)
        if self.latent_dim % self.code_dim:
            raise ConfigError(
                f"{name('latent_dim')} must be a multiple of code_dim ({name('code_dim')} "
                f"{self.code_dim}): the code is split into groups of code_dim values, "
                f"got {self.latent_dim}"
            )


@dataclass
class ContractiveConfig(DeepConfig):
    """A deep autoencoder penalised for the encoder's sensitivity to its input."""

    model: str = variant_name("contractive")
    contractive_weight: float = option(
        0.1,
        "weight of the squared Frobenius norm of the encoder's Jacobian",
        range=at_least(0),
    )


@dataclass
class StackedConfig(DeepConfig):
    """A deep autoencoder pre-trained greedily layer by layer, then fine-tuned end to end."""

    model: str = variant_name("stacked")
    pretrain_epochs: int = option(
        1, "epochs of greedy training per layer before fine-tuning", range=at_least(0)
    )

    def _check_combinations(self, name: Callable[[str], str]) -> None:
        super()._check_combinations(name)
        if self.architecture != "mlp":
            raise ConfigError(
                f"{name('architecture')} must be mlp for model 'stacked', which pre-trains "
                f"the mlp layer by layer, got {self.architecture!r}; use {name('architecture')} mlp"
            )


@dataclass
class SequenceConfig(ModelConfig):
    """An autoencoder for 1-D signals ``(C, L)``: strided 1-D convolutions or an LSTM."""

    model: str = variant_name("sequence")
    input_shape: tuple[int, ...] = option(
        (1, 64), "shape of one signal (C, L); set from the data set", cli=False, range=at_least(1)
    )
    architecture: str = option(
        "conv1d", "encoder/decoder family: conv1d or lstm", choices=ARCHITECTURES
    )
    channels: tuple[int, ...] = option(
        (16, 32, 64), "channels of the conv1d stride-2 layers", range=WIDTH
    )
    hidden_size: int = option(64, "LSTM hidden units (lstm architecture)", range=WIDTH)
    recon_loss: str = option(
        "mse", "reconstruction loss: mse or rmse (bce needs [0,1] data)", choices=RECON_LOSSES
    )
    output_activation: str = option(
        "identity", "decoder output: identity or sigmoid", choices=OUTPUT_ACTIVATIONS
    )
    noise_ratio: float = option(
        0.0, "corruption strength during training (0: off)", cli=False, range=UNIT
    )
