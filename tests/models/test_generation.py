"""Samples and interpolations written to files, and the ``generate`` command."""

import numpy as np
import pytest
import torch
from PIL import Image

from _support import TensorDataModule
from autoencoders.cli import main
from autoencoders.generation import (
    interpolate,
    interpolation_pair,
    sample_images,
    save_interpolation,
    save_sample_grid,
)
from autoencoders.models import build_model, make_config
from autoencoders.training import fit


@pytest.fixture(scope="module")
def trained(digits_tensors, tmp_path_factory):
    """A VAE trained for one short epoch on digits, and its checkpoint."""
    torch.manual_seed(0)
    x, y = digits_tensors
    model = build_model(make_config("vae", input_shape=(1, 8, 8), latent_dim=4, lr=3e-3))
    dm = TensorDataModule(x[:800], y[:800], batch_size=100)
    out = tmp_path_factory.mktemp("vae")
    result = fit(model, dm, epochs=1, output_dir=out, logger=False, progress_bar=False)
    model.eval()
    return model, result.checkpoint


def test_samples_have_the_input_shape_and_follow_the_seed(trained):
    model, _ = trained
    a = sample_images(model, 6, torch.Generator().manual_seed(1))
    b = sample_images(model, 6, torch.Generator().manual_seed(1))
    c = sample_images(model, 6, torch.Generator().manual_seed(2))
    assert a.shape == (6, 1, 8, 8)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_interpolation_endpoints_are_the_reconstructions(trained, digits_tensors):
    model, _ = trained
    x_a, x_b = digits_tensors[0][0], digits_tensors[0][1]
    path = interpolate(model, x_a, x_b, steps=7)
    assert path.shape == (7, 1, 8, 8)
    with torch.no_grad():
        ends = model(torch.stack([x_a, x_b]))
    torch.testing.assert_close(path[0], ends[0])
    torch.testing.assert_close(path[-1], ends[1])
    assert not torch.allclose(path[3], path[0])  # the middle is neither end
    assert not model.training  # the model's mode is kept


def test_sample_grid_is_a_valid_png(trained, tmp_path):
    model, _ = trained
    path = save_sample_grid(model, 20, tmp_path / "grid.png", torch.Generator().manual_seed(0))
    with Image.open(path) as image:
        assert image.format == "PNG"
        # 8 columns and 3 rows of 8x8 images with 1-pixel gaps, enlarged 4 times
        assert image.size == ((8 * 9 - 1) * 4, (3 * 9 - 1) * 4)
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left behind


def test_interpolation_strip_and_gif(trained, digits_tensors, tmp_path):
    model, _ = trained
    x, y = digits_tensors
    a, b = interpolation_pair(y)
    assert y[a] != y[b]  # a morph between two digits
    png, gif = save_interpolation(
        model, x[a], x[b], tmp_path / "strip.png", tmp_path / "morph.gif", steps=6
    )
    with Image.open(png) as strip:
        assert strip.format == "PNG" and strip.size == ((6 * 9 - 1) * 4, 8 * 4)
    with Image.open(gif) as anim:
        assert anim.format == "GIF" and anim.is_animated
        assert anim.n_frames == 6


def test_generate_command_writes_a_grid(trained, tmp_path, capsys):
    _, checkpoint = trained
    out = tmp_path / "samples.png"
    assert main(["generate", str(checkpoint), "--n", "16", "--out", str(out), "--seed", "3"]) == 0
    assert "wrote 16 samples" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == ((8 * 9 - 1) * 4, (2 * 9 - 1) * 4)
    again = tmp_path / "again.png"
    main(["generate", str(checkpoint), "--n", "16", "--out", str(again), "--seed", "3"])
    assert again.read_bytes() == out.read_bytes()  # the seed fixes the samples


def test_generate_command_can_add_an_interpolation(trained, tmp_path):
    _, checkpoint = trained
    out = tmp_path / "samples.png"
    argv = ["generate", str(checkpoint), "--n", "4", "--out", str(out), "--interpolate",
            "--steps", "5", "--dataset", "digits"]  # fmt: skip
    assert main(argv) == 0
    with Image.open(tmp_path / "samples-interpolation.gif") as anim:
        assert anim.n_frames == 5
    assert (tmp_path / "samples-interpolation.png").stat().st_size > 0


def test_interpolation_pair_takes_another_class_where_there_is_one():
    assert interpolation_pair(np.array([3, 3, 5, 3])) == (0, 2)
    assert interpolation_pair(torch.tensor([-1, -1, -1])) == (0, 1)  # unlabelled: first two
    assert interpolation_pair(np.array([7])) == (0, 0)
