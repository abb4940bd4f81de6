"""Training progress on stderr: a bar on a terminal, plain lines elsewhere.

Lightning's own bar writes to stdout and starts afresh every epoch; ours keeps
stdout for results (a summary a script may read) and counts the whole run, so
its ETA is for the run, not the epoch. A bar redraws itself in place with
carriage returns, which a file or a pipe keeps every one of (a 9-second run
once wrote 357 KB of them to a log), so where stderr is not a terminal the run
reports one line per epoch instead (:class:`ProgressLines`);
:func:`run_progress` picks one of the two.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


def redraws_in_place(stream: TextIO) -> bool:
    """Whether ``stream`` shows a redrawn bar as one line: a terminal, or a Jupyter kernel's.

    A notebook's output area honours carriage returns (and Lightning draws its widget bar
    there), so notebooks keep the bar although their streams are no terminals.
    """
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return type(stream).__module__.split(".")[0] == "ipykernel"


def run_progress(refresh_rate: int = 1, stream: TextIO | None = None) -> ProgressBar:
    """The progress callback of one run, for ``stream`` (default: ``sys.stderr``).

    :class:`RunProgressBar` where a bar redraws in place (see :func:`redraws_in_place`),
    else :class:`ProgressLines`. The bar always draws on ``sys.stderr``.
    """
    if redraws_in_place(sys.stderr if stream is None else stream):
        return RunProgressBar(refresh_rate=refresh_rate)
    return ProgressLines(stream)


def describe_epoch(trainer: L.Trainer, epoch: int, end_known: bool = True) -> str:
    """``epoch 3/10``; under early stopping ``epoch 3 of at most 500, 1/10 without gain``.

    ``epoch`` counts from 1; ``end_known=False`` writes ``epoch 3/?``.
    """
    epochs = trainer.max_epochs
    stopper = trainer.early_stopping_callback
    if stopper is not None:
        limit = f" of at most {epochs}" if epochs is not None and epochs > 0 else ""
        return f"epoch {epoch}{limit}, {stopper.wait_count}/{stopper.patience} without gain"
    known = end_known and epochs is not None and epochs > 0
    return f"epoch {epoch}/{epochs if known else '?'}"


def _without_version(metrics: dict[str, Any]) -> dict[str, Any]:
    metrics.pop("v_num", None)  # the logger's version number: not news during a run
    return metrics


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
        bar.set_description(describe_epoch(trainer, trainer.current_epoch + 1, finite))

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
        return _without_version(super().get_metrics(trainer, pl_module))


class ProgressLines(ProgressBar):
    """Progress as plain lines, for a log file or a pipe.

    A line reads ``epoch 3/10: train loss 41.2, val loss 40.9, 12.3 s`` (the
    epoch's mean training loss, the last validation loss, seconds since training
    started), or under early stopping ``epoch 3 of at most 500, 1/10 without gain: ...``.

    One line per epoch, except that once ``first_lines`` lines are out, epochs
    shorter than ``min_gap_s`` share a line (a small data set runs hundreds of
    epochs a minute); the run's last epoch always has its own. An epoch longer than
    ``within_epoch_s`` also gets a line (``epoch 3/10, 40%: ...``) every that many
    seconds.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        first_lines: int = 10,
        min_gap_s: float = 1.0,
        within_epoch_s: float = 5.0,
    ) -> None:
        super().__init__()
        self._stream = stream
        self.first_lines = first_lines
        self.min_gap_s = min_gap_s
        self.within_epoch_s = within_epoch_s
        self._enabled = True
        self._start = self._last = 0.0  # perf_counter at training start and at the last line
        self._lines = 0
        self._epoch = 0  # the current epoch, from 1
        self._pending = False  # steps trained since the last line
        self._due: float | None = None  # the finished epoch's end, while its line waits

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        return _without_version(super().get_metrics(trainer, pl_module))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._last = time.perf_counter()
        self._lines = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer, pl_module)
        self._epoch = trainer.current_epoch + 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self._pending = True
        now = time.perf_counter()
        if now - self._last >= self.within_epoch_s:
            per_epoch = self.total_train_batches
            where = (
                f"{100 * (idx + 1) // int(per_epoch)}%"
                if per_epoch not in (0, float("inf"))
                else f"batch {idx + 1}"
            )
            self._write(trainer, pl_module, now, where)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Written once the next epoch starts or the run ends: Lightning publishes the
        # epoch's means (train/loss_epoch) and the early-stopping count only after this hook.
        now = time.perf_counter()
        epochs = trainer.max_epochs
        last = trainer.should_stop or (epochs is not None and 0 < epochs <= self._epoch)
        if last or self._lines < self.first_lines or now - self._last >= self.min_gap_s:
            self._due = now

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer, pl_module)
        if self._pending:  # the run ended inside an epoch (max_steps), or after a skipped line
            self._write(trainer, pl_module, time.perf_counter())

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, err: BaseException
    ) -> None:
        self._flush(trainer, pl_module)  # the finished epoch's line, before the error message

    def _flush(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._due is not None:
            self._write(trainer, pl_module, self._due, epoch_end=True)

    def _write(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        at: float,
        where: str = "",
        *,
        epoch_end: bool = False,
    ) -> None:
        self._last, self._due, self._pending = at, None, False
        if not self._enabled:
            return
        self._lines += 1
        metrics = self.get_metrics(trainer, pl_module)  # what the bar shows
        mean = trainer.callback_metrics.get("train/loss_epoch")
        if epoch_end and mean is not None and mean.numel() == 1:
            metrics["train/loss"] = float(mean)  # the epoch's mean, not its last step's
        ordered = sorted(metrics.items(), key=lambda item: not item[0].startswith("train"))
        shown = [f"{k.replace('/', ' ')} {_number(v)}" for k, v in ordered]
        shown.append(f"{at - self._start:.1f} s")
        head = describe_epoch(trainer, self._epoch) + (f", {where}" if where else "")
        stream = sys.stderr if self._stream is None else self._stream
        stream.write(f"{head}: {', '.join(shown)}\n")
        stream.flush()


def _number(value: Any) -> str:
    """A metric as a line shows it: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
