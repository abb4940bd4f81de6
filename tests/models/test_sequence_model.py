"""The sequence autoencoder on a synthetic, seeded set of sine mixtures."""

import math

import torch

from _support import TensorDataModule
from autoencoders.checkpoint import load
from autoencoders.models import build_model, make_config
from autoencoders.training import fit

LENGTH = 64


def sine_mixtures(n: int, seed: int) -> torch.Tensor:
    """``(n, 1, LENGTH)`` sums of two sines of random frequency, phase and amplitude."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, LENGTH)
    freq = torch.randint(1, 5, (n, 2, 1), generator=gen).float()
    phase = 2 * math.pi * torch.rand(n, 2, 1, generator=gen)
    amp = 0.5 + torch.rand(n, 2, 1, generator=gen)
    return (amp * torch.sin(2 * math.pi * freq * t + phase)).sum(dim=1, keepdim=True)


def test_lstm_architecture_builds_a_sequence_model():
    model = build_model(make_config("sequence", input_shape=(2, 32), architecture="lstm"))
    x = torch.randn(3, 2, 32)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == x.shape
    assert type(model.encoder).__name__ == "LSTMEncoder"


def test_defaults_are_a_conv1d_model_for_unbounded_signals():
    cfg = make_config("sequence")
    assert cfg.architecture == "conv1d"
    assert cfg.recon_loss == "mse" and cfg.output_activation == "identity"


def test_beats_the_mean_signal_on_held_out_signals(tmp_path):
    torch.manual_seed(0)
    train, held_out = sine_mixtures(1200, seed=1), sine_mixtures(200, seed=2)
    cfg = make_config("sequence", input_shape=(1, LENGTH), latent_dim=12, lr=3e-3)
    model = build_model(cfg)
    dm = TensorDataModule(train, torch.zeros(len(train), dtype=torch.int64), batch_size=100)
    result = fit(model, dm, epochs=4, output_dir=tmp_path, logger=False, progress_bar=False)
    model.eval()
    with torch.no_grad():
        recon = model(held_out)
    model_mse = float((recon - held_out).pow(2).mean())
    mean_signal = train[200:].mean(dim=0, keepdim=True)
    baseline_mse = float((mean_signal - held_out).pow(2).mean())
    assert model_mse < 0.5 * baseline_mse, (model_mse, baseline_mse)
    # the identity decoder is not squashed into [0, 1]
    assert float(recon.min()) < -0.5 and float(recon.max()) > 1.0
    again = load(result.checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(again(held_out[:4]), model(held_out[:4]))
