"""The reparameterised Gaussian bottleneck of the VAE variants."""

import pytest
import torch

from autoencoders.losses import kl_normal
from autoencoders.nn.bottlenecks import VariationalBottleneck


def test_encoder_must_produce_mean_and_log_variance():
    assert VariationalBottleneck(6).in_features == 12


def test_training_samples_around_the_mean_and_eval_returns_it():
    torch.manual_seed(0)
    vb = VariationalBottleneck(3)
    mu, log_var = torch.randn(512, 3), torch.full((512, 3), -2.0)
    h = torch.cat([mu, log_var], dim=1)
    z, _ = vb(h)
    spread = (z - mu).std()
    assert 0.3 < float(spread) < 0.45  # exp(-2 / 2) ~ 0.37
    vb.eval()
    z_eval, aux = vb(h)
    torch.testing.assert_close(z_eval, mu)
    torch.testing.assert_close(aux, kl_normal(mu, log_var))
    assert float(vb.metrics()["kl"]) == pytest.approx(float(aux))


def test_beta_scales_the_loss():
    h = torch.randn(8, 4)
    one, two = VariationalBottleneck(2).eval(), VariationalBottleneck(2, beta=2.0).eval()
    torch.testing.assert_close(two(h)[1], 2 * one(h)[1])


def test_kl_warmup_ramps_linearly_and_counts_in_a_buffer():
    vb = VariationalBottleneck(2, kl_warmup_steps=4)
    assert "steps" in dict(vb.named_buffers())
    h = torch.randn(8, 4) + 1.0
    weights = []
    for _ in range(6):
        vb(h)
        weights.append(float(vb.metrics()["kl_weight"]))
    assert weights == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert int(vb.steps) == 6
    vb.eval()
    vb(h)  # evaluation does not advance the warm-up
    assert int(vb.steps) == 6
    assert vb.state_dict()["steps"] == 6


def test_sample_is_standard_normal_and_reproducible():
    vb = VariationalBottleneck(4)
    z = vb.sample(4000, "cpu")
    assert z.shape == (4000, 4)
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    a = vb.sample(5, generator=torch.Generator().manual_seed(3))
    b = vb.sample(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_negative_beta_is_refused():
    with pytest.raises(ValueError, match="beta"):
        VariationalBottleneck(2, beta=-1.0)
