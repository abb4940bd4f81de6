"""The ``vq`` variant trained briefly: metrics in the logs, both codebook update modes."""

import pytest
import torch

from _support import TensorDataModule
from autoencoders.models import build_model, make_config
from autoencoders.training import fit


@pytest.mark.parametrize("ema", [False, True])
def test_vq_trains_and_logs_codebook_metrics(ema, digits_tensors, tmp_path):
    torch.manual_seed(0)
    model = build_model(make_config("vq", input_shape=(1, 8, 8), ema=ema, num_codes=64))
    start = model.bottleneck.codebook.detach().clone()
    in_optimizer = {id(p) for p in model.configure_optimizers().param_groups[0]["params"]}
    assert (id(model.bottleneck.codebook) in in_optimizer) is not ema
    x, y = digits_tensors[0][:600], digits_tensors[1][:600]
    dm = TensorDataModule(x, y, batch_size=50, n_val=100)
    result = fit(model, dm, epochs=2, output_dir=tmp_path, logger=False, progress_bar=False)
    m = result.metrics
    for key in ("train/perplexity_epoch", "train/codes_used_epoch", "val/perplexity"):
        assert key in m, sorted(m)
    assert 1.0 < m["val/perplexity"] <= 64.0
    # restarts and the first-batch initialisation keep most of a small codebook busy
    assert float(model.bottleneck.codes_used()) > 0.5
    assert not torch.equal(start, model.bottleneck.codebook.detach())
    if ema:
        assert model.bottleneck.codebook.grad is None  # moved by averages, not gradients


def test_uniform_code_samples_decode_to_images(digits_tensors):
    torch.manual_seed(0)
    model = build_model(make_config("vq", input_shape=(1, 8, 8)))
    model.compute_losses(digits_tensors[0][:64], noisy=True)  # initialise the codebook
    model.eval()
    images = model.sample(5)
    assert images.shape == (5, 1, 8, 8)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
