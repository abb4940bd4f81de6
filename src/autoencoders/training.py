"""Running a training job: one Trainer set-up shared by the CLI, scripts and the estimator."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from autoencoders.checkpoint import AtomicCheckpointIO
from autoencoders.data.loader import group_for_module
from autoencoders.errors import CheckpointError, ConfigError, NonFiniteLoss, TrainingStopped
from autoencoders.files import write_json
from autoencoders.module import AutoEncoder
from autoencoders.progress_bar import run_progress
from autoencoders.stopping import BestWeights, StopRule, epochs_per_check, limit_reason

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished training run left behind."""

    checkpoint: Path
    log_dir: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    wall_time_s: float = 0.0
    epochs: int = 0
    #: why training ended, in words (early stop, step budget, epoch count)
    stop_reason: str = ""
    #: the epoch whose weights the model holds at the end (early stopping), else 0
    best_epoch: int = 0
    #: optimizer steps taken in this call (0: a resumed run that had already finished)
    steps: int = 0


#: signals that stop training cleanly
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunCheckpoint(Checkpoint):
    """Keeps ``last.ckpt`` current: at every epoch's end, every N steps, and on a stop request.

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
            milliseconds: see :func:`~autoencoders.stopping.epochs_per_check`).
    """

    def __init__(
        self, dirpath: str | Path, every_n_steps: int = 0, every_n_epochs: int = 1
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = int(every_n_steps)
        self.every_n_epochs = max(1, int(every_n_epochs))
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
        if last or epoch % self.every_n_epochs == 0:
            self.save(trainer)
        if self._stop_requested(trainer):
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


class ValidateAtEnd(Callback):
    """Makes the end of every run validate, whatever the validation cadence.

    On a data set of a few batches ``fit`` validates only once per several epochs
    (:func:`~autoencoders.stopping.epochs_per_check`), so a run shorter than that
    would end with no validation loss, no TensorBoard scalars and no reconstruction
    images. The last epoch therefore always validates, and so does the step that
    uses up ``max_steps`` (inside an epoch, Lightning validates only when asked to stop).
    Also counts the optimizer steps this run takes.
    """

    def __init__(self) -> None:
        self.start_step: int | None = None

    def steps(self, trainer: L.Trainer) -> int:
        """Optimizer steps since training started (0 if it never started: nothing left to do)."""
        return 0 if self.start_step is None else trainer.global_step - self.start_step

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_step = trainer.global_step  # after a resumed run's counters are restored

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if last and trainer.check_val_every_n_epoch is not None:
            trainer.check_val_every_n_epoch = 1

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if 0 < trainer.max_steps <= trainer.global_step and trainer.enable_validation:
            if trainer.check_val_every_n_epoch is not None:
                trainer.check_val_every_n_epoch = 1
            trainer.should_stop = True  # the loop ends here anyway; this makes it validate first


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


def make_trainer(
    budget: int | StopRule,
    *,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    logger: Logger | bool = False,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    detect_anomaly: bool = False,
    callbacks: Sequence[Callback] = (),
    progress_refresh: int = 1,
    checkpoint_epochs: int = 1,
    **trainer_kwargs: Any,
) -> L.Trainer:
    """A Trainer tuned for small models: no per-step overhead that the math does not need.

    With ``checkpoint_dir``, ``last.ckpt`` is written there atomically at the end
    of every epoch (and every ``checkpoint_every`` steps; see :class:`RunCheckpoint`);
    without one, no checkpoint is written. ``devices``, ``num_nodes`` and
    ``strategy`` go to Lightning as they are (``strategy="ddp"`` for several processes).
    ``budget`` is an epoch count, or a :class:`~autoencoders.stopping.StopRule`;
    a rule that stops early adds :class:`~autoencoders.stopping.BestWeights`
    (which keeps ``best.ckpt`` beside ``last.ckpt``).
    """
    rule = budget if isinstance(budget, StopRule) else StopRule(epochs=int(budget))
    cbs: list[Callback] = list(callbacks)
    if rule.early:
        cbs.append(BestWeights(rule.patience, rule.min_delta, checkpoint_dir))
    if progress_bar:
        # Redrawing the bar every step costs more than a small model's step,
        # above all in a notebook, where each redraw is a message to the browser.
        # On stderr, for the whole run; a plain line per epoch where stderr is no terminal.
        cbs.append(run_progress(refresh_rate=progress_refresh))
    if checkpoint_dir is not None:
        cbs.append(RunCheckpoint(checkpoint_dir, checkpoint_every, checkpoint_epochs))
    return L.Trainer(
        **rule.trainer_kwargs(),
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=precision,  # type: ignore[arg-type]
        logger=logger,
        callbacks=cbs,
        enable_checkpointing=checkpoint_dir is not None,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        detect_anomaly=detect_anomaly,
        plugins=[AtomicCheckpointIO()],
        **{"log_every_n_steps": 50, **trainer_kwargs},
    )


def fit(
    model: AutoEncoder,
    datamodule: L.LightningDataModule,
    epochs: int | StopRule,
    *,
    output_dir: str | Path | None = None,
    logger: Logger | bool | None = None,
    resume: str | Path | None = None,
    checkpoint_every: int = 0,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    detect_anomaly: bool = False,
    test: bool = False,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Trains ``model``, keeping ``checkpoints/last.ckpt`` and ``config.json`` current.

    ``config.json`` (the model's config, as :func:`~autoencoders.models.build_model`
    takes it) is written before the first step, and ``last.ckpt`` at the end of
    every epoch, so a run that is killed loses at most the epoch it was in.
    SIGINT or SIGTERM save a checkpoint after the current step and raise
    :class:`~autoencoders.errors.TrainingStopped`.
    Validation runs once per epoch, or per ~20 steps on small data, and always at
    the end (:class:`ValidateAtEnd`), so every run has a validation loss and images.

    Args:
        model: the module to train.
        datamodule: supplies train/val (and test) batches.
        epochs: number of training epochs (in all, counting those of a resumed run),
            or a :class:`~autoencoders.stopping.StopRule` that stops once the
            validation loss stops improving and restores the best epoch's weights.
        output_dir: run folder; default: the logger's folder, else ``runs/``.
        logger: a Lightning logger, ``None`` for a TensorBoard logger in
            ``output_dir/tensorboard``, ``False`` for none.
        resume: a checkpoint of this model to continue from: weights, optimizer
            state, epoch and step counters, data order and random state.
        checkpoint_every: also save every this many optimizer steps (0: epoch ends only).
        accelerator: ``"cpu"``, ``"gpu"`` or ``"auto"``.
        devices: processes or GPUs per machine.
        num_nodes: machines.
        strategy: Lightning strategy, e.g. ``"ddp"``.
        precision: Lightning precision string (e.g. ``"16-mixed"`` on a GPU).
        progress_bar: show progress on stderr: a bar on a terminal, else a line per epoch.
        detect_anomaly: torch's (slow) anomaly detection, to find where a NaN starts.
        test: also run the test loop after training.
        **trainer_kwargs: passed on to ``lightning.Trainer``.

    Returns:
        The checkpoint path, log folder, final metrics and wall time.

    Raises:
        TrainingStopped: on SIGINT/SIGTERM, after saving a checkpoint.
        NonFiniteLoss: when the loss stops being finite (the last good checkpoint is kept).
        CheckpointError: when ``resume`` does not fit the model.
    """
    if isinstance(logger, Logger) and output_dir is None and logger.log_dir:
        output_dir = logger.log_dir
    run_dir = Path(output_dir) if output_dir is not None else Path("runs")
    if logger is None:
        logger = TensorBoardLogger(str(run_dir), name="tensorboard", version="")
    rule = epochs if isinstance(epochs, StopRule) else StopRule(epochs=int(epochs))
    if rule.early and trainer_kwargs.get("limit_val_batches") == 0:
        raise ConfigError("early stopping needs validation batches; give a fixed epoch count")
    batches, steps = _epoch_sizes(model, datamodule)
    # Data sets of a few batches: validate and save once per ~20 steps, not every epoch.
    per_check = epochs_per_check(batches)
    trainer_kwargs.setdefault("check_val_every_n_epoch", per_check)
    if "log_every_n_steps" not in trainer_kwargs:
        # a few points per epoch, at most one per 50 calls
        trainer_kwargs["log_every_n_steps"] = max(1, min(50, (steps or 200) // 4))
    trainer = make_trainer(
        rule,
        checkpoint_dir=run_dir / "checkpoints",
        checkpoint_every=checkpoint_every,
        logger=logger,
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=precision,
        progress_bar=progress_bar,
        detect_anomaly=detect_anomaly,
        progress_refresh=max(1, (steps or 0) // 40),
        checkpoint_epochs=per_check,
        callbacks=[*trainer_kwargs.pop("callbacks", ()), ValidateAtEnd()],
        **trainer_kwargs,
    )
    checkpoint = trainer.checkpoint_callback
    assert isinstance(checkpoint, RunCheckpoint)
    if trainer.is_global_zero:
        _write_config(run_dir, model)
    if resume is not None:
        _check_resumable(Path(resume), model, rule)
    start = time.perf_counter()
    try:
        with stop_on_signals(checkpoint):
            trainer.fit(
                model,
                datamodule=datamodule,
                ckpt_path=str(resume) if resume is not None else None,
                weights_only=True,
            )
    except NonFiniteLoss as err:
        kept = checkpoint.last_model_path or (
            str(resume) if resume is not None else "none (no epoch finished)"
        )
        raise NonFiniteLoss(
            f"{err}; last good checkpoint: {kept}; likely causes: a learning rate too high "
            "(--lr), inputs outside [0, 1] with --recon-loss bce, or a weight too large "
            "(--beta, --sparse-weight, --contractive-weight)"
        ) from None
    wall = time.perf_counter() - start
    if test:
        trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log_dir = Path(trainer.logger.log_dir) if trainer.logger and trainer.logger.log_dir else None
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    steps = next(cb for cb in callbacks if isinstance(cb, ValidateAtEnd)).steps(trainer)
    best = next((cb for cb in callbacks if isinstance(cb, BestWeights)), None)
    if best is None:
        return TrainResult(
            checkpoint.path,
            log_dir,
            metrics,
            wall,
            trainer.current_epoch,
            limit_reason(trainer, rule),
            steps=steps,
        )
    path = (
        best.best_path
        if best.best_path is not None and best.best_path.is_file()
        else checkpoint.path
    )
    return TrainResult(
        path,
        log_dir,
        metrics,
        wall,
        trainer.current_epoch,
        best.reason(trainer, rule),
        best.best_epoch,
        steps,
    )


def _write_config(run_dir: Path, model: AutoEncoder) -> None:
    """``config.json``: the dict that ``build_model`` turns back into this model."""
    if model.config is None:
        log.warning("no config.json written: the model was not built from a config")
        return
    write_json(run_dir / "config.json", model.config)


def _check_resumable(path: Path, model: AutoEncoder, rule: StopRule) -> None:
    """Refuses a checkpoint that is not this model's, or is past ``epochs``, up front.

    Lightning would refuse these too, but with a traceback.
    """
    from autoencoders.checkpoint import read_checkpoint

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


def _epoch_sizes(
    model: AutoEncoder, datamodule: L.LightningDataModule
) -> tuple[int | None, int | None]:
    """(batches, ``training_step`` calls) per epoch, where the data module can tell.

    Calls are batches grouped as the data module will group them once the
    trainer is attached (several optimizer steps per call).
    """
    try:
        loader = datamodule.train_dataloader()
        return len(loader), len(group_for_module(loader, model))
    except (TypeError, NotImplementedError, AttributeError):
        return None, None


def set_threads(threads: int | None) -> None:
    """Applies a CPU thread count for torch, if one is given."""
    if threads:
        torch.set_num_threads(int(threads))
