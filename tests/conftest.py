"""Shared fixtures: small real data (scikit-learn's digits) and tiny data modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from _support import TensorDataModule

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``(N, 1, 8, 8)`` floats in [0, 1] and their labels."""
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(data.target, dtype=torch.int64)


@pytest.fixture
def digits_dm(digits_tensors) -> TensorDataModule:
    return TensorDataModule(*digits_tensors)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
