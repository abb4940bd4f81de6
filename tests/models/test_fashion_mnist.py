"""Every image model on real Fashion-MNIST: a small subset from the command line, and VQ's codebook use."""

from pathlib import Path

import pytest
import torch

from autoencoders.checkpoint import load
from autoencoders.cli import main
from autoencoders.data import FashionMNISTDataModule
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.training import make_trainer

FASHION = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not FASHION.is_dir(), reason="needs apt-get install dataset-fashion-mnist"
)
IMAGE_MODELS = [
    n for n, v in VARIANTS.items() if v.config_cls().architecture not in ("lstm", "conv1d")
]


@pytest.mark.parametrize("model", IMAGE_MODELS)
def test_one_epoch_on_a_fashion_subset_then_reload(model, tmp_path):
    argv = ["train", "--model", model, "--dataset", "fashion-mnist", "--train-size", "512",
            "--epochs", "1", "--batch-size", "128", "--output", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    ckpt = tmp_path / "fashion-mnist" / model / "checkpoints" / "last.ckpt"
    reloaded = load(ckpt)
    assert reloaded.config["input_shape"] == [1, 32, 32]
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        out = reloaded(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_vq_uses_more_than_half_its_codebook_after_one_epoch():
    torch.manual_seed(0)
    # a fifth of the training set: 47 steps, past two dead-code restarts (506 of 512
    # codes in use on 2026-12-03; the whole set took five times as long for the same point)
    dm = FashionMNISTDataModule(batch_size=256, train_size=12_000)
    model = build_model(make_config("vq", input_shape=(1, 32, 32)))
    make_trainer(1, progress_bar=False, limit_val_batches=0).fit(model, datamodule=dm)
    model.eval()
    x, _ = dm.full_arrays("test")
    vq = model.bottleneck
    with torch.no_grad():  # the codebook entries that 5,000 test images land on
        h = model.encoder(x[:5000]).reshape(-1, vq.code_dim)
    used = torch.cdist(h, vq.codebook).argmin(dim=1).unique().numel()
    assert used > vq.num_codes / 2, f"only {used} of {vq.num_codes} codes in use"
