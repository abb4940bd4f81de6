"""What :func:`~autoencoders.batched.fit_many` hands back, and saving a model as a checkpoint.

Every model is an ordinary :class:`~autoencoders.module.AutoEncoder`, so
:func:`save_checkpoint` writes the file :func:`autoencoders.load` reads.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from autoencoders.files import write_bytes
from autoencoders.module import AutoEncoder


@dataclass
class ManyFit:
    """One trained model of :func:`fit_many` and how its training went."""

    model: AutoEncoder
    seed: int
    #: epochs begun (as ``trainer.current_epoch`` after ``fit``)
    epochs: int
    #: optimizer steps taken
    steps: int
    #: the epoch (from 1) whose weights the model holds (early stopping), else 0
    best_epoch: int
    #: why training ended, in words
    stop_reason: str
    #: trained in a batched group (False: one by one, on the normal path)
    batched: bool
    #: why it was not batched ("" when it was)
    fallback_reason: str = ""
    #: wall time of the group it trained in (batched) or of its own run
    wall_time_s: float = 0.0
    #: the last validation loss (nan when it never validated)
    val_loss: float = math.nan


def save_checkpoint(model: AutoEncoder, path: str | Path) -> Path:
    """Writes ``model``'s weights and config as a checkpoint :func:`autoencoders.load` reads."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "autoencoder_config": model.config}, buffer)
    return write_bytes(path, buffer.getbuffer())
