"""Saving and loading models: a checkpoint holds the model's config, which rebuilds it.

Checkpoints are read with ``torch.load(weights_only=True)``, which refuses to
unpickle arbitrary objects, and written through a temporary file so an
interrupted save never replaces a good checkpoint with a broken one.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from autoencoders.errors import CheckpointError, ConfigError, RunFolderError
from autoencoders.files import write_bytes
from autoencoders.models import build_model

if TYPE_CHECKING:
    from autoencoders.data.datamodule import ArrayDataModule
    from autoencoders.data.scaling import MinMaxScaler
    from autoencoders.module import AutoEncoder

log = logging.getLogger(__name__)

#: run settings that decide which rows of a run's data set are its splits
RUN_SPLIT_KEYS = ("train_size", "exclude_class", "only_class")
#: run settings that say how to read data, for the run's own data and any other
RUN_READ_KEYS = ("data_dir", "seed", "data_kind", "label_column", "header")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint writer that saves to a temporary file, then renames it."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        # Serialized in memory first: a full disk then fails as a plain OSError of the
        # write (torch's own writer reports it as an opaque RuntimeError), with the size known.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(path, buffer.getbuffer())


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint file with ``weights_only=True``.

    Raises:
        CheckpointError: if there is no such file, or it is not a readable checkpoint
            (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: give the path of a .ckpt file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({err.__class__.__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); it may be truncated or not "
            "written by autoencoders"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} holds no model weights (state_dict): not a checkpoint")
    return checkpoint


def load(path: str | Path, map_location: Any = "cpu") -> AutoEncoder:
    """Rebuilds a trained model from its checkpoint, in eval mode.

    The checkpoint's ``autoencoder_config`` is the dict ``make_config`` takes
    (the run folder's ``config.json`` holds the same), so this is
    ``build_model(config)`` plus ``load_state_dict``. The scaling its training
    data had (:func:`data_scaler`) is kept as the model's ``data_scaler``
    (None for data used as it was, such as images).

    Args:
        path: a ``.ckpt`` file written by this package's training.
        map_location: where to put the weights (``"cpu"``, ``"cuda"``, a device).

    Raises:
        CheckpointError: if the file is unreadable, lacks the model's config, or
            holds weights that do not fit that config.
    """
    checkpoint = read_checkpoint(path, map_location or "cpu")
    config = checkpoint.get("autoencoder_config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path} holds no model config (autoencoder_config): it was not written by "
            "autoencoders' training; rebuild the model yourself and call "
            "load_state_dict(checkpoint['state_dict'])"
        )
    try:
        model = build_model(config)
    except ConfigError as err:
        raise CheckpointError(f"{path}: its model config is not valid here ({err})") from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(
            f"{path}: its weights do not fit the model its own config describes ({first}); "
            "the file was changed or written by another version"
        ) from None
    if map_location is not None:
        model.to(torch.device(map_location) if isinstance(map_location, str) else map_location)
    model.data_scaler = data_scaler(checkpoint, path)
    return model.eval()


def data_scaler(checkpoint: dict[str, Any], path: str | Path = "") -> MinMaxScaler | None:
    """The scaling of the training data stored in a checkpoint, or None where it has none.

    The data module stores it (its ``state_dict``) under its class's name, which
    Lightning chooses; so any entry holding ``data_scaler`` counts.

    Raises:
        CheckpointError: for a stored scaling that cannot be read.
    """
    from autoencoders.data.scaling import MinMaxScaler

    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get("data_scaler"), dict):
            try:
                return MinMaxScaler.from_dict(value["data_scaler"])
            except CheckpointError as err:
                raise CheckpointError(f"{path}: {err}") from None
    return None


def run_settings(path: str | Path) -> dict[str, Any] | None:
    """The settings of the run that wrote checkpoint ``path`` (its folder's ``run.json``).

    Returns None where there is no ``run.json`` (a checkpoint copied elsewhere).

    Raises:
        CheckpointError: for a ``run.json`` that is not a JSON object.
    """
    from autoencoders.runs import checkpoint_in

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
    import dataclasses

    from autoencoders.config import TrainConfig
    from autoencoders.runs import make_datamodule

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
