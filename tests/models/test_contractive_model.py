"""The contractive variant and its Jacobian penalty."""

import pytest
import torch

from autoencoders.models import build_model, make_config


def test_variant_passes_its_weight_to_the_module():
    model = build_model(make_config("contractive", input_shape=(1, 8, 8), contractive_weight=0.3))
    assert model.config["contractive_weight"] == pytest.approx(0.3)
    out = model.compute_losses(torch.rand(16, 1, 8, 8), noisy=True)
    assert float(out["contractive"].detach()) > 0
    expected = out["recon"] + out["bottleneck"] + 0.3 * out["contractive"]
    torch.testing.assert_close(out["loss"], expected)


def test_penalty_is_the_squared_frobenius_norm_of_a_linear_encoder_in_expectation():
    torch.manual_seed(0)
    cfg = make_config(
        "contractive",
        input_shape=(1, 3, 4),
        latent_dim=5,
        architecture="linear",
        contractive_weight=1.0,
    )
    model = build_model(cfg)
    encoder = model.encoder
    exact = float(encoder.layer.weight.detach().pow(2).sum())  # ||W||_F^2, the same for every input
    x = torch.rand(256, 1, 3, 4)
    estimates = torch.stack(
        [model.compute_losses(x, noisy=False)["contractive"].detach() for _ in range(40)]
    )
    assert float(estimates.std()) > 0  # a random estimate, one projection per sample
    assert float(estimates.mean()) == pytest.approx(exact, rel=0.03)


def test_penalty_pulls_the_encoder_jacobian_down(digits_tensors):
    x = digits_tensors[0][:256]

    def train(weight):
        torch.manual_seed(0)
        model = build_model(
            make_config(
                "contractive", input_shape=(1, 8, 8), latent_dim=8, contractive_weight=weight
            )
        )
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(30):
            opt.zero_grad()
            model.compute_losses(x, noisy=True)["loss"].backward()
            opt.step()
        model.eval()
        probe = x[:64].clone().requires_grad_(True)
        jac = torch.autograd.functional.jacobian(lambda v: model.encoder(v).sum(0), probe)
        return float(jac.pow(2).sum() / 64)

    assert train(1.0) < 0.5 * train(0.0)
