"""Each model's data: :class:`ModelData`, its batch order, and the padding of short batches.

A group's models may differ in data length and batch size: each draws its own
batch order (as :class:`~autoencoders.data.loader.TensorBatchLoader` does), and
batches of different sizes are padded to one width and masked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class ModelData:
    """One model's data stream.

    Attributes:
        train: training samples, float, shape ``(n, *input_shape)``.
        val: validation samples (needed for early stopping), or ``None``.
        order_seed: seed of the batch order (epoch ``e`` uses ``order_seed + e``);
            ``None``: the model's seed.
        batch_size: training batch size (``None``: ``fit_many``'s).
        eval_batch_size: validation batch size (``None``: ``fit_many``'s).
    """

    train: torch.Tensor
    val: torch.Tensor | None = None
    order_seed: int | None = None
    batch_size: int | None = None
    eval_batch_size: int | None = None

    @classmethod
    def from_datamodule(cls, datamodule: Any) -> ModelData:
        """The splits, seed and batch sizes an :class:`~autoencoders.data.ArrayDataModule` trains with."""
        datamodule.setup("fit")
        train = datamodule.full_arrays("train")[0]
        val = datamodule.full_arrays("val")[0] if len(datamodule.val_set) else None
        return cls(
            train,
            val,
            int(datamodule.seed),
            int(datamodule.batch_size),
            int(datamodule.eval_batch_size),
        )


#: one model's data: a ModelData, an ArrayDataModule (or any data module with its
#: ``full_arrays``, ``batch_size``, ``eval_batch_size`` and ``seed``), or training rows
DataLike = ModelData | torch.Tensor | Any


def resolve_data(data: Any, seed: int, batch_size: int, eval_batch_size: int) -> ModelData:
    if isinstance(data, torch.Tensor):
        data = ModelData(data)
    elif not isinstance(data, ModelData):
        data = ModelData.from_datamodule(data)
    return dataclasses.replace(
        data,
        train=data.train.float(),
        val=None if data.val is None else data.val.float(),
        order_seed=seed if data.order_seed is None else int(data.order_seed),
        batch_size=int(data.batch_size or batch_size),
        eval_batch_size=int(data.eval_batch_size or eval_batch_size),
    )


class Stream:
    """One model's batch order, as :class:`~autoencoders.data.loader.TensorBatchLoader` draws it.

    Rows are indices into the group's concatenated training data (``offset`` on);
    a short batch is padded with the model's first row and masked.
    """

    def __init__(self, n: int, batch_size: int, order_seed: int, offset: int) -> None:
        self.n, self.bs, self.seed, self.offset = n, batch_size, order_seed, offset
        batches = -(-n // batch_size)
        last = n - (batches - 1) * batch_size
        # ArrayDataModule's rule: batch norm cannot train on a lone leftover sample
        self.drop_last = batches > 1 and last == 1
        self.batches = n // batch_size if self.drop_last else batches
        self._rows: list[torch.Tensor] = []
        self._sizes: list[int] = []
        self._where: list[tuple[int, int]] = []
        self._epoch = 0

    def _draw_epoch(self) -> None:
        e = self._epoch
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e))
        used = min(self.n, self.batches * self.bs)
        rows = torch.full((self.batches * self.bs,), int(order[0]), dtype=torch.long)
        rows[:used] = order[:used]
        self._rows.extend((rows + self.offset).view(self.batches, self.bs).unbind(0))
        self._sizes.extend(min(self.bs, used - i * self.bs) for i in range(self.batches))
        self._where.extend((e, i) for i in range(self.batches))
        self._epoch += 1

    def take(self, count: int) -> tuple[torch.Tensor, list[int], list[tuple[int, int]]]:
        """The next ``count`` steps: row indices ``(count, bs)``, batch sizes, (epoch, batch)."""
        while len(self._rows) < count:
            self._draw_epoch()
        rows, self._rows = self._rows[:count], self._rows[count:]
        sizes, self._sizes = self._sizes[:count], self._sizes[count:]
        where, self._where = self._where[:count], self._where[count:]
        return torch.stack(rows), sizes, where


def val_batches(val: torch.Tensor | None, size: int) -> list[torch.Tensor]:
    if val is None or len(val) == 0:
        return []
    return [val[i : i + size] for i in range(0, len(val), size)]


def widen(rows: torch.Tensor, width: int) -> torch.Tensor:
    """Pads a ``(steps, bs)`` index block to ``width`` columns with its first column."""
    return torch.cat([rows, rows[:, :1].expand(-1, width - rows.shape[1])], dim=1)
