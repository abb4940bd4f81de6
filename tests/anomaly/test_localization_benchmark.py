"""The localisation benchmark's parts, on a tiny run (its numbers are the benchmark's business)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _support import benchmark_module

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def localization():
    with benchmark_module("localization") as module:
        yield module


def test_the_test_set_is_half_normal_half_defective_with_masks(localization):
    rng = np.random.default_rng(0)
    test = rng.random((30, 1, 32, 32)).astype(np.float32) * 0.5
    x, labels, masks = localization.test_set(test, 10, ("bright",), rng)
    assert x.shape == (20, 1, 32, 32) and labels.tolist() == [False] * 10 + [True] * 10
    assert not masks[:10].any() and masks[10:].any(axis=(1, 2)).all()
    sides = np.sqrt(masks[10:].sum(axis=(1, 2)))
    assert ((sides >= 4) & (sides <= 7)).all()  # whole squares of 4 to 7 pixels


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_a_tiny_run_writes_every_map_beside_pca(localization, tmp_path):
    out = tmp_path / "localization.md"
    argv = ["--train", "64", "--test", "20", "--epochs", "1", "--seeds", "1", "--defects",
            "squares", "--out", str(out)]  # fmt: skip
    assert localization.main(argv) == 0
    text = out.read_text()
    for method, name in [("conv (latent 32)", "map-sse"), ("conv (latent 32)", "map-ssim"),
                         ("conv (latent 32)", "map-feature"), ("PCA-20", "map-sse")]:  # fmt: skip
        row = next(line for line in text.splitlines() if f"| {method} | {name} |" in line)
        values = [float(v) for v in row.split("|")[4:7]]
        assert all(0.0 <= v <= 1.0 for v in values), row
    assert "## Where PCA wins" in text and "- command: `python benchmarks/localization.py" in text
