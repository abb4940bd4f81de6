"""Every variant beyond the lecture's four on small and larger inputs: shapes, gradients, fit, reload.

``tests/test_contract.py`` fits every registered variant on 8x8 inputs; here
each variant with a network of its own (the lecture's simple, deep, denoising
and sparse models share the MLP) is built on two input shapes and trained on
the larger one.
"""

import pytest
import torch

from _support import TensorDataModule
from autoencoders.checkpoint import load
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.training import fit

OWN_NETWORKS = (
    "conv",
    "vae",
    "beta-vae",
    "beta-vae-loose",
    "vq",
    "contractive",
    "stacked",
    "sequence",
)
IMAGE_SHAPES = ((1, 8, 8), (1, 32, 32))
SIGNAL_SHAPES = ((1, 64), (2, 32))


def shapes_for(name):
    return SIGNAL_SHAPES if name == "sequence" else IMAGE_SHAPES


CASES = [(name, shape) for name in OWN_NETWORKS for shape in shapes_for(name)]


def inputs(shape, n):
    gen = torch.Generator().manual_seed(1)
    if len(shape) == 2:
        return torch.randn(n, *shape, generator=gen)
    return torch.rand(n, *shape, generator=gen)


def test_every_variant_is_registered_with_a_description():
    assert set(OWN_NETWORKS) < set(VARIANTS)
    for name in VARIANTS:
        assert name in VARIANTS
        assert VARIANTS[name].config_cls().model == name
        assert 10 < len(VARIANTS[name].description) <= 80


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_forward_shapes_and_gradients(name, shape):
    torch.manual_seed(0)
    model = build_model(make_config(name, input_shape=shape))
    x = inputs(shape, 8)
    model.train()
    model.compute_losses(inputs(shape, 8) + 0.1, noisy=True)  # e.g. VQ's codebook initialisation
    out = model.compute_losses(x, noisy=True)
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, f"{name}: no gradient for {missing}"
    model.eval()
    with torch.no_grad():
        assert model(x).shape == x.shape
        assert model.encode(x).shape == (8, model.latent_dim)


# The beta-VAE variants differ from "vae" by one number; the contract tests fit them on 8x8.
FITTED = tuple(n for n in OWN_NETWORKS if not n.startswith("beta-vae"))


@pytest.mark.parametrize(("name", "shape"), [(n, shapes_for(n)[1]) for n in FITTED])
def test_short_fit_and_checkpoint_reload(name, shape, tmp_path):
    torch.manual_seed(0)
    model = build_model(make_config(name, input_shape=shape))
    x = inputs(shape, 80)
    dm = TensorDataModule(x, torch.zeros(80, dtype=torch.int64), batch_size=32, n_val=16)
    result = fit(model, dm, epochs=1, output_dir=tmp_path, logger=False, progress_bar=False)
    assert torch.isfinite(torch.tensor(result.metrics["train/loss_epoch"]))
    again = load(result.checkpoint)
    assert type(again) is type(model) and not again.training
    assert again.config == model.config
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x[:8]), model(x[:8]), rtol=0, atol=0)
        torch.testing.assert_close(again.encode(x[:8]), model.encode(x[:8]), rtol=0, atol=0)
