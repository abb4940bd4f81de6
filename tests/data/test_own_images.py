"""Your own images: colour, any size, flat folders, odd formats, and the photo-patches data set.

Each CLI test trains for an epoch or a few steps on tiny images written here
with Pillow, as a user would run it (``run_cli``: a new process).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _support import run_cli
from autoencoders.data import load_dataset
from autoencoders.data.sources.images import read_image
from autoencoders.errors import ConfigError, DataError

TRAIN = ["train", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--no-progress"]
SIZES = ((20, 24), (31, 17), (16, 16), (40, 28))  # (width, height), mixed on purpose


def one_line_error(done) -> str:
    """The one line of a refused command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def colour_folder(root: Path, n: int = 12, classes: tuple[str, ...] = ("red", "blue")) -> Path:
    """Colour JPEGs of mixed sizes, one class per sub-folder (nested one level in ``red``)."""
    rng = np.random.default_rng(0)
    for label, cls in enumerate(classes):
        for i in range(n):
            folder = root / cls / ("deeper" if i % 3 == 0 and label == 0 else "")
            folder.mkdir(parents=True, exist_ok=True)
            w, h = SIZES[i % len(SIZES)]
            pixels = rng.integers(0, 80, (h, w, 3))
            pixels[..., 0 if label == 0 else 2] += 170  # red or blue images
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.jpg", quality=95)
    return root


def run_folder(out: Path) -> Path:
    return next(out.rglob("config.json")).parent


# ------------------------------------------------------------- colour, any size
@pytest.fixture(scope="module")
def colour_run(tmp_path_factory) -> tuple[Path, Path]:
    """A conv net trained 1 epoch on mixed-size colour JPEGs with --image-size 64: (cwd, checkpoint).

    The issue's own case: 64x64 colour, where the conv net's depth follows the size.
    """
    cwd = tmp_path_factory.mktemp("colour")
    # 120 images: the evaluation's 10 k-means clusters need 10 test images or more
    colour_folder(cwd / "photos", n=60)
    done = run_cli(*TRAIN, "--dataset", "photos", "--image-size", "64", "--model", "conv",
                   "--latent-dim", "8", "--output", "runs", cwd=cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd, next((cwd / "runs").rglob("last.ckpt"))


def test_mixed_size_colour_jpegs_train_as_colour_with_image_size(colour_run):
    cwd, _ = colour_run
    folder = run_folder(cwd / "runs")
    config = json.loads((folder / "config.json").read_text())
    assert tuple(config["input_shape"]) == (3, 64, 64)
    assert config["channels"] == [32, 64, 128, 256]  # four stride-2 stages: 64 down to 4
    run = json.loads((folder / "run.json").read_text())
    assert run["image_size"] == "64x64" and run["channels_mode"] == "auto"
    picture = np.asarray(Image.open(next(folder.rglob("reconstructions.png"))).convert("RGB"))
    assert (picture[..., 0] != picture[..., 1]).any()  # colour, not grey


def test_commands_on_a_colour_checkpoint_read_the_runs_preprocessing(colour_run):
    cwd, ckpt = colour_run
    for args in (
        ("evaluate", str(ckpt), "--out", "eval.json"),
        ("embed", str(ckpt), "--out", "codes.csv"),
        ("score", str(ckpt), "--out", "scores.csv"),
        ("generate", str(ckpt), "--n", "4", "--out", "samples.png", "--interpolate"),
        ("explore", str(ckpt), "--out", "explore.html"),
    ):
        done = run_cli(*args, cwd=cwd)
        assert done.returncode == 0, (args, done.stderr)
    codes = (cwd / "codes.csv").read_text().splitlines()
    assert len(codes) == 1 + 120 and "deeper/0.jpg" in "".join(codes)  # every file, by name
    samples = np.asarray(Image.open(cwd / "samples.png").convert("RGB"))
    assert samples.ndim == 3
    # another folder of other sizes is resized as the run's was
    colour_folder(cwd / "more", n=4)
    done = run_cli("embed", str(ckpt), "--dataset", "more", "--out", "more.csv", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert len((cwd / "more.csv").read_text().splitlines()) == 1 + 8


def test_mixed_sizes_without_image_size_are_refused_naming_the_option(tmp_path):
    colour_folder(tmp_path / "photos", n=4)
    done = run_cli(*TRAIN, "--dataset", "photos", "--output", "runs", cwd=tmp_path)
    line = one_line_error(done)
    assert "--image-size" in line and "all images must have the same size" in line, line


def test_a_malformed_image_size_is_one_line(tmp_path):
    colour_folder(tmp_path / "photos", n=2)
    done = run_cli(*TRAIN, "--dataset", "photos", "--image-size", "16x", "--output", "runs",
                   cwd=tmp_path)  # fmt: skip
    assert "--image-size must be N or HxW" in one_line_error(done)


def test_image_size_reads_n_or_h_x_w():
    from autoencoders.run_config import parse_image_size

    assert parse_image_size("64") == (64, 64) and parse_image_size("48x64") == (48, 64)
    with pytest.raises(ConfigError, match="--image-size"):
        parse_image_size("0")


def test_resizing_keeps_the_centre(tmp_path):
    # 40 wide, 20 high: a black frame of 10 on the left and right, white in the centre
    pixels = np.zeros((20, 40), dtype=np.uint8)
    pixels[:, 10:30] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    small = read_image(tmp_path / "wide.png", (10, 10))
    # only the white centre is left (a squashed whole would have black sides; bicubic
    # filtering lets the frame darken the edge columns a little)
    assert small.shape == (10, 10) and small[:, 1:-1].min() == 255 and small.min() > 200


# ----------------------------------------------------------------- flat folders
def test_a_flat_folder_trains_as_unlabelled_data(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "normal").mkdir()
    for i in range(20):
        pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "normal" / f"img{i:02d}.png")
    data = load_dataset(tmp_path / "normal")
    assert data.sample_shape == (1, 8, 8) and data.train_y is None and data.classes is None
    assert sorted(data.files) == [f"img{i:02d}.png" for i in range(20)]
    done = run_cli(*TRAIN, "--dataset", "normal", "--model", "simple", "--output", "runs",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_loose_images_beside_class_folders_are_refused(tmp_path):
    colour_folder(tmp_path / "mixed", n=2)
    Image.new("RGB", (16, 16)).save(tmp_path / "mixed" / "stray.png")
    with pytest.raises(DataError, match=r"stray\.png, \.\.\.\) beside class sub-folders"):
        load_dataset(tmp_path / "mixed", image_size="16")


def test_channels_mode_forces_grey_or_rgb(tmp_path):
    colour_folder(tmp_path / "photos", n=2)
    grey = load_dataset(tmp_path / "photos", image_size="8", channels_mode="grey")
    assert grey.sample_shape == (1, 8, 8)
    (tmp_path / "grey").mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / "grey" / f"{i}.png")
    assert load_dataset(tmp_path / "grey").sample_shape == (1, 8, 8)
    data = load_dataset(tmp_path / "grey", channels_mode="rgb")
    assert data.sample_shape == (3, 8, 8)
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2])
    with pytest.raises(DataError, match="digits is no folder of images, so --channels-mode"):
        load_dataset("digits", channels_mode="rgb")


# ------------------------------------------------------------------ odd formats
def odd_formats(folder: Path) -> None:
    """One image of each awkward kind, all 16x16 once read (the EXIF one is stored 8x16)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.save(folder / "palette.png", transparency=0)
    Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16)).save(folder / "deep.png")
    alpha = np.zeros((16, 16, 2), dtype=np.uint8)  # black, fully transparent: white on white
    Image.fromarray(alpha, mode="LA").save(folder / "la.png")
    # stored 16 high and 8 wide, black left half; EXIF 6 says: turn 90 degrees clockwise
    pixels = np.full((16, 8, 3), 255, dtype=np.uint8)
    pixels[:, :4] = 0
    turned = Image.fromarray(pixels)
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(folder / "turned.jpg", exif=exif, quality=100)
    Image.fromarray(rgb).save(folder / "lossless.webp", lossless=True)
    Image.fromarray(rgb).save(folder / "plain.bmp")
    Image.fromarray(rgb).save(folder / "plain.tiff")


def test_each_odd_format_reads_as_it_looks(tmp_path):
    odd_formats(tmp_path / "odd")
    read = {f.name: read_image(f) for f in (tmp_path / "odd").iterdir()}
    assert read["deep.png"].dtype == np.float32 and read["deep.png"].max() == 1.0
    assert read["la.png"].shape == (16, 16) and read["la.png"].min() == 255
    assert read["palette.png"].shape == (16, 16, 3) and read["cmyk.jpg"].shape == (16, 16, 3)
    turned = read["turned.jpg"]
    assert turned.shape[:2] == (8, 16)  # turned: now 8 high, 16 wide
    assert turned[:3].max() < 30 and turned[-3:].min() > 225  # the black half is on top
    assert np.array_equal(read["lossless.webp"], read["plain.bmp"])
    data = load_dataset(tmp_path / "odd", image_size="16")
    assert data.sample_shape == (3, 16, 16) and data.scale == 1.0  # 16-bit: floats in [0, 1]
    x = torch.cat([data.train_x, data.test_x])
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_a_folder_of_odd_formats_trains(tmp_path):
    odd_formats(tmp_path / "odd" / "a")
    odd_formats(tmp_path / "odd" / "b")
    done = run_cli(*TRAIN, "--dataset", "odd", "--image-size", "16", "--model", "conv",
                   "--output", "runs", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads((run_folder(tmp_path / "runs") / "config.json").read_text())
    assert tuple(config["input_shape"]) == (3, 16, 16)


# ------------------------------------------------------------ the photo patches
def test_photo_patches_load_offline_the_same_every_time():
    from sklearn.datasets import load_sample_images

    first, again = load_dataset("photo-patches"), load_dataset("photo-patches")
    assert first.sample_shape == (3, 16, 16) and first.train_x.dtype == torch.uint8
    assert (len(first.train_x), len(first.test_x)) == (18_000, 2_000)
    assert first.classes == ("china", "flower")
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_x, again.test_x)
    # each patch is a piece of its photo
    photo = load_sample_images().images[int(first.train_y[0])]
    patch = first.train_x[0].permute(1, 2, 0).numpy()
    places = np.argwhere((photo[:-15, :-15] == patch[0, 0]).all(axis=-1))
    assert any((photo[r : r + 16, c : c + 16] == patch).all() for r, c in places)
    grey = load_dataset("photo-patches-grey", patch_size=8)
    assert grey.sample_shape == (1, 8, 8)
    assert torch.equal(grey.train_y, first.train_y)  # the same places, in grey
    with pytest.raises(DataError, match="--patch-size 500 does not fit"):
        load_dataset("photo-patches", patch_size=500)


def test_photo_patches_train_the_sparse_model(tmp_path):
    done = run_cli(*TRAIN, "--dataset", "photo-patches", "--model", "sparse", "--batch-size",
                   "256", "--output", "runs", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads((run_folder(tmp_path / "runs") / "config.json").read_text())
    assert tuple(config["input_shape"]) == (3, 16, 16)


def test_photo_patches_are_listed():
    done = run_cli("list-datasets", cwd=Path.cwd())
    assert done.returncode == 0, done.stderr
    assert "photo-patches " in done.stdout and "photo-patches-grey" in done.stdout
