"""LightningDataModules over data held in memory as one tensor."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from autoencoders.data.errors import DataError
from autoencoders.data.loader import (
    GroupedLoader,
    TensorBatchLoader,
    TensorImageDataset,
    group_for_trainer,
)
from autoencoders.data.sources import KINDS, ArrayDataset, load_dataset
from autoencoders.errors import ConfigError

log = logging.getLogger(__name__)


class ArrayDataModule(L.LightningDataModule):
    """Train/validation/test splits of a whole data set kept in memory.

    The data is loaded once, padded once (images, ``pad_to``), and batched by
    indexing; values become float in [0, 1] per batch. The train/validation
    split is a permutation seeded with ``seed``, so it is the same on every run.
    Under a Lightning trainer with several processes, each loader gives every
    rank its own disjoint share (``trainer.global_rank`` of ``trainer.world_size``).

    Args:
        dataset: a data set name or path (see :func:`load_dataset`), or an ``ArrayDataset``.
        data_dir: folder searched first for local copies, and where downloads go.
        batch_size: training batch size.
        train_size: keep only the first ``train_size`` training samples (after shuffling).
        val_size: validation samples split off the training set (an int, or a
            fraction); an int larger than 10% of the data becomes 10%.
        exclude_class: leave this class out of train and validation (test keeps it).
        only_class: keep only this class in train and validation.
        pad_to: zero-pad images symmetrically to this height and width.
        seed: seed of the train/validation split and of the batch order.
        download: allow downloading named data sets.
        eval_batch_size: batch size of validation, test and predict loaders.
        kind: ``"signal"`` to read 2-D/3-D arrays as 1-D signals.

    Raises:
        ConfigError: for an option out of its range (a batch size below 1, a
            ``val_size`` fraction outside [0, 1), an unknown ``kind``, ...).
    """

    def __init__(
        self,
        dataset: str | Path | ArrayDataset = "digits",
        data_dir: str | Path | None = None,
        batch_size: int = 256,
        train_size: int | None = None,
        val_size: int | float = 5000,
        exclude_class: int | None = None,
        only_class: int | None = None,
        pad_to: int | None = None,
        seed: int = 42,
        download: bool = True,
        eval_batch_size: int = 1024,
        kind: str = "auto",
    ) -> None:
        super().__init__()
        _check_options(batch_size, eval_batch_size, train_size, val_size, pad_to, kind)
        self.dataset = dataset
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.train_size = train_size
        self.val_size = val_size
        self.exclude_class = exclude_class
        self.only_class = only_class
        self.pad_to = pad_to
        self.seed = seed
        self.download = download
        self.eval_batch_size = eval_batch_size
        self.kind = kind
        self._data: ArrayDataset | None = None
        self._splits: dict[str, TensorImageDataset] = {}

    # ------------------------------------------------------------ loading
    def prepare_data(self) -> None:
        self._load()

    def array_dataset(self) -> ArrayDataset:
        """The whole data set as this module holds it (loaded once, padded)."""
        return self._load()

    def _load(self) -> ArrayDataset:
        if self._data is None:
            data = self.dataset
            if not isinstance(data, ArrayDataset):
                data = load_dataset(data, self.data_dir, self.download, self.kind)
            self._data = self._padded(data)
        return self._data

    def _padded(self, data: ArrayDataset) -> ArrayDataset:
        if self.pad_to is None:
            return data
        if not data.is_image:
            raise DataError(
                f"pad_to applies to images; {data.name} has samples of shape {data.sample_shape}"
            )
        h, w = data.sample_shape[1:]
        if h > self.pad_to or w > self.pad_to:
            raise DataError(
                f"pad_to={self.pad_to} is smaller than the {h}x{w} images of {data.name}"
            )
        top, left = (self.pad_to - h) // 2, (self.pad_to - w) // 2
        pad = (left, self.pad_to - w - left, top, self.pad_to - h - top)
        return ArrayDataset(
            data.name,
            F.pad(data.train_x, pad),
            data.train_y,
            F.pad(data.test_x, pad),
            data.test_y,
            data.scale,
            data.classes,
        )

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        data = self._load()
        n = len(data.train_x)
        n_val = self._n_val(n)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        train_idx, val_idx = order[n_val:], order[:n_val]
        train_idx, val_idx = self._filter(train_idx, data), self._filter(val_idx, data)
        if self.train_size is not None:
            if self.train_size > len(train_idx):
                log.warning(
                    "train_size=%d but only %d training samples are left; using all of them",
                    self.train_size,
                    len(train_idx),
                )
            train_idx = train_idx[: self.train_size]
        if len(train_idx) == 0:
            if self.exclude_class is None and self.only_class is None:
                raise DataError(
                    f"{data.name}: no training samples are left once {n_val} are held out for "
                    f"validation; add samples or lower val_size (now {self.val_size})"
                )
            raise DataError(
                f"{data.name}: no training samples left after the class filter "
                f"(exclude_class={self.exclude_class}, only_class={self.only_class}); "
                "choose a class the training data holds"
            )
        x, y = data.train_x, data.train_y
        self._splits = {
            "train": TensorImageDataset(
                x[train_idx], None if y is None else y[train_idx], data.scale
            ),
            "val": TensorImageDataset(x[val_idx], None if y is None else y[val_idx], data.scale),
            "test": TensorImageDataset(data.test_x, data.test_y, data.scale),
        }

    def _n_val(self, n: int) -> int:
        if isinstance(self.val_size, float):
            return round(n * self.val_size)
        return min(int(self.val_size), round(n * 0.1))

    def _filter(self, idx: torch.Tensor, data: ArrayDataset) -> torch.Tensor:
        if self.exclude_class is None and self.only_class is None:
            return idx
        if data.train_y is None:
            raise DataError(f"{data.name} has no labels, so no class can be excluded or kept")
        labels = data.train_y[idx]
        if self.exclude_class is not None:
            idx, labels = idx[labels != self.exclude_class], labels[labels != self.exclude_class]
        if self.only_class is not None:
            idx = idx[labels == self.only_class]
        return idx

    # --------------------------------------------------------------- views
    def _split(self, name: str) -> TensorImageDataset:
        self.setup()
        return self._splits[name]

    @property
    def train_set(self) -> TensorImageDataset:
        return self._split("train")

    @property
    def val_set(self) -> TensorImageDataset:
        return self._split("val")

    @property
    def test_set(self) -> TensorImageDataset:
        return self._split("test")

    @property
    def name(self) -> str:
        return self._load().name

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self._load().sample_shape

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self._load().classes

    @property
    def num_classes(self) -> int:
        data = self._load()
        if data.classes is not None:
            return len(data.classes)
        return int(data.train_y.max()) + 1 if data.train_y is not None else 0

    def full_arrays(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples of ``"train"``, ``"val"`` or ``"test"`` as float in [0, 1], with labels."""
        ds = self._split(split)
        return ds[torch.arange(len(ds))]  # type: ignore[return-value]

    # ------------------------------------------------------------ loaders
    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> TensorBatchLoader:
        rank, world = self._rank()
        return TensorBatchLoader(
            self._split(split), batch_size, shuffle, self.seed, rank=rank, world_size=world
        )

    def train_dataloader(self) -> TensorBatchLoader | GroupedLoader:
        # A module that takes several optimizer steps per call (our AutoEncoder)
        # gets its batches in groups; any other module gets plain batches.
        loader = self._loader("train", self.batch_size, shuffle=True)
        if len(loader) > 1 and loader.last_batch_size == 1:
            # BatchNorm cannot train on one sample; the lone one left over is a
            # different sample each epoch, so every sample is still seen.
            loader.drop_last = True
        return group_for_trainer(loader, getattr(self, "trainer", None))

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> TensorBatchLoader:
        return self.test_dataloader()


def _check_options(
    batch_size: int,
    eval_batch_size: int,
    train_size: int | None,
    val_size: int | float,
    pad_to: int | None,
    kind: str,
) -> None:
    """Refuses options of :class:`ArrayDataModule` that cannot work, before any data is read.

    Raises:
        ConfigError: naming the option, its value and what it may be.
    """
    for option, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if value < 1:
            raise ConfigError(f"{option} must be at least 1, got {value}")
    if train_size is not None and train_size < 1:
        raise ConfigError(f"train_size must be at least 1 (or None for all), got {train_size}")
    if isinstance(val_size, float):
        if not 0.0 <= val_size < 1.0:
            raise ConfigError(
                f"val_size as a fraction must be in [0, 1), got {val_size}; or give a count"
            )
    elif val_size < 0:
        raise ConfigError(f"val_size must be 0 or more, got {val_size}")
    if pad_to is not None and pad_to < 1:
        raise ConfigError(f"pad_to must be at least 1 (or None for no padding), got {pad_to}")
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


class MNISTDataModule(ArrayDataModule):
    """MNIST padded to 32x32, split 55,000 / 5,000 / 10,000 (the lecture's data module).

    ``MNISTDataModule(data_dir, batch_size, train_size)``; the splits are
    ``.mnist_train``, ``.mnist_val`` and ``.mnist_test``, whose items are
    ``(image, label)`` with images of shape ``(1, 32, 32)`` in [0, 1].
    """

    dataset_name = "mnist"

    def __init__(
        self,
        data_dir: str | Path = "./dataset/",
        batch_size: int = 32,
        train_size: int | None = None,
        **kwargs: object,
    ) -> None:
        kwargs.setdefault("pad_to", 32)
        super().__init__(
            self.dataset_name,
            data_dir,
            batch_size,
            train_size,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def mnist_train(self) -> TensorImageDataset:
        return self.train_set

    @property
    def mnist_val(self) -> TensorImageDataset:
        return self.val_set

    @property
    def mnist_test(self) -> TensorImageDataset:
        return self.test_set


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST with the same interface as :class:`MNISTDataModule`."""

    dataset_name = "fashion-mnist"


class KMNISTDataModule(MNISTDataModule):
    """KMNIST with the same interface as :class:`MNISTDataModule`."""

    dataset_name = "kmnist"


class DigitsDataModule(ArrayDataModule):
    """scikit-learn's bundled 8x8 digits: works offline, always."""

    def __init__(self, batch_size: int = 128, **kwargs: object) -> None:
        super().__init__("digits", batch_size=batch_size, **kwargs)  # type: ignore[arg-type]
