"""The settings of one training run (data, schedule, output), apart from the model's.

Plain data like the model configs (:mod:`autoencoders.config`): the command
line's ``train`` flags come from :class:`TrainConfig`'s fields, and a run folder
stores it as ``run.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoencoders.errors import ConfigError
from autoencoders.options import at_least, check_fields, field_labeller, option

#: Seeds numpy and Lightning accept.
MAX_SEED = 2**32 - 1
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
DATA_KINDS = ("auto", "image", "signal")
#: values of TrainConfig.scale (autoencoders.data.scaling.SCALES, kept torch-free here)
DATA_SCALES = ("auto", "minmax", "none")
#: values of TrainConfig.channels_mode: how many channels an image folder is read with
CHANNELS_MODES = ("auto", "rgb", "grey")
#: values of TrainConfig.memory_map: when .npy data is read through a memory map
MEMORY_MAP_MODES = ("auto", "always", "never")
#: values of TrainConfig.logger: where metrics go (autoencoders.training.loggers builds them)
LOGGERS = ("tensorboard", "csv", "mlflow")
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


def _strategies() -> tuple[str, ...]:
    from lightning.pytorch.strategies import StrategyRegistry

    return ("auto", *StrategyRegistry.available_strategies())


#: the least time between two of a one-process run's epoch-end checkpoints: a small
#: model's epochs take milliseconds, and saving each cost a tenth of its training
MIN_SAVE_SECONDS = 2.0


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
    image_size: str | None = option(
        None,
        "resize the images of a folder to N (square) or HxW: the shorter side is scaled to "
        "fit, then the centre cut out (default: keep their size, which must then be one)",
    )
    channels_mode: str = option(
        "auto",
        "channels of a folder's images: auto (rgb if any image has colour, else grey), rgb or grey",
        choices=CHANNELS_MODES,
    )
    patch_size: int = option(
        16,
        "side of the square patches of the photo-patches data sets (used by those only)",
        range=(1, 427),
    )
    memory_map: str = option(
        "auto",
        "read uint8/float32 .npy data (and cached image folders) through a memory map, a batch "
        "at a time, instead of loading it whole: auto (when it would take over a quarter of "
        "the memory available), always or never",
        choices=MEMORY_MAP_MODES,
    )
    cache_dir: str | None = option(
        None,
        "folder for image folders decoded once into a memory-mapped file (default: "
        "$AUTOENCODERS_DATA/images, else ~/.cache/autoencoders/images; none: decode on every run)",
    )
    checkpoint_every: int = option(
        0,
        "also save last.ckpt every N optimizer steps inside an epoch (0: at epoch ends only)",
        range=at_least(0),
    )
    checkpoint_seconds: float = option(
        MIN_SAVE_SECONDS,
        "least seconds between two epoch-end saves of last.ckpt in a one-process run, so that "
        "epochs of milliseconds are not each saved (0: every epoch; the last one always)",
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
    logger: tuple[str, ...] = option(
        ("tensorboard",),
        "where metrics and reconstruction images go, one or more of: tensorboard (in the run "
        "folder), csv (the run folder's csv/metrics.csv), mlflow (see --mlflow-uri)",
    )
    mlflow_uri: str | None = option(
        None,
        "MLflow tracking store of --logger mlflow, e.g. sqlite:///mlflow.db (default: "
        "sqlite:///<output>/mlflow.db, images in <output>/mlartifacts)",
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
        self.logger = tuple(self.logger)
        unknown = [n for n in self.logger if n not in LOGGERS]
        if unknown or not self.logger:
            raise ConfigError(
                f"{name('logger')} {','.join(unknown)}: unknown logger; give one or more of "
                f"{', '.join(LOGGERS)}"
            )
        if self.image_size is not None:
            self.image_size = "{}x{}".format(*parse_image_size(self.image_size, name("image_size")))
        if self.exclude_class is not None and self.exclude_class == self.only_class:
            raise ConfigError(
                f"{name('exclude_class')} and {name('only_class')} name the same class "
                f"({self.only_class}), which leaves nothing to train on; give one of them"
            )


def parse_image_size(value: object, label: str = "--image-size") -> tuple[int, int]:
    """``"64"`` or ``"48x64"`` (height x width) as ``(height, width)``.

    Raises:
        ConfigError: for anything else, in one line naming ``label``.
    """
    text = str(value).strip().lower().replace(" ", "") if isinstance(value, (str, int)) else ""
    parts = text.split("x") if text else []
    if isinstance(value, bool) or not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"{label} must be N or HxW in pixels (e.g. 64 or 48x64), got {value!r}")
    h, w = (int(parts[0]),) * 2 if len(parts) == 1 else map(int, parts)
    if not (1 <= h <= 16384 and 1 <= w <= 16384):
        raise ConfigError(f"{label} must be between 1 and 16384 pixels a side, got {value!r}")
    return h, w


def validate_train(cfg: TrainConfig) -> None:
    """Checks a run's settings (``cfg.validate()``), for callers that prefer a function.

    Raises:
        ConfigError: for the first setting out of its range.
    """
    cfg.validate()
