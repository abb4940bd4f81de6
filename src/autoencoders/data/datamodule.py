"""LightningDataModules over a data set held in memory, or memory-mapped and read a batch at a time."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

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
from autoencoders.data.mapped import MappedRows, fits_in_memory, is_mapped, row_chunks
from autoencoders.data.scaling import SCALES, MinMaxScaler, outside_unit_range
from autoencoders.data.sources import ArrayDataset, load_dataset
from autoencoders.errors import ConfigError
from autoencoders.run_config import DATA_KINDS

log = logging.getLogger(__name__)


class ArrayDataModule(L.LightningDataModule):
    """Train/validation/test splits of a whole data set kept in memory.

    The data is loaded once, padded once (images, ``pad_to``), and batched by
    indexing; values become float in [0, 1] per batch. Data not in [0, 1] by
    nature (tables; float arrays with values outside it) is min-max scaled into
    it by a :class:`~autoencoders.data.scaling.MinMaxScaler` fitted on the
    training split (``scale``); Lightning stores that scaler in every
    checkpoint (:meth:`state_dict`), and a module given ``scaler`` applies a
    stored one instead of fitting its own. The train/validation
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
        scale: ``"auto"`` (min-max scaling for tables, and for other data than
            signals whose values leave [0, 1]), ``"minmax"`` (always) or ``"none"``.
        label_column: a table's label column (see :func:`load_dataset`).
        header: whether a CSV's first row may be a header (see :func:`load_dataset`).
        scaler: a fitted scaler (or its :meth:`~MinMaxScaler.to_dict`) to apply
            instead of fitting one; ``scale`` is then ignored.
        channels_mode: the channels of an image folder's images (see :func:`load_dataset`).
        image_size: the size an image folder's images are brought to (see
            :func:`load_dataset`).
        patch_size: the side of the ``photo-patches`` data sets' patches.
        memory_map: ``"auto"``, ``"always"`` or ``"never"``: when an ``.npy`` (or
            a cached image folder) is read through a memory map, batch by batch
            (see :func:`load_dataset`); the splits are then indices into the map.
        cache_dir: where image folders are decoded to once (see :func:`load_dataset`).

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
        scale: str = "auto",
        label_column: str | None = None,
        header: bool = True,
        scaler: MinMaxScaler | dict[str, Any] | None = None,
        channels_mode: str = "auto",
        image_size: str | tuple[int, int] | None = None,
        patch_size: int = 16,
        memory_map: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        _check_options(batch_size, eval_batch_size, train_size, val_size, pad_to, kind)
        if scale not in SCALES:
            raise ConfigError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
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
        self.scale = scale
        self.label_column = label_column
        self.header = header
        self.image_options = {
            "channels_mode": channels_mode,
            "image_size": image_size,
            "patch_size": patch_size,
            "memory_map": memory_map,
            "cache_dir": cache_dir,
        }
        self._given_scaler = isinstance(scaler, (MinMaxScaler, dict))
        self.scaler: MinMaxScaler | None = (
            MinMaxScaler.from_dict(scaler) if isinstance(scaler, dict) else scaler
        )
        self._data: ArrayDataset | None = None
        self._splits: dict[str, TensorImageDataset] = {}
        self._rows: dict[str, torch.Tensor] = {}

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
                data = load_dataset(
                    data,
                    self.data_dir,
                    self.download,
                    self.kind,
                    label_column=self.label_column,
                    header=self.header,
                    **self.image_options,  # type: ignore[arg-type]
                )
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
            _pad(data.train_x, pad),
            data.train_y,
            _pad(data.test_x, pad),
            data.test_y,
            data.scale,
            data.classes,
            data.train_rows,
            data.test_rows,
            data.files,
            data.tabular,
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
        x, y, x_test, scale = data.train_x, data.train_y, data.test_x, data.scale
        if not self._given_scaler:
            self.scaler = self._fit_scaler(data, x[train_idx])
        # a map's batches are scaled as they are read; resident data once, here
        per_batch = self.scaler if is_mapped(x) else None
        if self.scaler is not None:
            log.debug("%s: %s", data.name, self.scaler.describe())
        if self.scaler is not None and per_batch is None:
            x, x_test = self._scaled(x, scale), self._scaled(x_test, scale)
            scale = 1.0
        rows, test_rows = data.row_numbers()
        self._splits = {
            "train": TensorImageDataset(
                x[train_idx], None if y is None else y[train_idx], scale, per_batch
            ),
            "val": TensorImageDataset(
                x[val_idx], None if y is None else y[val_idx], scale, per_batch
            ),
            "test": TensorImageDataset(x_test, data.test_y, scale, per_batch),
        }
        self._rows = {"train": rows[train_idx], "val": rows[val_idx], "test": test_rows}

    def _fit_scaler(
        self, data: ArrayDataset, x_train: torch.Tensor | MappedRows
    ) -> MinMaxScaler | None:
        """The scaler ``scale`` asks for, fitted on the training rows (None: no scaling)."""
        if self.scale == "none" or not len(x_train):
            return None
        signal = len(data.sample_shape) == 2
        outside = outside_unit_range(x_train, data.scale) is not None
        if self.scale == "auto" and not (data.tabular or (outside and not signal)):
            return None
        # per feature for feature vectors; one range for images and signals, whose
        # values share one unit
        per_feature = len(data.sample_shape) == 1
        if is_mapped(x_train):
            return MinMaxScaler.fit_chunks(row_chunks(x_train), per_feature, data.scale)
        return MinMaxScaler.fit(x_train.float() / data.scale, per_feature=per_feature)

    def _scaled(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        assert self.scaler is not None
        return torch.from_numpy(self.scaler.apply(x.float() / scale))

    def use_scaler(self, scaler: MinMaxScaler | None) -> None:
        """Applies ``scaler`` (None: no scaling) instead of fitting one; call before ``setup``.

        Commands that read data for a trained model use its own scaling this way,
        whatever data they are given.
        """
        if self._splits:
            raise RuntimeError("use_scaler must come before setup")
        self.scaler, self._given_scaler = scaler, True

    # --------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """What Lightning stores in a checkpoint: the data scaling, as plain data."""
        return {"data_scaler": self.scaler.to_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        stored = state_dict.get("data_scaler")
        if stored is not None and not self._splits:
            self.scaler, self._given_scaler = MinMaxScaler.from_dict(stored), True

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
        """All samples of a split as float in [0, 1], with labels (-1 where there are none).

        ``split`` is ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (see :meth:`rows`).
        """
        x, y, _ = self.rows(split)
        return x, y

    def rows(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The samples of ``split`` (as :meth:`full_arrays`) and their row numbers.

        ``"all"`` is every sample of the data set (class filters and ``train_size``
        aside) in the order of its rows, so outputs join back to the input file.
        """
        self._check_whole_split_fits(split)
        if split != "all":
            ds = self._split(split)
            x, y = ds[torch.arange(len(ds))]
            return x, y, self._rows[split]  # type: ignore[return-value]
        self.setup()
        data = self._load()
        train_rows, test_rows = data.row_numbers()
        train = self._splits["train"]
        labels = (
            None
            if data.train_y is None or data.test_y is None
            else torch.cat([data.train_y, data.test_y])
        )
        if is_mapped(data.train_x):
            both = data.train_x.joined(data.test_x)  # type: ignore[union-attr]
            whole = TensorImageDataset(both, labels, train.scale, train.scaler)
        else:
            stored = [self._stored(data.train_x, data), self._stored(data.test_x, data)]
            whole = TensorImageDataset(torch.cat(stored), labels, train.scale)
        order = torch.argsort(torch.cat([train_rows, test_rows]))
        x, y = whole[order]
        return x, y, torch.cat([train_rows, test_rows])[order]  # type: ignore[return-value]

    def _check_whole_split_fits(self, split: str) -> None:
        """Says so before a memory-mapped split is read whole as float32 (a copy in memory).

        Raises:
            DataError: where that copy could not fit in the memory available.
        """
        data = self._load()
        if not is_mapped(data.train_x):
            return
        n = len(data.train_x) + len(data.test_x) if split == "all" else len(self._split(split))
        nbytes = n * math.prod(data.sample_shape) * 4
        if not fits_in_memory(nbytes, share=1.0):
            raise DataError(
                f"{data.name}: this reads all {n:,} samples of the {split!r} split at once, "
                f"{nbytes / 2**30:.1f} GiB as float32, more than the memory available; "
                "choose a smaller split (--split test) or a subset of the data"
            )
        if not fits_in_memory(nbytes):
            log.warning(
                "%s: reading all %d samples of the memory-mapped %r split into memory (%.1f GiB)",
                data.name, n, split, nbytes / 2**30,
            )  # fmt: skip

    def _stored(self, x: torch.Tensor, data: ArrayDataset) -> torch.Tensor:
        """``x`` as the splits store it: scaled where there is a scaler."""
        return self._scaled(x, data.scale) if self.scaler is not None else x

    @property
    def files(self) -> tuple[str, ...] | None:
        """Each row's file (image folders), by row number."""
        return self._load().files

    # ------------------------------------------------------------ loaders
    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> TensorBatchLoader:
        rank, world = self._rank()
        dataset = self._split(split)
        # pinned batches let Lightning's non-blocking copy to a CUDA device overlap the step
        root = getattr(
            getattr(getattr(self, "trainer", None), "strategy", None), "root_device", None
        )
        dataset.pin_memory = getattr(root, "type", None) == "cuda"
        return TensorBatchLoader(
            dataset, batch_size, shuffle, self.seed, rank=rank, world_size=world
        )

    def train_dataloader(self) -> TensorBatchLoader | GroupedLoader:
        # A module that takes several optimizer steps per call (our AutoEncoder)
        # gets its batches in groups; any other module gets plain batches.
        self._check_unit_range()
        loader = self._loader("train", self.batch_size, shuffle=True)
        if len(loader) > 1 and loader.last_batch_size == 1:
            # BatchNorm cannot train on one sample; the lone one left over is a
            # different sample each epoch, so every sample is still seen.
            loader.drop_last = True
        return group_for_trainer(loader, getattr(self, "trainer", None))

    def _check_unit_range(self) -> None:
        """Refuses, before training, data outside [0, 1] for a model that needs [0, 1].

        Raises:
            DataError: naming the range and the options that fix it.
        """
        trainer = getattr(self, "trainer", None)
        cfg = getattr(getattr(trainer, "lightning_module", None), "cfg", None)
        if cfg is None or not (
            getattr(cfg, "recon_loss", None) == "bce"
            or getattr(cfg, "output_activation", None) == "sigmoid"
        ):
            return
        train = self._split("train")
        span = None if train.scaler is not None else outside_unit_range(train.x, train.scale)
        if span is not None:
            raise DataError(
                f"{self.name}: values span [{span[0]:.4g}, {span[1]:.4g}], but model "
                f"{cfg.model!r} has a BCE loss or sigmoid output, which needs [0, 1]: leave "
                "--scale at auto or minmax, or pass --recon-loss mse --output-activation identity"
            )

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> TensorBatchLoader:
        return self.test_dataloader()


def _pad(x: torch.Tensor | MappedRows, pad: tuple[int, int, int, int]) -> Any:
    """Images zero-padded by ``pad``: at once where resident, per batch where mapped."""
    return x.padded(pad) if isinstance(x, MappedRows) else F.pad(x, pad)


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
    if kind not in DATA_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
