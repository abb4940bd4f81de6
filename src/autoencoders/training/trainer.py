"""The Trainer set-up shared by the CLI, scripts, the bake-off and the estimators, and ``fit``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from autoencoders.data.loader import group_for_module
from autoencoders.errors import ConfigError, NonFiniteLoss
from autoencoders.files import write_json
from autoencoders.training.checkpoints import (
    MIN_SAVE_SECONDS,
    AtomicCheckpointIO,
    RunCheckpoint,
    check_resumable,
    stop_on_signals,
)
from autoencoders.training.progress import run_progress
from autoencoders.training.stopping import (
    BestWeights,
    StopRule,
    ValidateAtEnd,
    epochs_per_check,
    limit_reason,
)

if TYPE_CHECKING:
    from autoencoders.module import AutoEncoder

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


def make_trainer(
    budget: int | StopRule,
    *,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = MIN_SAVE_SECONDS,
    logger: Logger | Sequence[Logger] | bool = False,
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
    ``budget`` is an epoch count, or a :class:`~autoencoders.training.stopping.StopRule`;
    a rule that stops early adds :class:`~autoencoders.training.stopping.BestWeights`
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
        cbs.append(
            RunCheckpoint(checkpoint_dir, checkpoint_every, checkpoint_epochs, checkpoint_seconds)
        )
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
    logger: Logger | Sequence[Logger] | bool | None = None,
    resume: str | Path | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = MIN_SAVE_SECONDS,
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
            or a :class:`~autoencoders.training.stopping.StopRule` that stops once the
            validation loss stops improving and restores the best epoch's weights.
        output_dir: run folder; default: the logger's folder, else ``runs/``.
        logger: a Lightning logger or several (:func:`~autoencoders.training.loggers.make_loggers`),
            ``None`` for a TensorBoard logger in ``output_dir/tensorboard``, ``False`` for none.
        resume: a checkpoint of this model to continue from: weights, optimizer
            state, epoch and step counters, data order and random state.
        checkpoint_every: also save every this many optimizer steps (0: epoch ends only).
        checkpoint_seconds: in a one-process run, the least time between two
            epoch-end saves (the last epoch and a stop always save).
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
        checkpoint_seconds=checkpoint_seconds,
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
        check_resumable(Path(resume), model, rule)
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
    end = ending(trainer, rule)
    best = best_weights(trainer)
    path = checkpoint.path
    if best is not None and best.best_path is not None and best.best_path.is_file():
        path = best.best_path
    return TrainResult(path, log_dir, metrics, wall, end.epochs, end.reason, end.best_epoch, steps)


@dataclass(frozen=True)
class Ending:
    """How a finished ``trainer.fit`` ended, in the units the user's limits count."""

    epochs: int
    #: why training ended, in words
    reason: str
    #: the epoch whose weights the model holds (early stopping), else 0
    best_epoch: int


def best_weights(trainer: L.Trainer) -> BestWeights | None:
    """The trainer's early-stopping callback, if it stops early."""
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    return next((cb for cb in callbacks if isinstance(cb, BestWeights)), None)


def ending(trainer: L.Trainer, rule: StopRule, passes: int = 1) -> Ending:
    """Epochs trained, why training stopped and the best epoch, for ``rule``'s limits.

    Args:
        trainer: a trainer whose ``fit`` has returned.
        rule: the limits as the user gave them.
        passes: passes over the data in one trainer epoch (the estimators run
            several per epoch on small data), so that epochs count passes.
    """
    epochs = int(trainer.current_epoch) * passes
    counted = SimpleNamespace(current_epoch=epochs, global_step=trainer.global_step)
    best = best_weights(trainer)
    if best is None:
        return Ending(epochs, limit_reason(counted, rule), 0)  # type: ignore[arg-type]
    reason = best.reason(counted, rule, passes)  # type: ignore[arg-type]
    return Ending(epochs, reason, best.best_epoch * passes)


def _write_config(run_dir: Path, model: AutoEncoder) -> None:
    """``config.json``: the dict that ``build_model`` turns back into this model."""
    if model.config is None:
        log.warning("no config.json written: the model was not built from a config")
        return
    write_json(run_dir / "config.json", model.config)


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


def compile_networks(model: torch.nn.Module) -> None:
    """Compiles the model's networks (encoder, bottleneck, decoder) in place with torch.compile.

    Not the LightningModule itself: its training step takes several optimizer
    steps in Python (``grouped_steps``), which torch.compile cannot trace
    (``torch.compile(module)`` failed inside it). Compiling in place keeps the
    state-dict keys, so checkpoints load into uncompiled models.
    """
    for name in ("encoder", "bottleneck", "decoder"):
        part = getattr(model, name, None)
        if isinstance(part, torch.nn.Module):
            part.compile()


def set_threads(threads: int | None) -> None:
    """Applies a CPU thread count for torch, if one is given."""
    if threads:
        torch.set_num_threads(int(threads))
