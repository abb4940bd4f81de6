"""Saving and loading models: checkpoints rebuild themselves, safely.

Checkpoints are read with ``torch.load(weights_only=True)``, which refuses to
unpickle arbitrary objects, and written through a temporary file so an
interrupted save never replaces a good checkpoint with a broken one.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from autoencoders.files import atomic_path
from autoencoders.module import AutoEncoder
from autoencoders.nn.component import build_component


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint writer that saves to a temporary file, then renames it."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def module_classes() -> dict[str, type[AutoEncoder]]:
    """Training-module classes a checkpoint may name, by class name."""
    found: dict[str, type[AutoEncoder]] = {}
    pending: list[type[AutoEncoder]] = [AutoEncoder]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint file with ``weights_only=True``.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is not a readable checkpoint (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path (a .ckpt file)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({err.__class__.__name__}: {err}); it may be "
            "truncated or not written by autoencoders"
        ) from err


def load(path: str | Path, map_location: Any = "cpu") -> AutoEncoder:
    """Rebuilds a trained model from its checkpoint, in eval mode.

    Args:
        path: a ``.ckpt`` file written by this package's training.
        map_location: where to put the weights (``"cpu"``, ``"cuda"``, a device).

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is unreadable or lacks the model description.
    """
    checkpoint = read_checkpoint(path, map_location or "cpu")
    spec = checkpoint.get("autoencoder_spec")
    if spec is None:
        raise ValueError(
            f"{path} holds no model description (autoencoder_spec); it was not written by "
            "autoencoders, or the model used modules of your own: rebuild the model and call "
            "load_state_dict(checkpoint['state_dict'])"
        )
    classes = module_classes()
    module_cls = classes.get(spec.get("module", "AutoEncoder"))
    if module_cls is None:
        raise ValueError(f"{path} names an unknown training module {spec.get('module')!r}")
    model = module_cls(
        build_component(spec["encoder"]),
        build_component(spec["bottleneck"]),
        build_component(spec["decoder"]),
        **spec.get("hparams", {}),
    )
    model.load_state_dict(checkpoint["state_dict"])
    if map_location is not None:
        model.to(torch.device(map_location) if isinstance(map_location, str) else map_location)
    return model.eval()
