"""Saving and loading models: a checkpoint holds the model's config, which rebuilds it.

Checkpoints are read with ``torch.load(weights_only=True)``, which refuses to
unpickle arbitrary objects, and written through a temporary file so an
interrupted save never replaces a good checkpoint with a broken one.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from autoencoders.errors import CheckpointError, ConfigError, RunFolderError
from autoencoders.models import build_model

if TYPE_CHECKING:
    from autoencoders.data.scaling import MinMaxScaler
    from autoencoders.module import AutoEncoder

log = logging.getLogger(__name__)


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint file with ``weights_only=True``.

    Raises:
        CheckpointError: if there is no such file, or it is not a readable checkpoint
            (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: give a run folder written by `autoencoders train`, or "
            "one of its .ckpt files"
        )
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


def checkpoint_in(path: str | Path) -> tuple[Path, Path]:
    """(run folder, checkpoint) of ``--resume PATH``: a run folder or a ``.ckpt`` file.

    Raises:
        RunFolderError: if there is no checkpoint there.
    """
    path = Path(path)
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return run_dir, path
    ckpt = path / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise RunFolderError(
            f"nothing to resume in {path}: no {ckpt.relative_to(path)} there; give a run "
            "folder written by `autoencoders train`, or its .ckpt file"
        )
    return path, ckpt
