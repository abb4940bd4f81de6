"""Training on rows held in memory, writing no files: how the scikit-learn estimators train.

The estimators fit arrays that are already in memory and scaled, and must leave
no file behind. On a few rows an epoch is one or two optimizer steps, and
Lightning's work around each epoch costs more than the steps; so a trainer
epoch here is several passes over the rows (the same batches, in the same order,
as one pass per epoch would give), about as many steps as early stopping lets
pass between two checks. The user's limits (epochs, patience) count passes.
The seed ensembles' batched training (:mod:`autoencoders.batched`) follows the
same plan, model by model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from autoencoders.data.datamodule import ArrayDataModule
from autoencoders.data.loader import GroupedLoader, TensorBatchLoader, group_for_trainer
from autoencoders.data.sources import ArrayDataset
from autoencoders.module import AutoEncoder
from autoencoders.quiet import quiet
from autoencoders.training.stopping import StopRule, epochs_per_check
from autoencoders.training.trainer import Ending, ending, make_trainer


@dataclass(frozen=True)
class RowsPlan:
    """How to train on rows in memory.

    Attributes:
        epochs: passes over the rows, or None to stop early on a held-out share.
        patience: checks without improvement before stopping early.
        validation_fraction: the share held out when stopping early (at least one row).
        batch_size: rows per optimizer step.
        seed: the split and the batch order.
    """

    epochs: int | None
    patience: int
    validation_fraction: float
    batch_size: int
    seed: int

    @property
    def rule(self) -> StopRule:
        """The limits as the user gave them, in passes."""
        return StopRule(epochs=self.epochs, patience=self.patience)

    def datamodule(self, x: torch.Tensor) -> RowsDataModule:
        """The rows as a data module, split as this plan says (not yet set up).

        ``x`` is already scaled as the caller wants, so the data module scales nothing.
        """
        data = ArrayDataset("fit data", x, None, x[:0], None, scale=1.0)
        n_val = max(1, round(self.validation_fraction * len(x))) if self.epochs is None else 0
        return RowsDataModule(
            data, batch_size=self.batch_size, val_size=n_val, seed=self.seed, scale="none"
        )


def passes_per_epoch(batches: int, epochs: int | None) -> int:
    """Passes over the rows in one trainer epoch.

    About 20 steps' worth (:func:`~autoencoders.training.stopping.epochs_per_check`);
    for a fixed ``epochs``, the most of those that divide it.
    """
    per_check = epochs_per_check(batches)
    if epochs is None:
        return per_check
    return max(p for p in range(1, per_check + 1) if epochs % p == 0)


def trainer_rule(rule: StopRule, passes: int) -> StopRule:
    """``rule``, counted in trainer epochs of ``passes`` passes each."""
    if rule.early:
        return replace(rule, max_epochs=-(-rule.max_epochs // passes))
    return replace(rule, epochs=int(rule.epochs or 0) // passes)


def train_on_rows(
    model: AutoEncoder,
    x: torch.Tensor,
    plan: RowsPlan,
    *,
    accelerator: str = "auto",
    verbose: bool = False,
) -> Ending:
    """Trains ``model`` in place on the rows ``x`` with the package's trainer, writing no files.

    With ``plan.epochs`` None a seeded share of the rows is held out and training
    stops once their loss has not improved for ``plan.patience`` checks (the best
    weights are kept); with a fixed count every row is fitted, as PCA fits them all.

    Returns:
        The epochs trained (in passes), why training stopped, and the best epoch.
    """
    datamodule = plan.datamodule(x)
    datamodule.setup("fit")
    passes = passes_per_epoch(len(datamodule.train_dataloader()), plan.epochs)
    datamodule.passes = passes
    # No logger and no checkpoint directory: the trainer writes nothing. Its root
    # folder still points at a temporary one, so nothing can land in the cwd.
    with tempfile.TemporaryDirectory(prefix="autoencoder-fit-") as tmp, quiet(not verbose):
        trainer = make_trainer(
            trainer_rule(plan.rule, passes),
            logger=False,
            accelerator=accelerator,
            progress_bar=verbose,
            default_root_dir=tmp,
            **({} if plan.epochs is None else {"limit_val_batches": 0}),
        )
        trainer.fit(model, datamodule=datamodule)
    end = ending(trainer, plan.rule, passes)
    # Drop the trainer, which holds the data module and with it a copy of the rows.
    model.trainer = None  # type: ignore[assignment]
    return end


class Passes:
    """Several passes over a training loader as one trainer epoch.

    Pass ``i`` of trainer epoch ``e`` is the wrapped loader's epoch
    ``e * passes + i``: the same shuffles as one pass per epoch.
    """

    #: Lightning reads ``batch_sampler`` and ``sampler`` to find ``set_epoch``.
    batch_sampler = None

    def __init__(self, loader: TensorBatchLoader, passes: int) -> None:
        self.loader = loader
        self.passes = passes

    @property
    def sampler(self) -> Passes:
        return self

    @property
    def batch_size(self) -> int:  # read by group_for_trainer
        return self.loader.batch_size

    @property
    def epoch(self) -> int:  # read by GroupedLoader
        return self.loader.epoch // self.passes

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch * self.passes)

    def __len__(self) -> int:
        return len(self.loader) * self.passes

    def __iter__(self) -> Iterator[Any]:
        for _ in range(self.passes):
            yield from self.loader  # each iteration moves the loader on by one epoch


class RowsDataModule(ArrayDataModule):
    """Rows held in memory as a data module: ``passes`` passes over them per trainer epoch."""

    passes = 1

    def train_dataloader(self) -> Any:
        loader = super().train_dataloader()
        if self.passes == 1:
            return loader
        plain = loader.loader if isinstance(loader, GroupedLoader) else loader
        return group_for_trainer(Passes(plain, self.passes), getattr(self, "trainer", None))
