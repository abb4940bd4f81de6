"""Running a training job: one Trainer set-up shared by the CLI, scripts and the estimator."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from autoencoders.checkpoint import AtomicCheckpointIO
from autoencoders.data.loader import group_for_module
from autoencoders.files import write_json
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


def make_trainer(
    epochs: int,
    *,
    checkpoint_dir: str | Path | None = None,
    logger: Logger | bool = False,
    accelerator: str = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    detect_anomaly: bool = False,
    callbacks: Sequence[Callback] = (),
    progress_refresh: int = 1,
    **trainer_kwargs: Any,
) -> L.Trainer:
    """A Trainer tuned for small models: no per-step overhead that the math does not need.

    Checkpoints (``last.ckpt`` only) are written atomically to ``checkpoint_dir``;
    without one, no checkpoint is written.
    """
    cbs: list[Callback] = list(callbacks)
    if progress_bar:
        # Redrawing the bar every step costs more than a small model's step,
        # above all in a notebook, where each redraw is a message to the browser.
        cbs.append(TQDMProgressBar(refresh_rate=progress_refresh))
    if checkpoint_dir is not None:
        cbs.append(
            ModelCheckpoint(
                dirpath=checkpoint_dir,
                filename="last",
                save_top_k=0,
                save_last=True,
                enable_version_counter=False,
            )
        )
    return L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
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
    epochs: int,
    *,
    output_dir: str | Path | None = None,
    logger: Logger | bool | None = None,
    accelerator: str = "auto",
    precision: str | None = None,
    progress_bar: bool = True,
    detect_anomaly: bool = False,
    test: bool = False,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Trains ``model`` and writes ``checkpoints/last.ckpt`` and ``config.json``.

    Args:
        model: the module to train.
        datamodule: supplies train/val (and test) batches.
        epochs: number of training epochs.
        output_dir: run folder; default: the logger's folder, else ``runs/``.
        logger: a Lightning logger, ``None`` for a TensorBoard logger in
            ``output_dir/tensorboard``, ``False`` for none.
        accelerator: ``"cpu"``, ``"gpu"`` or ``"auto"``.
        precision: Lightning precision string (e.g. ``"16-mixed"`` on a GPU).
        progress_bar: show a progress bar.
        detect_anomaly: torch's (slow) anomaly detection, to find where a NaN starts.
        test: also run the test loop after training.
        **trainer_kwargs: passed on to ``lightning.Trainer``.

    Returns:
        The checkpoint path, log folder, final metrics and wall time.
    """
    if isinstance(logger, Logger) and output_dir is None and logger.log_dir:
        output_dir = logger.log_dir
    run_dir = Path(output_dir) if output_dir is not None else Path("runs")
    if logger is None:
        logger = TensorBoardLogger(str(run_dir), name="tensorboard", version="")
    steps = _epoch_calls(model, datamodule)
    if "log_every_n_steps" not in trainer_kwargs:
        # a few points per epoch, at most one per 50 calls
        trainer_kwargs["log_every_n_steps"] = max(1, min(50, (steps or 200) // 4))
    trainer = make_trainer(
        epochs,
        checkpoint_dir=run_dir / "checkpoints",
        logger=logger,
        accelerator=accelerator,
        precision=precision,
        progress_bar=progress_bar,
        detect_anomaly=detect_anomaly,
        progress_refresh=max(1, (steps or 0) // 40),
        **trainer_kwargs,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    wall = time.perf_counter() - start
    if test:
        trainer.test(model, datamodule=datamodule, verbose=False)
    checkpoint = Path(trainer.checkpoint_callback.last_model_path)  # type: ignore[union-attr]
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    try:
        write_json(run_dir / "config.json", model.spec())
    except TypeError as err:
        log.warning("no config.json written: %s", err)
    log_dir = Path(trainer.logger.log_dir) if trainer.logger and trainer.logger.log_dir else None
    return TrainResult(checkpoint, log_dir, metrics, wall, trainer.current_epoch)


def _epoch_calls(model: AutoEncoder, datamodule: L.LightningDataModule) -> int | None:
    """``training_step`` calls per epoch, where the data module can tell."""
    try:
        # grouped as the data module will group it once the trainer is attached
        return len(group_for_module(datamodule.train_dataloader(), model))
    except (TypeError, NotImplementedError, AttributeError):
        return None


def set_threads(threads: int | None) -> None:
    """Applies a CPU thread count for torch, if one is given."""
    if threads:
        torch.set_num_threads(int(threads))
