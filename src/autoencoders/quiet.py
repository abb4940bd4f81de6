"""Keeping Lightning's banners and known third-party notes off the user's terminal.

One list of what to hush, used two ways: the CLI hushes it for the rest of its
process (:func:`hush`), and a library call such as ``AutoencoderTransformer.fit``
hushes it only while it runs (:func:`quiet`), then puts every level and warning
filter back, so that importing and using the package changes no global state.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Loggers of Lightning's info-level banners and tips ("GPU available", the litlogger
#: tip, "`Trainer.fit` stopped", the Tensor Cores hint), with their parents. Lightning
#: sets the level of its top loggers when it is imported, but not of the others, so
#: theirs hold whether or not Lightning is imported yet.
LIGHTNING_LOGGERS = (
    "lightning.pytorch",
    "lightning.fabric",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
)
#: warnings from third-party code that a user can do nothing about: torch's pytree
#: deprecation inside Lightning, and Lightning's advice to use worker processes for
#: loaders that hold tensors in memory (workers would only slow them down)
NOISE_WARNINGS = (".*LeafSpec.*", ".*does not have many workers.*")
#: MLflow's and its database migrations' info lines ("Creating initial MLflow database
#: tables...": children of the loggers MLflow sets up when imported, so the setting holds)
#: and Optuna's line per trial, which the commands report in their own words
LIBRARY_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration", "optuna")


def hush() -> None:
    """Hushes Lightning's banners and the known notes for the rest of the process."""
    for name in (*LIGHTNING_LOGGERS, *LIBRARY_LOGGERS):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Hushes them (see :func:`hush`) while the block runs, if ``on``; restores them after.

    Warnings, errors and anything not listed above still come through.
    """
    if not on:
        yield
        return
    loggers = [logging.getLogger(name) for name in (*LIGHTNING_LOGGERS, *LIBRARY_LOGGERS)]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings():  # restores the warning filters on the way out
            hush()
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


__all__ = ["LIBRARY_LOGGERS", "LIGHTNING_LOGGERS", "NOISE_WARNINGS", "hush", "quiet"]
