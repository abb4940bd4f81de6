from __future__ import annotations

import math

import numpy as np
import pytest

from autoencoders import evaluation as ev


def test_bce_and_sse_match_hand_computation():
    x = np.array([[0.0, 1.0], [1.0, 0.5]])
    x_hat = np.array([[0.25, 0.5], [0.5, 0.5]])
    bce_rows = [
        -(math.log(0.75) + math.log(0.5)),
        -(math.log(0.5) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5)),
    ]
    sse_rows = [0.25**2 + 0.5**2, 0.5**2 + 0.0]
    m = ev.reconstruction_metrics(x, x_hat)
    assert m["bce_per_image"] == pytest.approx(np.mean(bce_rows))
    assert m["sse_per_image"] == pytest.approx(np.mean(sse_rows))
    assert m["mse"] == pytest.approx(np.sum(sse_rows) / x.size)
    np.testing.assert_allclose(ev.per_sample_errors(x, x_hat, "bce"), bce_rows)
    np.testing.assert_allclose(ev.per_sample_errors(x, x_hat, "sse"), sse_rows)


def test_bce_is_finite_for_saturated_reconstructions():
    x = np.array([[0.0, 1.0]])
    m = ev.reconstruction_metrics(x, 1.0 - x)
    assert math.isfinite(m["bce_per_image"])
    assert m["bce_per_image"] == pytest.approx(-2 * math.log(1e-6), rel=1e-6)


def test_psnr_is_finite_for_perfect_reconstruction_and_drops_with_noise(rng):
    x = rng.random((4, 1, 8, 8))
    perfect = ev.reconstruction_metrics(x, x)["psnr"]
    noisy = ev.reconstruction_metrics(x, np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1))
    assert math.isfinite(perfect)
    assert noisy["psnr"] < perfect
    assert perfect == pytest.approx(100.0)


def test_psnr_matches_definition(rng):
    x = rng.random((3, 16))
    x_hat = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    mse_rows = ((x - x_hat) ** 2).mean(axis=1)
    expected = np.mean(10 * np.log10(1 / mse_rows))
    assert ev.reconstruction_metrics(x, x_hat)["psnr"] == pytest.approx(expected)


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (5, 28, 28), (5, 1, 8, 8), (5, 3, 12, 12)])
def test_ssim_is_one_for_identical_and_lower_for_noisy(rng, shape):
    x = rng.random(shape)
    noisy = np.clip(x + 0.2 * rng.standard_normal(shape), 0, 1)
    assert ev.reconstruction_metrics(x, x)["ssim"] == pytest.approx(1.0)
    assert ev.reconstruction_metrics(x, noisy)["ssim"] < 0.99
    per_image = ev.ssim_per_image(x, noisy)
    assert per_image.shape == (shape[0],)
    assert np.all(per_image <= 1.0)


def test_ssim_ranks_noise_levels(rng):
    x = rng.random((4, 1, 16, 16))
    small = ev.reconstruction_metrics(x, np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1))
    large = ev.reconstruction_metrics(x, np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1))
    assert large["ssim"] < small["ssim"] < 1.0


def test_ssim_is_nan_for_flat_features(rng):
    x = rng.random((6, 10))
    m = ev.reconstruction_metrics(x, x)
    assert math.isnan(m["ssim"])
    assert m["sse_per_image"] == 0.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        ev.reconstruction_metrics(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError):
        ev.per_sample_errors(np.zeros((2, 3)), np.zeros((3, 3)))


def test_unknown_error_kind():
    with pytest.raises(ValueError, match="kind"):
        ev.per_sample_errors(np.zeros((2, 3)), np.zeros((2, 3)), kind="l1")


def test_denoising_metrics(rng):
    clean = rng.random((8, 1, 8, 8))
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), 0, 1)
    halfway = 0.5 * (clean + noisy)
    m = ev.denoising_metrics(clean, noisy, halfway)
    assert m["noisy_sse_per_image"] == pytest.approx(
        ev.per_sample_errors(clean, noisy, "sse").mean()
    )
    # halving the error quarters the squared error
    assert m["recon_sse_per_image"] == pytest.approx(m["noisy_sse_per_image"] / 4)
    assert m["improvement"] == pytest.approx(4.0)
    assert m["recon_bce_per_image"] == pytest.approx(
        ev.per_sample_errors(clean, halfway, "bce").mean()
    )
    assert ev.denoising_metrics(clean, noisy, clean)["improvement"] == math.inf
