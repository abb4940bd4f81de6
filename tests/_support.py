"""Test support code importable from any test module (``from _support import ...``)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset


class TensorDataModule(L.LightningDataModule):
    """The smallest data module: fixed train/val tensors, no set-up."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, n_val: int = 200):
        super().__init__()
        self.x, self.y, self.batch_size, self.n_val = x, y, batch_size, n_val

    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(self.x[self.n_val :], self.y[self.n_val :])
        return DataLoader(data, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x[: self.n_val], self.y[: self.n_val]), batch_size=256)


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``autoencoders ARGS`` as a user runs it: a new process, one torch thread, output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "autoencoders.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


#: the repository's root, for the scripts outside the package (benchmarks/)
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def benchmark_module(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` imported as module ``name`` (its dataclasses need it registered)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
