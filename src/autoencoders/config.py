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
from typing import TYPE_CHECKING, Any

# Configs are plain data and this module imports no torch: the command line reads them
# to print --help quickly. The networks they describe are imported where they are built.
if TYPE_CHECKING:
    from autoencoders.losses import LossTerm
    from autoencoders.module import AutoEncoder
    from autoencoders.nn.bottlenecks import Bottleneck

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
#: Seeds numpy and Lightning accept.
MAX_SEED = 2**32 - 1

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
DATA_KINDS = ("auto", "image", "signal")
#: values of TrainConfig.scale (autoencoders.data.scaling.SCALES, kept torch-free here)
DATA_SCALES = ("auto", "minmax", "none")
#: Lightning's precision names, with the short aliases it also takes
PRECISIONS = (
    "64-true",
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "transformer-engine",
    "transformer-engine-float16",
    "64",
    "32",
    "16",
    "bf16",
)


#: counts that allocate memory (layer widths, codebook size)
WIDTH = Interval(1, MAX_WIDTH)


def _recon_losses() -> tuple[str, ...]:
    from autoencoders.losses import RECON_LOSSES

    return RECON_LOSSES


def _output_activations() -> tuple[str, ...]:
    from autoencoders.nn.decoders import OUTPUT_ACTIVATIONS

    return OUTPUT_ACTIVATIONS


def _noise_kinds() -> tuple[str, ...]:
    from autoencoders.nn.noise import NOISE_KINDS

    return NOISE_KINDS


def _sparse_losses() -> tuple[str, ...]:
    from autoencoders.nn.bottlenecks import SPARSE_LOSSES

    return SPARSE_LOSSES


def _architectures() -> tuple[str, ...]:
    # imported here: the architectures module imports this one
    from autoencoders.models.architectures import ARCHITECTURES

    return tuple(ARCHITECTURES)


def _variants() -> tuple[str, ...]:
    from autoencoders.registry import VARIANTS

    return tuple(VARIANTS)


def _strategies() -> tuple[str, ...]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ("auto", *StrategyRegistry.available_strategies())


def variant_name(name: str) -> Any:
    """The ``model`` field of a variant's config: its registry key, not a flag of its own."""
    return option(name, "model variant", cli=False, choices=_variants, flag="--model")


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
        choices=_architectures,
    )
    num_layers: int = option(
        3, "linear layers in each of the mlp encoder and decoder", range=at_least(1)
    )
    channels: tuple[int, ...] = option(
        (32, 64, 128), "channels of the conv/conv1d encoder's stride-2 layers", range=WIDTH
    )
    lr: float = option(1e-3, "Adam learning rate", range=above(0))
    weight_decay: float = option(0.0, "Adam weight decay", range=at_least(0))
    recon_loss: str = option(
        "bce", "reconstruction loss: bce (data in [0,1]), mse or rmse", choices=_recon_losses
    )
    output_activation: str = option(
        "sigmoid",
        "decoder output: sigmoid ([0,1] data) or identity",
        choices=_output_activations,
    )
    noise: str = option(
        "salt_pepper", "input corruption: salt_pepper, gaussian or masking", choices=_noise_kinds
    )
    noise_ratio: float = option(0.0, "corruption strength during training (0: off)", range=UNIT)

    def make_bottleneck(self) -> Bottleneck:
        """The bottleneck this variant puts between encoder and decoder."""
        from autoencoders.nn.bottlenecks import IdentityBottleneck

        return IdentityBottleneck(self.latent_dim)

    def encoder_features(self) -> int:
        """How many values the encoder hands the bottleneck (its ``in_features``).

        Equal to ``make_bottleneck().in_features``, without building the bottleneck.
        """
        return self.latent_dim

    def loss_terms(self) -> list[LossTerm]:
        """The terms added to the reconstruction error (see :mod:`autoencoders.losses`)."""
        from autoencoders.losses import BottleneckLoss

        return [BottleneckLoss()]

    def module_class(self) -> type[AutoEncoder]:
        """The training module of this variant; it reads its settings from this config."""
        from autoencoders.module import AutoEncoder

        return AutoEncoder

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
        check_fields(self, flags=flags)
        name = field_labeller(self, flags)
        self._check_combinations(name)
        self._check_latent_size(name, input_shape_known)
        if input_shape_known:
            self._check_backbone(name)

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

    def _check_backbone(self, name: Callable[[str], str]) -> None:
        """Whether the encoder/decoder family can be built for ``input_shape``."""
        arch, shape = self.architecture, self.input_shape
        layout = {"conv": "(C, H, W)", "conv1d": "(C, L)", "lstm": "(C, L)"}.get(arch)
        if layout is not None and len(shape) != layout.count(",") + 1:
            raise ConfigError(
                f"{name('architecture')} {arch} needs input_shape {layout}, got {shape}"
            )
        if arch in ("conv", "conv1d"):
            from autoencoders.nn.layers import check_halvable

            try:
                check_halvable(shape[1:], len(self.channels), f"the {arch} encoder", shape)
            except ValueError as err:
                raise ConfigError(f"{name('channels')} {list(self.channels)}: {err}") from None
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


def _mlp_fits(n_in: int, widths: set[int], num_layers: int) -> bool:
    """Whether ``num_layers`` strictly narrowing layers lead from ``n_in`` to each width."""
    from autoencoders.nn.layers import shrinking_widths

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
    architecture: str = option("linear", "encoder/decoder family", choices=_architectures)


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
    sparse_loss: str = option("kld", "sparsity penalty: kld, log or l1", choices=_sparse_losses)
    sparsity: float = option(
        0.05,
        "target mean activation of each code unit (kld)",
        range=Interval(0, 1, low_open=True, high_open=True),
    )
    sparse_weight: float = option(1.0, "weight of the sparsity penalty", range=at_least(0))

    def make_bottleneck(self) -> Bottleneck:
        from autoencoders.nn.bottlenecks import SparseBottleneck

        return SparseBottleneck(
            self.latent_dim, self.sparse_loss, self.sparsity, self.sparse_weight
        )


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """The config as JSON data (tuples become lists)."""
    return {
        f.name: list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v
        for f in dataclasses.fields(cfg)
    }


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


# -------------------------------------------------------------- run config
@dataclass
class TrainConfig:
    """Settings of one training run (data, schedule, output), separate from the model."""

    dataset: str = option("digits", "data set name or path (see `autoencoders list-datasets`)")
    data_dir: str | None = option(None, "folder holding or receiving data files")
    epochs: int | None = option(
        None,
        "train exactly this many epochs (default: until the validation loss stops "
        "improving, see --patience)",
        range=at_least(1),
    )
    max_epochs: int = option(500, "most epochs when stopping early", range=at_least(1))
    patience: int = option(
        10, "epochs without a better validation loss before stopping early", range=at_least(1)
    )
    min_delta: float = option(
        0.0, "least decrease of the validation loss that counts as better", range=at_least(0)
    )
    min_steps: int = option(
        1000,
        "optimizer steps before a run may stop early, so small data sets train enough",
        range=at_least(0),
    )
    max_steps: int | None = option(
        None, "budget in optimizer steps (stops at whichever limit comes first)", range=at_least(1)
    )
    batch_size: int = option(256, "training batch size", range=at_least(1))
    train_size: int | None = option(None, "use only this many training samples", range=at_least(1))
    exclude_class: int | None = option(None, "leave this class out of training", range=at_least(0))
    only_class: int | None = option(None, "train on this class only", range=at_least(0))
    seed: int = option(42, "random seed (data split, initialisation, noise)", range=(0, MAX_SEED))
    output: str = option("runs", "folder for checkpoints, logs and pictures")
    accelerator: str = option("auto", "cpu, gpu, cuda, mps or auto", choices=ACCELERATORS)
    threads: int | None = option(
        None, "CPU threads for torch (default: torch's choice)", range=at_least(1)
    )
    precision: str | None = option(
        None, "Lightning precision, e.g. 16-mixed or bf16-mixed", choices=PRECISIONS
    )
    compile: bool = option(False, "wrap the model in torch.compile")
    steps_per_call: int | None = option(
        None,
        "optimizer steps per Lightning training_step call (default: 2048 samples' worth "
        "of batches; 1: Lightning's usual one step per call)",
        range=at_least(1),
    )
    data_kind: str = option(
        "auto",
        "how to read 2-D/3-D arrays: auto (images, or signals for the sequence model), "
        "image or signal",
        choices=DATA_KINDS,
    )
    scale: str = option(
        "auto",
        "scaling into [0, 1], fitted on the training rows and stored with the model: auto "
        "(min-max for tables, and for other data than signals outside [0, 1]), minmax or none",
        choices=DATA_SCALES,
    )
    label_column: str | None = option(
        None,
        "a table's label column (default: the first named label, target, class or y, any "
        "case; none: no labels)",
    )
    header: bool = option(
        True, "a CSV's first row may name its columns (detected); --no-header reads it as data"
    )
    checkpoint_every: int = option(
        0,
        "also save last.ckpt every N optimizer steps inside an epoch (0: at epoch ends only)",
        range=at_least(0),
    )
    resume: str | None = option(None, "continue the run in this run folder or from this .ckpt file")
    overwrite: bool = option(False, "replace a run folder that holds another run")
    progress: bool = option(
        True,
        "show progress on stderr: a bar on a terminal, else one line per epoch; "
        "--no-progress: nothing",
    )
    devices: int = option(1, "processes (CPU) or GPUs to train on, per machine", range=at_least(1))
    num_nodes: int = option(1, "machines taking part (with --strategy ddp)", range=at_least(1))
    strategy: str = option(
        "auto", "Lightning strategy: auto, ddp, ddp_spawn, ...", choices=_strategies
    )

    def validate(self, *, flags: bool = True) -> None:
        """Checks every setting before any work, normalising accepted values in place.

        Args:
            flags: name options as command-line flags (``--batch-size``); ``False``
                names them as fields (``batch_size``).

        Raises:
            ConfigError: for the first setting out of its range, in one line.
        """
        check_fields(self, flags=flags)
        name = field_labeller(self, flags)
        if self.exclude_class is not None and self.exclude_class == self.only_class:
            raise ConfigError(
                f"{name('exclude_class')} and {name('only_class')} name the same class "
                f"({self.only_class}), which leaves nothing to train on; give one of them"
            )


def validate_train(cfg: TrainConfig) -> None:
    """Checks a run's settings (``cfg.validate()``), for callers that prefer a function.

    Raises:
        ConfigError: for the first setting out of its range.
    """
    cfg.validate()


# ------------------------------------------------------------ more variants
@dataclass
class ConvConfig(ModelConfig):
    """A convolutional autoencoder: stride-2 3x3 convolutions and their transposed mirror."""

    model: str = variant_name("conv")
    architecture: str = option("conv", "encoder/decoder family", choices=_architectures)


@dataclass
class VAEConfig(DeepConfig):
    """A variational autoencoder: a Gaussian code with a KL penalty towards N(0, I)."""

    model: str = variant_name("vae")
    beta: float = option(1.0, "weight of the KL term (1: VAE, >1: beta-VAE)", range=at_least(0))
    kl_warmup_steps: int = option(
        0, "training steps over which the KL weight ramps from 0 to 1", range=at_least(0)
    )

    def make_bottleneck(self) -> Bottleneck:
        from autoencoders.nn.bottlenecks import VariationalBottleneck

        return VariationalBottleneck(self.latent_dim, self.beta, self.kl_warmup_steps)

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

    def make_bottleneck(self) -> Bottleneck:
        from autoencoders.nn.bottlenecks import VectorQuantizer

        # the quantiser's parameters are this config's fields, under the same names
        fields = ("num_codes", "code_dim", "commitment", "ema", "decay", "dead_after")
        return VectorQuantizer(self.latent_dim, **{f: getattr(self, f) for f in fields})

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

    def loss_terms(self) -> list[LossTerm]:
        from autoencoders.losses import ContractivePenalty

        return [*super().loss_terms(), ContractivePenalty(self.contractive_weight)]


@dataclass
class StackedConfig(DeepConfig):
    """A deep autoencoder pre-trained greedily layer by layer, then fine-tuned end to end."""

    model: str = variant_name("stacked")
    pretrain_epochs: int = option(
        1, "epochs of greedy training per layer before fine-tuning", range=at_least(0)
    )

    def module_class(self) -> type[AutoEncoder]:
        """The training module of this variant (:class:`~autoencoders.models.stacked.StackedAutoEncoder`)."""
        from autoencoders.models.stacked import StackedAutoEncoder

        return StackedAutoEncoder

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
        "conv1d", "encoder/decoder family: conv1d or lstm", choices=_architectures
    )
    channels: tuple[int, ...] = option(
        (16, 32, 64), "channels of the conv1d stride-2 layers", range=WIDTH
    )
    hidden_size: int = option(64, "LSTM hidden units (lstm architecture)", range=WIDTH)
    recon_loss: str = option(
        "mse", "reconstruction loss: mse or rmse (bce needs [0,1] data)", choices=_recon_losses
    )
    output_activation: str = option(
        "identity", "decoder output: identity or sigmoid", choices=_output_activations
    )
    noise_ratio: float = option(
        0.0, "corruption strength during training (0: off)", cli=False, range=UNIT
    )
