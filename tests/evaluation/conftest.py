from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Ten well separated Gaussian blobs in 8 dimensions."""
    z, y = make_blobs(
        n_samples=1500,
        n_features=8,
        centers=10,
        cluster_std=0.5,
        center_box=(-20, 20),
        random_state=0,
    )
    return z, y
