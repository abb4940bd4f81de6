"""The one-by-one path: a model trained alone on the package's normal trainer set-up.

It is what models that cannot be batched train with, and the reference the
batched path is measured against (``batched=False``).
"""

from __future__ import annotations

import math
import tempfile
import time
from types import SimpleNamespace
from typing import Any

import lightning as L
import torch

from autoencoders.batched.data import ModelData
from autoencoders.batched.member import Member
from autoencoders.batched.results import ManyFit
from autoencoders.data.loader import TensorBatchLoader, TensorImageDataset, group_for_trainer
from autoencoders.module import AutoEncoder
from autoencoders.quiet import quiet
from autoencoders.training.stopping import BestWeights, StopRule, ValidateAtEnd, limit_reason
from autoencoders.training.trainer import make_trainer


class StreamData(L.LightningDataModule):
    """A :class:`ModelData` as the loaders :class:`~autoencoders.data.ArrayDataModule` makes."""

    def __init__(self, data: ModelData, passes: int = 1) -> None:
        super().__init__()
        self.data = data
        self.passes = passes

    def train_dataloader(self) -> Any:
        d = self.data
        loader = TensorBatchLoader(
            TensorImageDataset(d.train, None, 1.0),
            int(d.batch_size or 256),
            True,
            int(d.order_seed or 0),
        )
        if len(loader) > 1 and loader.last_batch_size == 1:
            loader.drop_last = True  # as ArrayDataModule: batch norm cannot train on one sample
        plain = loader if self.passes == 1 else Passes(loader, self.passes)
        return group_for_trainer(plain, getattr(self, "trainer", None))

    def val_dataloader(self) -> Any:
        d = self.data
        val = d.val if d.val is not None else d.train[:0]
        return TensorBatchLoader(TensorImageDataset(val, None, 1.0), int(d.eval_batch_size or 1024))


def fit_one(
    model: AutoEncoder,
    m: Member,
    trainer_rule: StopRule,
    rule: StopRule,
    device: torch.device,
    reason: str,
) -> ManyFit:
    """Trains ``model`` alone with the package's trainer set-up (no files, no logger)."""
    accelerator = {"cuda": "gpu"}.get(device.type, device.type)
    datamodule = StreamData(m.data, m.passes)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoencoders-many-") as tmp, quiet():
        trainer = make_trainer(
            trainer_rule,
            logger=False,
            accelerator=accelerator,
            progress_bar=False,
            default_root_dir=tmp,
            check_val_every_n_epoch=m.per_check,
            callbacks=[ValidateAtEnd()] if m.validate_at_end else [],
            **({} if m.validates else {"limit_val_batches": 0}),
        )
        trainer.fit(model, datamodule=datamodule)
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, BestWeights)), None)  # type: ignore[attr-defined]
    epochs = int(trainer.current_epoch) * m.passes  # passes over the rows, as `rule` counts
    counted = SimpleNamespace(current_epoch=epochs, global_step=trainer.global_step)
    if stopper is not None:
        stopper.best_epoch *= m.passes
    stop_reason = (
        stopper.reason(counted, rule)  # type: ignore[arg-type]
        if stopper is not None
        else limit_reason(counted, rule)  # type: ignore[arg-type]
    )
    val = trainer.callback_metrics.get("val/loss")
    model.trainer = None  # type: ignore[assignment]  # it holds the data module
    return ManyFit(
        model.to(device).eval(),
        m.seed,
        epochs,
        int(trainer.global_step),
        stopper.best_epoch if stopper is not None else 0,
        stop_reason,
        batched=False,
        fallback_reason=reason,
        wall_time_s=time.perf_counter() - start,
        val_loss=float(val) if val is not None else math.nan,
    )


class Passes:
    """Several passes over a loader as one trainer epoch (as the estimators' data module).

    Pass ``i`` of trainer epoch ``e`` is the loader's epoch ``e * passes + i``.
    """

    batch_sampler = None  # Lightning looks for set_epoch on `sampler`

    def __init__(self, loader: TensorBatchLoader, passes: int) -> None:
        self.loader, self.passes = loader, passes

    @property
    def sampler(self) -> Passes:
        return self

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    @property
    def epoch(self) -> int:
        return self.loader.epoch // self.passes

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch * self.passes)

    def __len__(self) -> int:
        return len(self.loader) * self.passes

    def __iter__(self) -> Any:
        for _ in range(self.passes):
            yield from self.loader
