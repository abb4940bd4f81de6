"""The speed benchmark's parts work on a small data set (speed itself is not tested here)."""

from __future__ import annotations

import pytest
import torch

from _support import benchmark_module
from autoencoders.data.loader import TensorBatchLoader, TensorImageDataset


@pytest.fixture(scope="module")
def train_speed():
    with benchmark_module("train_speed") as module:
        yield module


@pytest.fixture
def loader():
    x = torch.randint(0, 256, (100, 1, 32, 32), dtype=torch.uint8)
    return TensorBatchLoader(TensorImageDataset(x, None, 255.0), 32, shuffle=True, seed=0)


def test_training_gflop_counts_three_passes_of_every_linear_layer(train_speed):
    from autoencoders.models import build_model, make_config

    model = build_model(make_config("deep", input_shape=(1, 32, 32)))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    expected = 3 * 2 * sum(m.in_features * m.out_features for m in linears) * 1000 / 1e9
    assert train_speed.training_gflop(model, 1000) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["deep", "conv"])
def test_layers_alone_runs_every_weighted_layer_at_the_step_shapes(train_speed, loader, name):
    calls: list[tuple[int, ...]] = []

    def count(module, inputs):
        calls.append(tuple(inputs[0].shape))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda m, i: count(m, i) if isinstance(m, train_speed.WEIGHTED) else None
    )
    try:
        seconds = train_speed.layers_alone_epoch(name, loader, seed=0)
    finally:
        handle.remove()
    assert seconds > 0
    from autoencoders.models import build_model, make_config

    n_layers = sum(
        isinstance(m, train_speed.WEIGHTED)
        for m in build_model(make_config(name, input_shape=(1, 32, 32))).modules()
    )
    batches = len(loader)  # 32, 32, 32, 4
    # one recording step, one call per layer to size the gradients, then the epoch
    assert len(calls) == n_layers * (1 + 1 + batches)
    assert sorted({shape[0] for shape in calls[-n_layers * batches :]}) == [4, 32]


def test_markdown_reports_every_column(train_speed, loader):
    row = {
        "model": "deep", "batch": 32, "n": 100, "gflop": 1.0, "peak": 100.0,
        "ours_min": 0.5, "ours_med": 0.5, "hand_med": 0.6, "hand_fused_med": 0.55,
        "ratio_fused": 1.1, "ratio_default": 1.2, "achieved": 2.0,
        "hand_fused_achieved": 1.8, "layers_achieved": 4.0,
    }  # fmt: skip
    text = train_speed.markdown([row], {"encode": 0.1}, "python benchmarks/train_speed.py")
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    line = next(line for line in text.splitlines() if line.startswith("| deep"))
    assert line.count("|") == header.count("|")
    assert "| 2% | 2% | 4% |" in line


def test_many_models_benchmark_writes_its_tables(tmp_path):
    with benchmark_module("many_models") as many_models:
        out = tmp_path / "many.md"
        many_models.main(["--classes", "0", "1", "--max-epochs", "2", "--min-steps", "0",
                          "--ensemble", "2", "--detector-epochs", "2", "--out", str(out)])  # fmt: skip
    text = out.read_text()
    assert "## One-class: 2 per-class models" in text
    assert "| n_models=1 | n_models=2 | ratio |" in text
