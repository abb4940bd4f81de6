"""The vector-quantised bottleneck: straight-through gradients, codebook upkeep, metrics."""

import pytest
import torch
from torch import nn

from autoencoders.nn.bottlenecks import VectorQuantizer


def test_latent_dim_must_split_into_whole_groups():
    with pytest.raises(ValueError, match=r"latent_dim=10 must be a multiple of code_dim=4"):
        VectorQuantizer(10, code_dim=4)


def test_output_is_made_of_codebook_entries():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, num_codes=16, code_dim=2)
    h = torch.randn(32, 8)
    z, aux = vq(h)
    assert z.shape == h.shape and aux.dim() == 0 and float(aux.detach()) > 0
    groups = z.detach().reshape(-1, 2)
    gap = (groups[:, None, :] - vq.codebook.detach()[None]).abs().amax(dim=2).min(dim=1).values
    assert float(gap.max()) < 1e-5


def test_codebook_starts_at_encoder_outputs_of_the_first_training_batch():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, num_codes=8, code_dim=2)
    h = torch.randn(16, 4) * 10 + 50  # far away from the N(0, 1) initial codebook
    vq(h)
    rows = h.reshape(-1, 2)
    matches = torch.cdist(vq.codebook.detach(), rows).min(dim=1).values
    assert float(matches.max()) < 1e-5
    assert bool(vq.initialised)


def test_straight_through_gradient_reaches_the_encoder_and_the_codebook():
    torch.manual_seed(0)
    encoder = nn.Linear(6, 8)
    vq = VectorQuantizer(8, num_codes=16, code_dim=4)
    decoder = nn.Linear(8, 6)
    x = torch.randn(32, 6)
    z, aux = vq(encoder(x))
    ((decoder(z) - x).pow(2).sum() + aux).backward()
    assert encoder.weight.grad is not None and float(encoder.weight.grad.abs().sum()) > 0
    assert vq.codebook.grad is not None and float(vq.codebook.grad.abs().sum()) > 0


def test_straight_through_copies_the_decoder_gradient_unchanged():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, num_codes=8, code_dim=2, commitment=0.0)
    h = torch.randn(5, 4, requires_grad=True)
    z, _ = vq(h)
    weights = torch.randn_like(z)
    (z * weights).sum().backward()
    torch.testing.assert_close(h.grad, weights)


def test_metrics_report_perplexity_and_codebook_usage():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, num_codes=32, code_dim=2)
    vq(torch.randn(64, 8))
    metrics = vq.metrics()
    assert {"perplexity", "codes_used"} <= set(metrics)
    assert 1.0 <= float(metrics["perplexity"]) <= 32.0
    assert 0.0 < float(metrics["codes_used"]) <= 1.0
    assert all(not v.requires_grad for v in metrics.values())


def test_dead_codes_are_restarted_at_current_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, num_codes=16, code_dim=2, dead_after=3, usage_window=3)
    vq(torch.randn(64, 2))  # initialise from a spread-out batch
    # From now on every encoder output sits in one small cluster far away, so all
    # codes but the nearest one fall idle.
    cluster = torch.randn(64, 2) * 0.01 + 20.0
    for _ in range(3):
        vq(cluster)
    assert int(vq.restarts) >= 14
    near_cluster = (vq.codebook.detach() - 20.0).norm(dim=1) < 0.1
    assert int(near_cluster.sum()) >= 14  # the codebook moved to where the data is
    for _ in range(3):
        vq(cluster)
    assert float(vq.codes_used()) > 0.5  # the revived codes share the cluster


def test_without_restarts_the_same_codebook_stays_dead():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, num_codes=16, code_dim=2, dead_after=0, usage_window=3)
    vq(torch.randn(64, 2))
    cluster = torch.randn(64, 2) * 0.01 + 20.0
    for _ in range(6):
        vq(cluster)
    assert int(vq.restarts) == 0
    assert float(vq.codes_used()) == pytest.approx(1 / 16)


def test_ema_mode_keeps_the_codebook_in_buffers_and_moves_it():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, num_codes=8, code_dim=2, ema=True, decay=0.5, dead_after=0)
    buffers = dict(vq.named_buffers())
    assert {"codebook", "ema_count", "ema_sum"} <= set(buffers)
    assert "codebook" not in dict(vq.named_parameters())
    vq(torch.randn(32, 4))
    before = {k: v.clone() for k, v in vq.named_buffers()}
    h = torch.randn(32, 4) + 3.0
    _, aux = vq(h)
    for name in ("codebook", "ema_count", "ema_sum"):
        assert not torch.equal(before[name], getattr(vq, name)), name
    # With EMA the loss is the commitment term only.
    flat = h.reshape(-1, 2)
    codes = vq.codebook[torch.cdist(flat, before["codebook"]).argmin(1)]
    expected = 0.25 * (flat - codes).pow(2).sum() / 32
    torch.testing.assert_close(aux, expected)


def test_eval_mode_changes_nothing():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, num_codes=8, code_dim=2, ema=True, dead_after=1)
    vq(torch.randn(32, 4))
    vq.eval()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    vq(torch.randn(32, 4) + 5)
    for k, v in vq.state_dict().items():
        assert torch.equal(before[k], v), k


def test_sample_draws_uniform_codebook_entries():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, num_codes=4, code_dim=4)
    z = vq.sample(2000, "cpu")
    assert z.shape == (2000, 8)
    groups = z.reshape(-1, 4)
    index = torch.cdist(groups, vq.codebook.detach()).argmin(1)
    share = torch.bincount(index, minlength=4).float() / index.numel()
    assert torch.allclose(share, torch.full((4,), 0.25), atol=0.03)
