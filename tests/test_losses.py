import math

import pytest
import torch

from autoencoders.losses import kl_bernoulli, kl_normal, reconstruction_loss
from autoencoders.nn.bottlenecks import SparseBottleneck


def test_bce_sums_over_pixels_and_averages_over_batch():
    x = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    p = torch.tensor([[0.8, 0.1], [0.5, 0.9]])
    by_hand = (
        -(math.log(0.8) + math.log(0.9) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5) + math.log(0.9))
        / 2
    )
    assert reconstruction_loss(torch.logit(p), x, "bce").item() == pytest.approx(by_hand, rel=1e-5)
    assert reconstruction_loss(p, x, "bce", logits=False).item() == pytest.approx(by_hand, rel=1e-5)


def test_mse_and_rmse():
    x = torch.zeros(2, 3)
    p = torch.full((2, 3), 0.5)
    assert reconstruction_loss(p, x, "mse", logits=False).item() == pytest.approx(0.75)
    assert reconstruction_loss(p, x, "rmse", logits=False).item() == pytest.approx(0.5)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"output_shape must match"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 3), "l7")


def test_kl_normal_closed_form():
    mu = torch.tensor([[0.0, 1.0]])
    log_var = torch.tensor([[math.log(2.0), 0.0]])
    expected = 0.5 * ((2.0 - math.log(2.0) - 1.0) + 1.0)
    assert kl_normal(mu, log_var).item() == pytest.approx(expected)
    assert kl_normal(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_kl_bernoulli_closed_form_and_safe_at_bounds():
    rho_hat = torch.tensor([0.25, 0.5])
    expected = sum(0.1 * math.log(0.1 / r) + 0.9 * math.log(0.9 / (1 - r)) for r in (0.25, 0.5))
    assert kl_bernoulli(0.1, rho_hat).item() == pytest.approx(expected, rel=1e-5)
    extreme = kl_bernoulli(0.1, torch.tensor([0.0, 1.0]))
    assert torch.isfinite(extreme) and extreme > 0
    assert kl_bernoulli(0.3, torch.tensor([0.3])).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss_type", ["kld", "log", "l1"])
def test_sparse_penalty_finite_gradients_at_saturation(loss_type):
    bottleneck = SparseBottleneck(4, loss_type, sparsity=0.05, beta=2.0)
    h = torch.tensor([[-1e4, 1e4, 0.0, 3.0], [-1e4, 1e4, 0.0, -3.0]], requires_grad=True)
    z, penalty = bottleneck(h)
    assert z.min() >= 0 and z.max() <= 1
    penalty.backward()
    assert torch.isfinite(penalty) and torch.isfinite(h.grad).all()


def test_sparse_penalties_by_hand():
    z_logits = torch.logit(torch.tensor([[0.2, 0.6], [0.4, 0.2]]))
    rho_hat = torch.tensor([0.3, 0.4])
    log_pen = SparseBottleneck(2, "log", 0.05, beta=1.0)(z_logits)[1]
    assert log_pen.item() == pytest.approx(torch.log1p(rho_hat**2).sum().item(), rel=1e-5)
    l1 = SparseBottleneck(2, "l1", 0.05, beta=0.5)(z_logits)[1]
    assert l1.item() == pytest.approx(0.5 * (0.8 + 0.6) / 2, rel=1e-5)


def test_sparse_rejects_bad_arguments():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        SparseBottleneck(4, "l2", 0.05, 1.0)
    with pytest.raises(ValueError, match="sparsity must lie strictly between 0 and 1"):
        SparseBottleneck(4, "kld", sparsity=1.0, beta=1.0)
