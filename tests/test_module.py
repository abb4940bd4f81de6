"""Behaviour of the training module: denoising, sparsity, generation, guards."""

import pytest
import torch

from autoencoders.errors import NonFiniteLoss
from autoencoders.losses import jacobian_penalty
from autoencoders.models import build_model, make_config
from autoencoders.module import AutoEncoder
from autoencoders.nn import corrupt
from autoencoders.training import make_trainer


def deep_model(name="deep", **fields) -> AutoEncoder:
    fields = {"input_shape": (1, 8, 8), "num_layers": 2, "latent_dim": 12, "lr": 3e-3, **fields}
    cfg = make_config(name, **fields)
    return build_model(cfg)


def train(model, dm, epochs):
    make_trainer(epochs, progress_bar=False).fit(model, datamodule=dm)
    return model.eval()


def test_denoising_model_cleans_corrupted_images_better(digits_dm, digits_tensors):
    torch.manual_seed(0)
    denoiser = train(deep_model(noise_ratio=0.25), digits_dm, 25)
    torch.manual_seed(0)
    plain = train(deep_model(lr=3e-3), digits_dm, 25)
    x = digits_tensors[0][:200]  # the validation images
    torch.manual_seed(1)
    noisy = corrupt(x, "salt_pepper", 0.25)
    with torch.no_grad():
        err_denoiser = ((denoiser(noisy) - x) ** 2).sum(dim=(1, 2, 3)).mean()
        err_plain = ((plain(noisy) - x) ** 2).sum(dim=(1, 2, 3)).mean()
    assert err_denoiser < 0.85 * err_plain


def test_training_step_really_corrupts_its_inputs(digits_tensors):
    model = deep_model(noise_ratio=0.5)
    seen = []
    model.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    x = digits_tensors[0][:32]
    model.train()
    model.compute_losses(x, noisy=True)
    model.compute_losses(x, noisy=False)
    assert not torch.equal(seen[0], x)
    assert torch.equal(seen[1], x)


def test_sparse_penalty_lowers_mean_activation(digits_dm, digits_tensors):
    torch.manual_seed(0)
    sparse = train(deep_model("sparse", sparse_weight=3.0), digits_dm, 15)
    torch.manual_seed(0)
    unpenalised = train(deep_model("sparse", sparse_weight=0.0), digits_dm, 15)
    x = digits_tensors[0][:200]
    with torch.no_grad():
        assert sparse.encode(x).mean() < 0.5 * unpenalised.encode(x).mean()


def test_plain_autoencoder_samples_from_fitted_prior(digits_dm):
    model = deep_model()
    with pytest.raises(RuntimeError, match="no prior to sample from"):
        model.sample(4)
    train(model, digits_dm, 2)
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 1, 8, 8)
    assert samples.min() >= 0 and samples.max() <= 1
    assert model.code_count == 1597 * 1  # codes of the last epoch only


def test_nan_loss_stops_training_with_advice(digits_dm):
    model = deep_model(lr=1e6)
    model.decoder.layers[-1].weight.data.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match="training loss became nan by step 1"):
        train(model, digits_dm, 1)


def test_jacobian_penalty_estimates_frobenius_norm():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 3)
    x = torch.randn(4000, 6, requires_grad=True)
    estimate = jacobian_penalty(lin(x), x)
    exact = lin.weight.pow(2).sum()
    assert estimate.item() == pytest.approx(exact.item(), rel=0.08)


def test_contractive_weight_adds_the_penalty(digits_tensors):
    x = digits_tensors[0][:16]
    model = deep_model("contractive", contractive_weight=0.5)
    out = model.compute_losses(x, noisy=False)
    assert out["contractive"] > 0
    assert out["loss"].item() == pytest.approx(
        (out["recon"] + out["bottleneck"] + 0.5 * out["contractive"]).item(), rel=1e-6
    )
