"""Batches cut from one resident tensor or a memory map: no per-sample Python, no worker processes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset

from autoencoders.data.mapped import MappedRows
from autoencoders.data.scaling import MinMaxScaler
from autoencoders.errors import ConfigError


class TensorImageDataset(Dataset):
    """A view of stored samples that converts to float in [0, 1] on access.

    ``ds[i]`` gives ``(x, label)`` for one sample, ``ds[index_tensor]`` a whole
    batch ``(x, labels)``; missing labels read as -1. ``x`` is a resident
    tensor, or :class:`~autoencoders.data.mapped.MappedRows` whose samples are
    read from the map per access; ``scaler`` (a
    :class:`~autoencoders.data.scaling.MinMaxScaler`) is then applied per
    batch, where resident data comes scaled already.
    """

    def __init__(
        self,
        x: torch.Tensor | MappedRows,
        y: torch.Tensor | None,
        scale: float,
        scaler: MinMaxScaler | None = None,
    ) -> None:
        self.x = x
        self.y = y if y is not None else torch.full((len(x),), -1, dtype=torch.int64)
        self.scale = float(scale)
        self.scaler = scaler
        #: put each batch in pinned memory (for non-blocking copies to a CUDA device)
        self.pin_memory = False

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | int]:
        x = self.x.read(index) if isinstance(self.x, MappedRows) else self.x[index]
        if self.scaler is not None:
            x = torch.from_numpy(self.scaler.apply(x.float() / self.scale))
        elif x.dtype != torch.float32:
            # the converted copy is ours: scale it in place, sparing a batch-sized allocation
            x = x.float()
            if self.scale != 1.0:
                x.div_(self.scale)
        elif self.scale != 1.0:
            x = x / self.scale
        if self.pin_memory:
            x = x.pin_memory()
        y = self.y[index]
        return x, (int(y) if y.dim() == 0 else y)


class _ResumableLoader:
    """Where a loader's running epoch is, so a checkpoint taken inside it can resume it.

    Lightning stores ``state_dict()`` in its checkpoints and hands it back to
    ``load_state_dict`` on resuming. It fetches ahead only from loaders without
    a length, and ours have one, so what was handed out is what was trained on.
    A finished epoch is stored as the start of the next one.
    """

    _epoch_running = 0
    #: items of the running epoch handed out (counting those skipped on resuming)
    _taken = 0
    #: items to skip at the start of the next epoch (set by ``load_state_dict``)
    _resume_at = 0

    def _begin_epoch(self, epoch: int) -> int:
        """Starts counting ``epoch``; returns how many items to skip."""
        skip, self._resume_at = self._resume_at, 0
        self._epoch_running, self._taken = epoch, skip
        return skip

    def state_dict(self) -> dict[str, int]:
        """The running epoch and how many of its items were trained on."""
        if self._taken >= len(self):
            return {"epoch": self._epoch_running + 1, "consumed": 0}
        return {"epoch": self._epoch_running, "consumed": self._taken}


class TensorBatchLoader(_ResumableLoader):
    """Iterates over ``(x, y)`` batches of a :class:`TensorImageDataset` by indexing.

    Each epoch draws a new permutation from a generator seeded with
    ``seed + epoch``, so runs are reproducible and epochs differ. The epoch
    counts up by one per iteration, and :meth:`set_epoch` (which Lightning
    calls at the start of each epoch) sets it. With ``world_size > 1`` every
    rank draws the same permutation and takes its own disjoint, equally long
    share of it (a remainder of fewer than ``world_size`` samples is left out).

    Args:
        dataset: the samples.
        batch_size: samples per batch.
        shuffle: permute every epoch (else keep the stored order).
        seed: base seed of the permutations.
        drop_last: drop a final incomplete batch.
        rank: this process's rank.
        world_size: number of processes sharing the data.
    """

    def __init__(
        self,
        dataset: TensorImageDataset,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:  # an option the user sets, hence a ConfigError
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    #: Lightning reads ``batch_sampler`` and ``sampler`` to find ``set_epoch``.
    batch_sampler = None

    @property
    def sampler(self) -> TensorBatchLoader:
        """This loader itself, so that Lightning's ``sampler.set_epoch`` call reaches it."""
        return self

    def set_epoch(self, epoch: int) -> None:
        """Makes the next iteration use the permutation of ``epoch`` (e.g. after resuming)."""
        self.epoch = int(epoch)

    def _share(self) -> int:
        return len(self.dataset) // self.world_size if self.world_size > 1 else len(self.dataset)

    def __len__(self) -> int:
        n = self._share()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def last_batch_size(self) -> int:
        """Size of an epoch's last batch (0 when the epoch has none)."""
        batches = len(self)
        if batches == 0 or self.drop_last:
            return self.batch_size if batches else 0
        return self._share() - (batches - 1) * self.batch_size

    def indices(self, epoch: int) -> torch.Tensor:
        """The sample order of an epoch for this rank."""
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            share = self._share()
            order = order[: share * self.world_size][self.rank :: self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        order = self.indices(epoch)
        skip = self._begin_epoch(epoch)
        for start in range(skip * self.batch_size, len(self) * self.batch_size, self.batch_size):
            self._taken += 1
            yield self.dataset[order[start : start + self.batch_size]]  # type: ignore[misc]

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Makes the next iteration continue the checkpoint's epoch after its last batch."""
        self.epoch, self._resume_at = int(state["epoch"]), int(state["consumed"])


class StepGroup(list):
    """The batches of several consecutive optimizer steps, handed over as one item.

    Lightning spends 0.5-1 ms of Python on every item its training loop takes
    from a loader (hooks, progress, logging bookkeeping): as much as a small
    model's whole step at batch 32. A module that accepts groups takes one
    optimizer step per batch inside a single ``training_step`` call.
    """


class GroupedLoader(_ResumableLoader):
    """Yields a loader's batches in :class:`StepGroup` items of ``steps`` batches.

    The last group holds what is left. ``sampler`` is the wrapped loader's, so
    Lightning's per-epoch ``set_epoch`` still reaches it.
    """

    #: Lightning reads ``batch_sampler`` and ``sampler`` to find ``set_epoch``.
    batch_sampler = None

    def __init__(self, loader: Iterable[Any], steps: int) -> None:
        if steps < 1:
            raise ValueError(f"steps per group must be at least 1, got {steps}")
        self.loader = loader
        self.steps = int(steps)

    @property
    def sampler(self) -> Any:
        return getattr(self.loader, "sampler", None)

    def __len__(self) -> int:
        return -(-len(self.loader) // self.steps)  # type: ignore[arg-type]

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continues the checkpoint's epoch after its last group (counted in groups)."""
        load = getattr(self.loader, "load_state_dict", None)
        if load is None:
            raise TypeError(f"{type(self.loader).__name__} cannot resume inside an epoch")
        load({"epoch": state["epoch"], "consumed": state["consumed"] * self.steps})
        self._resume_at = int(state["consumed"])

    def __iter__(self) -> Iterator[StepGroup]:
        self._begin_epoch(getattr(self.loader, "epoch", 0))
        for group in self._groups():
            self._taken += 1
            yield group

    def _groups(self) -> Iterator[StepGroup]:
        group = StepGroup()
        for batch in self.loader:  # already told where to start (load_state_dict)
            group.append(batch)
            if len(group) == self.steps:
                yield group
                group = StepGroup()
        if group:
            yield group


def group_for_trainer(loader: Any, trainer: Any) -> Any:
    """``loader`` grouped as the module that ``trainer`` is fitting asks for, else as is.

    A module opts in with a method ``optimizer_steps_per_call(batch_size) -> int``
    (see :meth:`autoencoders.module.AutoEncoder.optimizer_steps_per_call`); any
    other module gets plain batches.
    """
    module = getattr(trainer, "lightning_module", None) if trainer is not None else None
    return group_for_module(loader, module)


def group_for_module(loader: Any, module: Any) -> Any:
    """``loader`` grouped as ``module`` asks for (see :func:`group_for_trainer`), else as is."""
    steps_for = getattr(module, "optimizer_steps_per_call", None)
    batch_size = getattr(loader, "batch_size", None)
    if not callable(steps_for) or not batch_size:
        return loader
    steps = int(steps_for(int(batch_size)))
    return GroupedLoader(loader, steps) if steps > 1 else loader
