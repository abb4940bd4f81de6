"""Input corruption for denoising: salt-and-pepper, masking, Gaussian."""

import pytest
import torch

from autoencoders.nn import corrupt


def test_salt_and_pepper_hits_the_ratio_with_black_and_white():
    torch.manual_seed(0)
    x = torch.full((200, 1, 32, 32), 0.5)
    noisy = corrupt(x, "salt_pepper", 0.25)
    changed = noisy != x
    assert changed.float().mean().item() == pytest.approx(0.25, abs=0.01)
    assert set(noisy[changed].unique().tolist()) == {0.0, 1.0}
    assert noisy[changed].mean().item() == pytest.approx(0.5, abs=0.02)


def test_masking_and_gaussian_noise():
    torch.manual_seed(0)
    x = torch.full((100, 64), 0.5)
    masked = corrupt(x, "masking", 0.3)
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    gauss = corrupt(x, "gaussian", 0.1)
    assert gauss.min() >= 0 and gauss.max() <= 1
    assert (gauss - x).std().item() == pytest.approx(0.1, abs=0.01)
    assert corrupt(x, "salt_pepper", 0.0) is x


def test_noise_arguments_are_checked():
    with pytest.raises(ValueError, match="noise must be one of"):
        corrupt(torch.zeros(2), "pink", 0.1)
    with pytest.raises(ValueError, match="noise_ratio must lie in"):
        corrupt(torch.zeros(2), "masking", 1.5)


def test_noise_is_reproducible_when_seeded():
    x = torch.rand(4, 16)
    torch.manual_seed(3)
    a = corrupt(x, "salt_pepper", 0.5)
    torch.manual_seed(3)
    b = corrupt(x, "salt_pepper", 0.5)
    assert torch.equal(a, b)


def test_a_generator_of_its_own_reproduces_and_leaves_torchs_state_alone():
    x = torch.rand(4, 16)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = corrupt(x, "salt_pepper", 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), before)
    b = corrupt(x, "salt_pepper", 0.5, torch.Generator().manual_seed(1))
    c = corrupt(x, "gaussian", 0.2, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, x) and not torch.equal(c, x)
