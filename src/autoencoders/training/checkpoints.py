"""Checkpoints while training: written atomically, kept current, saved on a signal.

Loading a checkpoint (for a model, or its run's settings) is
:mod:`autoencoders.checkpoint`'s; this module is the writing side and the
checks before a run resumes from one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from autoencoders.checkpoint import read_checkpoint
from autoencoders.errors import CheckpointError, ConfigError, TrainingStopped
from autoencoders.files import write_bytes
from autoencoders.run_config import MIN_SAVE_SECONDS
from autoencoders.training.stopping import StopRule

if TYPE_CHECKING:
    from autoencoders.module import AutoEncoder

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint writer that saves to a temporary file, then renames it."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        # Serialized in memory first: a full disk then fails as a plain OSError of the
        # write (torch's own writer reports it as an opaque RuntimeError), with the size known.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(path, buffer.getbuffer())


#: signals that stop training cleanly
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunCheckpoint(Checkpoint):
    """Keeps ``last.ckpt`` current: at epochs' ends, every N steps, and on a stop request.

    Lightning's ``ModelCheckpoint`` takes either an epoch or a step interval, not
    both, and cannot save on a signal; this callback is the few lines we need.
    Each save goes through the trainer (rank 0 writes, every rank waits), and so
    through :class:`~autoencoders.checkpoint.AtomicCheckpointIO`: a save that is
    interrupted leaves the previous file as it was. Checkpoints also hold the
    torch random state, so a resumed run draws the same noise as one that never stopped.

    Args:
        dirpath: folder of ``last.ckpt``.
        every_n_steps: also save inside an epoch every this many optimizer steps (0: never).
        every_n_epochs: save at the end of every this many epochs, and of the last
            one (more than 1 only for data sets of a few batches, whose epochs take
            milliseconds: see :func:`~autoencoders.training.stopping.epochs_per_check`).
        min_seconds: in a one-process run, skip an epoch's save when the last one is
            younger than this: a small model's epochs take milliseconds, and saving
            each one cost a tenth of its training (a kill then loses at most this
            long; the last epoch and a stop on a signal always save).
    """

    def __init__(
        self,
        dirpath: str | Path,
        every_n_steps: int = 0,
        every_n_epochs: int = 1,
        min_seconds: float = MIN_SAVE_SECONDS,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = int(every_n_steps)
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.min_seconds = float(min_seconds)
        self._saved_at = -math.inf
        self.last_model_path = ""
        #: the signal that asked training to stop (set by a signal handler), if any
        self.stop_signal: int | None = None
        #: whether :func:`stop_on_signals` routes SIGINT/SIGTERM here
        self.catching_signals = False
        self._saved_step = 0

    @property
    def path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_signal(self, signum: int, frame: Any) -> None:
        """Signal handler (see :func:`stop_on_signals`): stop after this step, or now."""
        if self.stop_signal is not None:
            raise TrainingStopped(
                f"stopped at once by a second {signal.Signals(signum).name}; the last saved "
                f"checkpoint is {self.path}",
                exit_code=128 + signum,
            )
        self.stop_signal = signum
        log.warning(
            "%s: saving a checkpoint after this step, then stopping (again to stop at once)",
            signal.Signals(signum).name,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning has by now put its own SIGTERM handler in front of ours; it would end
        # the run with exit status 0 and no checkpoint. Ours goes back in (Lightning's
        # teardown later restores the handler it found, which is ours again).
        if self.catching_signals and threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                signal.signal(s, self.on_signal)

    def save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # the whole state, to resume
        self.last_model_path = str(self.path)
        self._saved_step = trainer.global_step
        self._saved_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self._stop_requested(trainer):
            self.save(trainer)
            raise self._stopped(trainer)
        n = self.every_n_steps
        if n and trainer.global_step // n > self._saved_step // n:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = (
            trainer.should_stop
            or (trainer.max_epochs is not None and epoch >= trainer.max_epochs)
            or (trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps)
        )
        stop = self._stop_requested(trainer)
        # a signal that came after the epoch's last step (during validation) saves here too
        due = epoch % self.every_n_epochs == 0
        if due and trainer.world_size == 1:  # every rank must agree, so only alone
            due = time.monotonic() - self._saved_at >= self.min_seconds
        if last or stop or due:
            self.save(trainer)
        if stop:
            raise self._stopped(trainer)

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        asked = self.stop_signal is not None
        if trainer.world_size > 1:
            # every process must stop at the same step, or the others wait for it forever
            asked = trainer.strategy.reduce_boolean_decision(asked, all=False)
        return asked

    def _stopped(self, trainer: L.Trainer) -> TrainingStopped:
        signum = self.stop_signal or signal.SIGTERM
        name = signal.Signals(signum).name
        return TrainingStopped(
            f"stopped by {name} in epoch {trainer.current_epoch + 1}, step {trainer.global_step}; "
            f"checkpoint saved to {self.path}; to continue: autoencoders train --resume "
            f"{self.dirpath.parent}",
            exit_code=128 + int(signum),
        )

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["rng_state"] = rng

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        rng = checkpoint.get("rng_state") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


@contextlib.contextmanager
def stop_on_signals(checkpoint: RunCheckpoint) -> Iterator[None]:
    """SIGINT and SIGTERM ask ``checkpoint`` to save and stop after the current step.

    A second signal stops at once (the last saved checkpoint stays as it was).
    Outside the main thread signals cannot be caught, and nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, checkpoint.on_signal) for s in STOP_SIGNALS}
    checkpoint.catching_signals = True
    try:
        yield
    finally:
        checkpoint.catching_signals = False
        for s, handler in previous.items():
            signal.signal(s, handler)


def check_resumable(path: Path, model: AutoEncoder, rule: StopRule) -> None:
    """Refuses a checkpoint that is not this model's, or is past ``epochs``, up front.

    Lightning would refuse these too, but with a traceback.
    """
    stored = read_checkpoint(path)
    missing = [k for k in ("state_dict", "optimizer_states", "loops") if k not in stored]
    if missing:
        raise CheckpointError(
            f"{path} cannot resume training: it lacks {', '.join(missing)} (saved weights "
            "only?); start a new run and load the weights with autoencoders.load instead"
        )
    # epochs whose training part is done ("processed": the count is saved before
    # Lightning marks the epoch completed)
    done = stored["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    if rule.epoch_limit < done:
        flag = "--max-epochs" if rule.early else "--epochs"
        raise ConfigError(
            f"{flag} {rule.epoch_limit}: {path} has already trained {done} epochs; give "
            f"{flag} {done + 1} or more to train longer"
        )
    config = stored.get("autoencoder_config")
    if config is not None and model.config is not None and config != model.config:
        changed = sorted(
            k for k in {*config, *model.config} if config.get(k) != model.config.get(k)
        )
        raise CheckpointError(
            f"{path} was written by another model (options differ: {', '.join(changed)}); "
            "resume with the checkpoint's own settings, or start a new run"
        )
    own = model.state_dict()
    wrong = [k for k, v in stored["state_dict"].items() if k in own and own[k].shape != v.shape]
    if wrong or set(own) != set(stored["state_dict"]):
        which = ", ".join(wrong[:3]) or "other parameter names"
        raise CheckpointError(
            f"{path} holds weights of another shape than this model ({which}); "
            "resume with the model and data it was trained on"
        )
