"""One progress bar per training run, on stderr: epoch, loss, time left.

Lightning's own bar writes to stdout and starts afresh every epoch; ours keeps
stdout for results (a summary a script may read) and counts the whole run, so
its ETA is for the run, not the epoch.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class RunProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, on stderr, spanning every epoch of the run.

    Validation gets no bar of its own (it is short); its loss joins the run's bar.
    A run that stops early has no known end: its bar is the epoch's, and its
    description says how many validation checks passed without improvement.
    """

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._done_before = 0  # batches of the epochs before the current one

    def _bar(self, description: str) -> Tqdm:
        return Tqdm(
            desc=description,
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def init_train_tqdm(self) -> Tqdm:
        return self._bar(self.train_description)

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def init_test_tqdm(self) -> Tqdm:
        return self._bar("testing")

    def init_predict_tqdm(self) -> Tqdm:
        return self._bar(self.predict_description)

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        per_epoch = self.total_train_batches
        epochs = trainer.max_epochs
        bar = self.train_progress_bar
        stopper = trainer.early_stopping_callback
        finite = per_epoch not in (None, float("inf")) and epochs is not None and epochs > 0
        finite = finite and stopper is None
        if finite:
            self._done_before = trainer.current_epoch * int(per_epoch)
            if bar.total is None or bar.total == 0 or bar.n == 0:  # first epoch of this process
                bar.reset(total=int(per_epoch) * epochs)
                bar.initial = bar.n = self._done_before  # a resumed run: ETA from here on
        else:  # no known end: an epoch's bar, as Lightning draws it
            self._done_before = 0
            bar.reset(total=None if per_epoch == float("inf") else per_epoch)
        epoch = trainer.current_epoch + 1
        if stopper is not None:
            limit = f" of at most {epochs}" if epochs is not None and epochs > 0 else ""
            bar.set_description(
                f"epoch {epoch}{limit}, {stopper.wait_count}/{stopper.patience} without gain"
            )
        else:
            bar.set_description(f"epoch {epoch}/{epochs if finite else '?'}")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        bar = self.train_progress_bar
        n = self._done_before + idx + 1
        if bar is not None and not bar.disable and self._should_update(n, bar.total):
            bar.n = n
            bar.refresh()
            bar.set_postfix(self.get_metrics(trainer, pl_module))

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, err: BaseException
    ) -> None:
        # Finish the bar now: the message about the error, printed after this, is then
        # the last line on stderr instead of the bar's final redraw at exit.
        for bar in (self._train_progress_bar, self._val_progress_bar):
            if bar is not None:
                bar.close()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version number: not news during a run
        return metrics
