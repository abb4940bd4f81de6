"""The variational variants trained briefly on scikit-learn's digits."""

import pytest
import torch

from _support import TensorDataModule
from autoencoders.models import build_model, make_config
from autoencoders.nn.bottlenecks import VariationalBottleneck
from autoencoders.training import fit


def train_digits(name, digits_dm, tmp_path, epochs=3, **options):
    torch.manual_seed(0)
    model = build_model(make_config(name, input_shape=(1, 8, 8), latent_dim=8, **options))
    result = fit(
        model, digits_dm, epochs=epochs, output_dir=tmp_path, logger=False, progress_bar=False
    )
    return model, result


@pytest.fixture(scope="module")
def trained_vae(digits_tensors, tmp_path_factory):
    dm = TensorDataModule(*digits_tensors, batch_size=64)
    return train_digits("vae", dm, tmp_path_factory.mktemp("vae"), epochs=2)


@pytest.mark.parametrize(
    ("name", "beta"), [("vae", 1.0), ("beta-vae", 2.0), ("beta-vae-loose", 0.5)]
)
def test_variants_use_a_variational_bottleneck_with_their_beta(name, beta):
    model = build_model(make_config(name, input_shape=(1, 8, 8)))
    assert isinstance(model.bottleneck, VariationalBottleneck)
    assert model.bottleneck.beta == beta
    assert model.encoder.latent_dim == 2 * model.latent_dim  # mean and log-variance


def test_kl_is_logged_and_positive(trained_vae):
    _, result = trained_vae
    for key in ("train/kl_epoch", "val/kl"):
        assert key in result.metrics, sorted(result.metrics)
        assert float(result.metrics[key]) > 0
    # the bottleneck's loss is the KL itself at beta = 1 without warm-up
    assert float(result.metrics["val/bottleneck"]) == pytest.approx(
        float(result.metrics["val/kl"]), rel=1e-4
    )


def test_samples_are_images_in_the_unit_range(trained_vae):
    model, _ = trained_vae
    model.eval()
    images = model.sample(32)
    assert images.shape == (32, 1, 8, 8)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert float(images.std(dim=0).mean()) > 0.01  # different codes, different pictures


def test_eval_encoding_is_deterministic(trained_vae, digits_tensors):
    model, _ = trained_vae
    x = digits_tensors[0][:16]
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x), model.encode(x), rtol=0, atol=0)
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model.encode(x), model.encode(x))  # training samples z
    model.eval()


def test_larger_beta_gives_a_smaller_kl(digits_dm, tmp_path):
    _, loose = train_digits("beta-vae-loose", digits_dm, tmp_path / "loose")
    _, tight = train_digits("beta-vae", digits_dm, tmp_path / "tight")
    assert float(tight.metrics["val/kl"]) < float(loose.metrics["val/kl"])
