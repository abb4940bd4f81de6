"""``lr="auto"``: Lightning's learning-rate finder chooses the rate before training.

The finder trains for a short while (:data:`FINDER_STEPS` steps) with a rate that
grows exponentially from ``min_lr`` to ``max_lr``, records the smoothed loss,
then puts the model's weights back; the suggested rate is the one where the loss
fell fastest. We run it on a Trainer of its own, so the run's callbacks,
loggers and checkpoints never see those steps, and with one optimizer step per
``training_step`` call, the one form the finder can follow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.tuner import Tuner

from autoencoders.checkpoint import read_checkpoint
from autoencoders.errors import ConfigError, NonFiniteLoss, TrainingStopped
from autoencoders.files import atomic_path
from autoencoders.quiet import quiet
from autoencoders.training.checkpoints import AtomicCheckpointIO
from autoencoders.training.stopping import StopRule
from autoencoders.training.trainer import make_trainer

if TYPE_CHECKING:
    from autoencoders.module import AutoEncoder

log = logging.getLogger(__name__)

#: the value of ``lr`` that asks for the finder
AUTO = "auto"
#: optimizer steps the finder takes (Lightning's default)
FINDER_STEPS = 100
#: the file beside ``run.json`` holding the finder's loss-vs-rate plot
PLOT_NAME = "lr_find.png"


class WeightsOnlyIO(AtomicCheckpointIO):
    """Reads the finder's copy of the starting weights with ``weights_only=True``.

    Lightning restores that copy without saying how to read it, which would unpickle
    arbitrary objects (and warn); it holds tensors and plain data only.
    """

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location, weights_only=True)


@dataclass(frozen=True)
class LearningRate:
    """The rate an ``lr="auto"`` run trains with, and where it came from."""

    lr: float
    #: the finder's loss-vs-rate plot (``None``: the rate was read from a resumed run)
    plot: Path | None = None
    #: whether the finder ran now (``False``: taken from the checkpoint being resumed)
    found: bool = True


def wants_finder(model: AutoEncoder) -> bool:
    """Whether ``model``'s config asks for its learning rate to be found."""
    return getattr(model.cfg, "lr", None) == AUTO


def check_lr_auto(config: Any, processes: int) -> None:
    """Refuses ``lr="auto"`` for a run of several processes, before any work.

    Raises:
        ConfigError: each process would find a rate of its own.
    """
    if getattr(config, "lr", None) == AUTO and processes > 1:
        raise ConfigError(
            "--lr auto runs the finder in one process; find the rate with --devices 1 "
            "(it is printed and stored in run.json), then give it as --lr"
        )


def choose_lr(
    model: AutoEncoder,
    datamodule: L.LightningDataModule,
    run_dir: Path,
    *,
    resume: Path | None = None,
    accelerator: str = "auto",
    precision: str | None = None,
    processes: int = 1,
    progress: bool = True,
) -> LearningRate | None:
    """Replaces ``lr="auto"`` in ``model``'s config with a rate (``None``: it had one).

    A new run asks the finder and saves its plot as ``run_dir/lr_find.png``; a
    resumed run keeps the rate its checkpoint was trained with.

    Raises:
        ConfigError: for several processes (each would find its own rate), or when
            the finder cannot suggest a rate.
    """
    if not wants_finder(model):
        return None
    if resume is not None:
        stored = read_checkpoint(resume).get("autoencoder_config") or {}
        lr = stored.get("lr")
        if not isinstance(lr, (int, float)):
            raise ConfigError(f"lr auto: {resume} holds no learning rate to resume with; give --lr")
        choice = LearningRate(float(lr), None, found=False)
    else:
        check_lr_auto(model.cfg, processes)
        choice = find_lr(
            model, datamodule, run_dir / PLOT_NAME, accelerator, precision, progress=progress
        )
    model.cfg = dataclasses.replace(model.cfg, lr=choice.lr)
    return choice


def find_lr(
    model: AutoEncoder,
    datamodule: L.LightningDataModule,
    plot_path: Path | None,
    accelerator: str = "auto",
    precision: str | None = None,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int = FINDER_STEPS,
    progress: bool = True,
) -> LearningRate:
    """Runs Lightning's finder on ``model`` (whose weights it leaves as they were).

    ``progress=False`` keeps the finder's own progress bar (which Lightning always
    draws, on stderr) off the terminal.

    Raises:
        ConfigError: when the loss became non-finite or too few steps were recorded
            to suggest a rate.
    """
    placeholder = min_lr  # the finder sets every rate itself; Adam needs a number to start
    saved_cfg, saved_steps = model.cfg, model.steps_per_call
    model.cfg = dataclasses.replace(model.cfg, lr=placeholder)
    model.steps_per_call = 1  # the finder reads each step's loss from training_step
    hushed = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    try:
        # quiet: Lightning's note on how it saves its copy of the weights
        with (
            tempfile.TemporaryDirectory(prefix="lr-find-") as scratch,
            hushed,
            quiet(),
            stop_raises(),
        ):
            trainer = make_trainer(
                StopRule(epochs=10**6),  # the finder's step count ends it
                logger=False,
                accelerator=accelerator,
                precision=precision,
                progress_bar=False,
                default_root_dir=scratch,  # the finder's copy of the starting weights
                check_val_every_n_epoch=10**6,
            )
            trainer.strategy.checkpoint_io = WeightsOnlyIO()
            finder = Tuner(trainer).lr_find(
                model,
                datamodule=datamodule,
                min_lr=min_lr,
                max_lr=max_lr,
                num_training=steps,
                update_attr=False,
            )
    except NonFiniteLoss as err:
        raise ConfigError(
            f"lr auto: the learning-rate finder's loss stopped being finite ({err}); give --lr"
        ) from None
    finally:
        model.cfg, model.steps_per_call = saved_cfg, saved_steps
    lr = finder.suggestion() if finder is not None else None
    if lr is None:
        raise ConfigError(
            "lr auto: the learning-rate finder recorded too few steps to suggest a rate "
            "(too little data?); give --lr"
        )
    if plot_path is not None:
        save_plot(finder, plot_path)
    log.info("learning-rate finder chose lr %.3g", lr)
    return LearningRate(float(lr), plot_path)


@contextlib.contextmanager
def stop_raises() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`TrainingStopped` while the finder runs.

    Lightning meets a plain KeyboardInterrupt with ``sys.exit(1)``; our error instead
    goes through its clean-up (the finder puts the weights back) and on to the caller,
    as a stop during training does. Nothing is trained yet, so nothing is saved.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise TrainingStopped(
            f"stopped by {signal.Signals(signum).name} during the learning-rate finder, "
            "before training; start over with the same command and --overwrite",
            exit_code=128 + signum,
        )

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def save_plot(finder: Any, path: Path) -> Path:
    """The finder's loss against the rate, the chosen rate marked, as a PNG (atomically)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    finder.plot(suggest=True, ax=ax)
    ax.set_title(f"learning-rate finder: chose {finder.suggestion():.3g}")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return path
