"""The data a run reads, and the data a command reads for a checkpoint.

``train`` builds its data module from the run's settings (:class:`TrainConfig`);
the commands that take a checkpoint (evaluate, embed, score, explore, generate)
read the run's own data by default, as its ``run.json`` says, with the model's
own scaling.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoencoders.checkpoint import checkpoint_in
from autoencoders.data.datamodule import ArrayDataModule
from autoencoders.errors import CheckpointError, RunFolderError
from autoencoders.run_config import TrainConfig

if TYPE_CHECKING:
    from autoencoders.data.scaling import MinMaxScaler
    from autoencoders.data.sources import ArrayDataset

log = logging.getLogger(__name__)

#: data sets whose 28x28 images are padded to 32x32, as in the lecture
PAD_TO_32 = ("mnist", "fashion-mnist", "kmnist")
#: run settings that decide which rows of a run's data set are its splits
RUN_SPLIT_KEYS = ("train_size", "exclude_class", "only_class")
#: run settings that say how to read data, for the run's own data and any other
RUN_READ_KEYS = (
    "data_dir", "seed", "data_kind", "label_column", "header",
    "image_size", "channels_mode", "patch_size", "memory_map", "cache_dir",
)  # fmt: skip


def make_datamodule(run: TrainConfig, data: ArrayDataset | None = None, model: str | None = None):
    """The data module a run asks for (MNIST-family images padded to 32x32).

    ``data``, when given, is ``run.dataset`` already loaded (for instance by an
    earlier data module's :meth:`~autoencoders.data.ArrayDataModule.array_dataset`),
    so jobs that train many models on one data set read its files once. ``model``
    names the variant to be trained: the ``sequence`` model reads arrays as signals
    unless ``run.data_kind`` says otherwise.
    """
    pad_to = 32 if run.dataset in PAD_TO_32 else None
    return ArrayDataModule(
        data if data is not None else run.dataset,
        data_dir=run.data_dir,
        batch_size=run.batch_size,
        train_size=run.train_size,
        exclude_class=run.exclude_class,
        only_class=run.only_class,
        pad_to=pad_to,
        seed=run.seed,
        kind=data_kind(run, model),
        scale=run.scale,
        label_column=run.label_column,
        header=run.header,
        channels_mode=run.channels_mode,
        image_size=run.image_size,
        patch_size=run.patch_size,
        memory_map=run.memory_map,
        cache_dir=run.cache_dir,
    )


def data_kind(run: TrainConfig, model: str | None) -> str:
    """How arrays are read: as the run says, or as the model implies."""
    if run.data_kind != "auto":
        return run.data_kind
    return "signal" if model == "sequence" else "auto"


def run_settings(path: str | Path) -> dict[str, Any] | None:
    """The settings of the run that wrote checkpoint ``path`` (its folder's ``run.json``).

    Returns None where there is no ``run.json`` (a checkpoint copied elsewhere).

    Raises:
        CheckpointError: for a ``run.json`` that is not a JSON object.
    """
    try:
        run_dir, _ = checkpoint_in(path)
    except RunFolderError:
        return None
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        return None
    try:
        run = json.loads(run_json.read_text())
    except ValueError as err:
        raise CheckpointError(f"{run_json} is not valid JSON ({err}); fix or remove it") from None
    if not isinstance(run, dict):
        raise CheckpointError(f"{run_json} holds no run settings (not a JSON object)")
    return run


def checkpoint_datamodule(
    path: str | Path,
    config: dict[str, Any],
    scaler: MinMaxScaler | None,
    dataset: str | None = None,
    data_dir: str | None = None,
    *,
    label_column: str | None = None,
    header: bool | None = None,
) -> ArrayDataModule:
    """The data a command reads for the model of checkpoint ``path``, set up.

    Without ``dataset`` that is the run's own data set (``run.json`` in its run
    folder), with the run's splits and filters; else ``dataset``, read as the
    run read its data (labels, header, seed). Either way the model's own scaling
    (``scaler``, the model's ``data_scaler``) is applied, never one fitted on the
    data given.

    Args:
        path: the checkpoint.
        config: the model's config (its ``model`` decides how arrays are read).
        scaler: the scaling the model was trained with, or None.
        dataset: the data set name or path (None: the run's own).
        data_dir: folder of named data sets (None: the run's).
        label_column: a table's label column (None: the run's).
        header: whether a CSV's first row may be a header (None: the run's).

    Raises:
        CheckpointError: for an unreadable ``run.json``, or none where no ``dataset`` is given.
        DataError: for data that cannot be read.
    """
    run = run_settings(path) or {}
    own = dataset is None or dataset == run.get("dataset")
    if dataset is None:
        if not run.get("dataset"):
            raise CheckpointError(
                f"no run.json beside {path}, so the data it was trained on is unknown: "
                "pass --dataset"
            )
        dataset = str(run["dataset"])
        log.debug("data: %s (the run's own, from run.json)", dataset)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    keys = RUN_READ_KEYS + (RUN_SPLIT_KEYS if own else ())
    values = {k: run[k] for k in keys if k in run and k in names}
    values["dataset"] = dataset
    for key, given in (("data_dir", data_dir), ("label_column", label_column), ("header", header)):
        if given is not None:
            values[key] = given
    dm = make_datamodule(TrainConfig(**values), model=config.get("model"))
    dm.use_scaler(scaler)
    dm.setup()
    return dm
