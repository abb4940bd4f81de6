"""Training until the validation loss stops improving, then keeping the best weights.

Lightning's ``EarlyStopping`` decides when to stop; :class:`BestWeights` adds what
it leaves out: it remembers the weights of the best validation epoch, restores
them when training ends, and says in words why training stopped. Its state
(best loss, epochs without improvement, best epoch) is part of every checkpoint,
so a resumed run keeps counting where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

#: the metric the stop decision watches (logged by ``AutoEncoder.validation_step``)
MONITOR = "val/loss"
#: least optimizer steps between two validation checks (and epoch-end saves)
STEPS_PER_CHECK = 20


def epochs_per_check(batches_per_epoch: int | None) -> int:
    """Epochs between validation checks: 1, or enough that ~20 steps pass between two.

    An epoch of a data set of a few batches takes milliseconds, less than the
    validation and checkpoint that would follow it; one class of ``digits``
    (about 160 images) is 3 batches of 64.
    """
    if not batches_per_epoch:
        return 1
    return max(1, -(-STEPS_PER_CHECK // batches_per_epoch))


@dataclass(frozen=True)
class StopRule:
    """When training ends: after a fixed epoch count, or once it stops improving.

    Attributes:
        epochs: train exactly this many epochs; ``None`` stops early instead.
        max_epochs: the most epochs an early-stopped run may take.
        patience: validation checks without improvement before stopping: one
            check per epoch, or per ~20 steps where an epoch is shorter.
        min_delta: the least decrease of the validation loss that counts as improvement.
        min_steps: optimizer steps before a run may stop early (small data sets
            have few steps per epoch, and their validation loss is noisy).
        max_steps: a budget in optimizer steps, whichever rule stops first (``None``: none).
    """

    epochs: int | None = None
    max_epochs: int = 500
    patience: int = 10
    min_delta: float = 0.0
    min_steps: int = 0
    max_steps: int | None = None

    @property
    def early(self) -> bool:
        return self.epochs is None

    @property
    def epoch_limit(self) -> int:
        return self.max_epochs if self.epochs is None else self.epochs

    def trainer_kwargs(self) -> dict[str, Any]:
        """``max_epochs``, ``max_steps`` and ``min_steps`` for ``lightning.Trainer``."""
        kwargs: dict[str, Any] = {"max_epochs": self.epoch_limit}
        if self.max_steps is not None:
            kwargs["max_steps"] = self.max_steps
        if self.early and self.min_steps:
            kwargs["min_steps"] = self.min_steps
        return kwargs


class BestWeights(EarlyStopping):
    """Early stopping on :data:`MONITOR` that restores the best epoch's weights at the end.

    Args:
        patience: epochs without improvement before stopping.
        min_delta: the least decrease that counts as improvement.
        dirpath: where to keep ``best.ckpt`` (weights of the best epoch), so that
            a resumed run can restore them too; ``None`` keeps them in memory only.
    """

    def __init__(self, patience: int, min_delta: float, dirpath: str | Path | None = None) -> None:
        super().__init__(
            monitor=MONITOR,
            patience=patience,
            min_delta=min_delta,
            mode="min",
            check_on_train_epoch_end=False,
            verbose=False,
        )
        self.dirpath = Path(dirpath) if dirpath is not None else None
        #: the epoch (counted from 1) whose weights are best so far
        self.best_epoch = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    @property
    def best_path(self) -> Path | None:
        return self.dirpath / "best.ckpt" if self.dirpath is not None else None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        before = float(self.best_score)
        super().on_validation_end(trainer, pl_module)
        if float(self.best_score) < before:
            self.best_epoch = trainer.current_epoch + 1
            self._best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()
            }
            if self.best_path is not None:
                trainer.save_checkpoint(self.best_path, weights_only=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state = self._best_state
        if state is None and self.best_path is not None and self.best_path.is_file():
            state = torch.load(self.best_path, map_location="cpu", weights_only=True)["state_dict"]
        if state is not None:
            pl_module.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_epoch = int(state_dict.get("best_epoch", 0))

    def reason(self, trainer: L.Trainer, rule: StopRule, passes: int = 1) -> str:
        """Why training ended, in words (``passes``: data passes per trainer epoch)."""
        epoch = self.best_epoch * passes
        best = f"best validation loss {float(self.best_score):.4g} in epoch {epoch}"
        at_limit = trainer.current_epoch >= rule.epoch_limit or (
            rule.max_steps is not None and trainer.global_step >= rule.max_steps
        )
        # stopped_epoch is also set when min_steps made Lightning ignore the request
        if self.stopped_epoch and not at_limit:
            return (
                f"stopped early: no improvement of the validation loss in {self.patience} "
                f"checks ({best})"
            )
        return (
            f"{limit_reason(trainer, rule)} before the validation loss stopped improving ({best})"
        )


def limit_reason(trainer: L.Trainer, rule: StopRule) -> str:
    """Which fixed limit ended a run: the step budget or the epoch count."""
    if rule.max_steps is not None and trainer.global_step >= rule.max_steps:
        return f"reached the step budget (--max-steps {rule.max_steps})"
    if rule.early:
        return f"reached --max-epochs {rule.max_epochs}"
    return f"trained the fixed --epochs {rule.epochs}"


class ValidateAtEnd(Callback):
    """Makes the end of every run validate, whatever the validation cadence.

    On a data set of a few batches ``fit`` validates only once per several epochs
    (:func:`~autoencoders.training.stopping.epochs_per_check`), so a run shorter than that
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
