"""Shared fixtures: small real data (scikit-learn's digits) and tiny data modules."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``(N, 1, 8, 8)`` floats in [0, 1] and their labels."""
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(data.target, dtype=torch.int64)


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


@pytest.fixture
def digits_dm(digits_tensors) -> TensorDataModule:
    return TensorDataModule(*digits_tensors)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
