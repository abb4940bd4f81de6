"""Feeding the model: mixed precision from memory-mapped data, pinned batches only for CUDA."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from autoencoders import load
from autoencoders.data import ArrayDataModule
from autoencoders.data.mapped import MappedRows
from autoencoders.models import build_model
from autoencoders.registry import make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training import fit
from autoencoders.training.job import train_run
from autoencoders.training.stopping import StopRule


def _mapped_module(tmp_path, n: int = 96) -> ArrayDataModule:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(3).integers(0, 256, (n, 1, 16, 16), dtype=np.uint8))
    dm = ArrayDataModule(str(path), batch_size=16, val_size=16, memory_map="always")
    dm.setup()
    assert isinstance(dm.train_set.x, MappedRows)
    return dm


def test_bf16_mixed_precision_trains_from_a_memory_map(tmp_path):
    dm = _mapped_module(tmp_path)
    model = build_model(make_config("conv", input_shape=(1, 16, 16)))
    seen: set[torch.dtype] = set()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    result = fit(
        model, dm, StopRule(max_steps=4, min_steps=0), output_dir=tmp_path / "run",
        logger=False, precision="bf16-mixed", accelerator="cpu", progress_bar=False,
    )  # fmt: skip
    assert torch.bfloat16 in seen, "the convolutions did not run under bf16 autocast"
    assert result.steps == 4
    assert math.isfinite(result.metrics["val/loss"])
    # the weights stay float32 (mixed precision) and finite
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


def test_batches_are_not_pinned_for_the_cpu(tmp_path):
    dm = _mapped_module(tmp_path)
    dm.trainer = L.Trainer(accelerator="cpu", devices=1, logger=False)
    x, _ = next(iter(dm.val_dataloader()))
    assert not dm.val_set.pin_memory and not x.is_pinned()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_are_pinned_for_a_cuda_device(tmp_path):
    dm = _mapped_module(tmp_path)
    dm.trainer = L.Trainer(accelerator="cuda", devices=1, logger=False)
    x, _ = next(iter(dm.val_dataloader()))
    assert x.is_pinned()


def test_compile_trains_and_its_checkpoint_loads_into_a_plain_model(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(4).integers(0, 256, (64, 8), dtype=np.uint8))
    run = TrainConfig(
        dataset=str(path), compile=True, max_steps=3, min_steps=0, batch_size=16,
        progress=False, threads=1, memory_map="always",
    )  # fmt: skip
    result = train_run(run, make_config("simple"), tmp_path / "run", tensorboard=False)
    assert result.train.steps == 3
    # compiled in place: the networks run compiled code, and the weights keep their names
    assert result.model.encoder._compiled_call_impl is not None
    plain = load(result.train.checkpoint)
    x = torch.rand(5, 8)
    with torch.no_grad():
        assert torch.allclose(plain(x), result.model.eval()(x), atol=1e-5)
