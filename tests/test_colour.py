"""Colour pictures and conv nets that follow the picture's size (issue 23, the model side).

A conv model's depth comes from its input shape unless ``channels`` is given, and
the checkpoint stores the channels it was built with. A colour ``.npy`` trains
from the command line, and its reconstructions, samples and explorer page are
in colour; grey stays grey (the other tests' business).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import autoencoders
from _support import run_cli
from autoencoders.config import config_to_dict
from autoencoders.explore import explorer_data
from autoencoders.models import build_model, make_config
from autoencoders.shapes import auto_conv_channels, conv_stages


def stages(model) -> int:
    return len(model.encoder.channels)


def test_conv_depth_follows_the_image_size():
    small = build_model(make_config("conv", input_shape=(3, 16, 16)))
    large = build_model(make_config("conv", input_shape=(3, 64, 64)))
    assert stages(small) == 2 < stages(large) == 4
    # 32x32 keeps the network the conv model always had
    assert build_model(make_config("conv", input_shape=(1, 32, 32))).encoder.channels == [
        32,
        64,
        128,
    ]
    # 8x8 digits: one stage, down to 4x4
    assert build_model(make_config("conv", input_shape=(1, 8, 8))).encoder.channels == [32]
    assert auto_conv_channels((128, 128)) == (32, 64, 128, 256, 256)  # capped widths
    assert conv_stages((16, 64)) == 2  # the smaller side decides
    # the feature map is about 4x4 whatever the size
    assert large.encoder.feature_shape == (256, 4, 4)


def test_channels_given_win_and_sequence_models_keep_theirs():
    model = build_model(make_config("conv", input_shape=(3, 64, 64), channels=(8, 16)))
    assert model.encoder.channels == [8, 16] and model.decoder.channels == [8, 16]
    assert make_config("sequence").channels == (16, 32, 64)
    assert build_model(make_config("sequence", input_shape=(1, 64))).encoder.channels == [
        16,
        32,
        64,
    ]


def test_automatic_channels_wait_for_the_data_and_are_stored_resolved():
    cfg = make_config("conv")  # no shape yet: the placeholder must not fix the network
    assert cfg.channels == ()
    import dataclasses

    cfg = dataclasses.replace(cfg, input_shape=(3, 64, 64))
    cfg.validate()
    assert config_to_dict(cfg)["channels"] == [32, 64, 128, 256]
    # a refused size names the automatic choice and the way out
    with pytest.raises(ValueError, match=r"--channels \(automatic.*pad_to=32"):
        make_config("conv", input_shape=(1, 28, 28))


def test_checkpoint_round_trip_rebuilds_the_automatic_net(tmp_path):
    torch.manual_seed(0)
    model = build_model(make_config("conv", input_shape=(3, 64, 64), latent_dim=8)).eval()
    assert model.config["channels"] == [32, 64, 128, 256]
    path = tmp_path / "m.ckpt"
    torch.save({"autoencoder_config": model.config, "state_dict": model.state_dict()}, path)
    again = autoencoders.load(path).eval()
    assert again.encoder.channels == model.encoder.channels
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


def colourful(path: Path, n: int = 96, side: int = 16) -> Path:
    """Colour images whose channels differ: a red-green gradient and a blue blob."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / (side - 1)
    images = np.empty((n, 3, side, side), np.float32)
    for i in range(n):
        a = rng.uniform(0.2, 1.0)
        cx, cy = rng.uniform(0.2, 0.8, 2)
        images[i, 0] = a * xx
        images[i, 1] = (1 - a) * yy
        images[i, 2] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05)
    np.save(path, images)
    return path


def is_colour(png: Path) -> bool:
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return bool((pixels[..., 0] != pixels[..., 1]).any())


@pytest.fixture(scope="module")
def colour_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("colour")
    data = colourful(folder / "colour.npy")
    done = run_cli(
        "train", "--model", "conv", "--dataset", str(data), "--epochs", "2", "--latent-dim", "6",
        "--batch-size", "32", "--threads", "1", "--output", str(folder / "runs"), cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [ckpt] = (folder / "runs").rglob("last.ckpt")
    return ckpt


def test_a_colour_npy_trains_a_conv_model_with_colour_pictures(colour_checkpoint, tmp_path):
    run = colour_checkpoint.parents[1]
    config = json.loads((run / "config.json").read_text())
    assert config["input_shape"] == [3, 16, 16] and config["channels"] == [32, 64]
    [png] = run.rglob("reconstructions.png")
    assert is_colour(png)
    out = tmp_path / "samples.png"
    data = colour_checkpoint.parents[3].parent / "colour.npy"
    done = run_cli(
        "generate", str(colour_checkpoint), "--out", str(out), "--n", "8", "--interpolate",
        "--dataset", str(data), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert is_colour(out)
    assert is_colour(tmp_path / "samples-interpolation.png")
    gif = Image.open(tmp_path / "samples-interpolation.gif")
    assert gif.mode == "P" and is_colour_gif(gif)


def is_colour_gif(gif: Image.Image) -> bool:
    return bool(
        (np.asarray(gif.convert("RGB"))[..., 0] != np.asarray(gif.convert("RGB"))[..., 1]).any()
    )


def test_the_explorer_page_of_a_colour_model_says_three_channels(colour_checkpoint, tmp_path):
    model = autoencoders.load(colour_checkpoint).eval()
    x = torch.as_tensor(np.load(colour_checkpoint.parents[3].parent / "colour.npy"))[:40]
    data = explorer_data(model, x, torch.arange(40) % 2)
    assert data["shape"] == [3, 16, 16]
    # the in-page decoder ends in the three-channel picture it draws as RGB
    reshapes = [op for op in data["decoder"] if op["op"] == "reshape"]
    assert reshapes[-1]["shape"] == [3, 16, 16]


@pytest.fixture(scope="module")
def browser():
    from _browser import headless_chromium

    yield from headless_chromium()


def test_the_colour_page_draws_rgb_in_the_browser(colour_checkpoint, tmp_path, browser):
    """The page's decoder matches PyTorch's, and its canvases hold colour, not grey."""
    from _browser import console_errors

    data = colour_checkpoint.parents[3].parent / "colour.npy"
    out = tmp_path / "explore.html"
    done = run_cli("explore", str(colour_checkpoint), "--dataset", str(data), "--out", str(out),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    browser.get(out.as_uri())
    model = autoencoders.load(colour_checkpoint).eval()
    z = torch.tensor(browser.execute_script("return explorer.code(3);"), dtype=torch.float32)
    with torch.no_grad():
        expected = model.decode(z[None])[0].numpy().ravel()
    decoded = np.array(browser.execute_script("return explorer.decode(arguments[0]);", z.tolist()))
    assert decoded.shape == (3 * 16 * 16,)
    assert np.abs(decoded - expected).max() < 1e-4
    # the input canvas of the selected point: a red-green gradient, so R and G differ
    differ = browser.execute_script(
        """
        const c = document.getElementById('input');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1]) n++;
        return n;
        """
    )
    assert differ > 0
    assert console_errors(browser) == []


def test_colour_patches_benchmark_cuts_and_reports(monkeypatch):
    """The benchmark's patches (train and test apart) and its table, on a tiny run."""
    from _support import benchmark_module

    with benchmark_module("colour_patches") as bench:
        images = [np.random.default_rng(0).random((3, 40, 80), dtype=np.float32)]
        rng = np.random.default_rng(0)
        train = bench.cut_patches(images, 16, 10, "train", rng)
        test = bench.cut_patches(images, 16, 10, "test", rng)
        assert train.shape == test.shape == (10, 3, 16, 16)
        # the test part (the right quarter) is never in a training patch
        right = images[0][:, :, 60:]
        assert not any(np.isin(p, right).all() for p in train)
        assert all(np.isin(p, right).all() for p in test)
        monkeypatch.setattr(bench, "SIZES", {64: (24, 8, 1)})
        monkeypatch.setattr(bench, "photos", lambda: [np.random.default_rng(1).random(
            (3, 100, 400), dtype=np.float32)])  # fmt: skip
        row = bench.run_size(64, 4, 0, 8)
        assert row["channels"] == [32, 64, 128, 256]
        args = bench.argparse.Namespace(latent_dim=4, threads=1, seed=0, batch_size=8)
        text = bench.markdown([row], args, 1.0)
        assert "| 64x64x3 | conv | 32, 64, 128, 256 |" in text and "PCA-4" in text
        assert "## Where PCA wins" in text
