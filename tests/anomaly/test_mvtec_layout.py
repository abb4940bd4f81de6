"""The MVTec AD folder layout as ``--dataset DIR``: splits, labels, files and masks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _mvtec import save_png, write_mvtec
from PIL import Image

from autoencoders.data.sources import load_dataset
from autoencoders.data.sources.mvtec import is_mvtec_folder, read_masks, read_split
from autoencoders.errors import DataError


def test_the_layout_trains_on_train_good_and_tests_on_test(mvtec_dir):
    assert is_mvtec_folder(mvtec_dir)
    data = load_dataset(mvtec_dir)
    assert data.train_x.shape == (60, 1, 32, 32) and data.test_x.shape == (24, 1, 32, 32)
    assert data.classes == ("good", "bright", "dark")  # good first: label 0 is normal
    assert (data.train_y == 0).all()
    assert data.files[0] == "train/good/000.png" and data.files[60] == "test/bright/000.png"
    test_files = data.files[60:]
    names = [data.classes[int(y)] for y in data.test_y]
    assert all(f.split("/")[1] == n for f, n in zip(test_files, names, strict=True))
    # the pixels are the files' own
    first = np.asarray(Image.open(mvtec_dir / "test" / "dark" / "003.png"))
    np.testing.assert_array_equal(data.test_x[test_files.index("test/dark/003.png"), 0], first)


def test_masks_are_read_for_defects_and_empty_for_good_images(mvtec_dir):
    files = ["test/good/000.png", "test/bright/002.png"]
    masks = read_masks(mvtec_dir, files)
    assert masks.shape == (2, 32, 32) and masks.dtype == bool
    assert not masks[0].any()
    stored = np.asarray(Image.open(mvtec_dir / "ground_truth" / "bright" / "002_mask.png")) > 127
    np.testing.assert_array_equal(masks[1], stored)
    assert 25 <= masks[1].sum() <= 64  # one square of 5 to 8 pixels a side
    resized = read_masks(mvtec_dir, files, (64, 64))
    assert resized.shape == (2, 64, 64) and resized[1].sum() > 3 * masks[1].sum()


def test_a_missing_or_misfit_mask_is_named(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=4, n_good=2, n_defect=2)
    missing = root / "ground_truth" / "dark" / "001_mask.png"
    missing.unlink()
    with pytest.raises(DataError, match=f"{missing}: missing; the defect image .*001.png"):
        read_masks(root, ["test/dark/000.png", "test/dark/001.png"])
    save_png(missing, np.zeros((16, 16)))
    with pytest.raises(DataError, match=f"{missing} is 16x16 but its image .* is 32x32"):
        read_masks(root, ["test/dark/001.png"])


def test_anomalies_under_train_are_refused(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=4, n_good=2, n_defect=2)
    shutil.copytree(root / "test" / "dark", root / "train" / "dark")
    with pytest.raises(DataError, match=r"holds dark beside good; .*move them under"):
        load_dataset(root)


def test_a_validation_folder_is_read_with_its_labels(tmp_path):
    root = write_mvtec(tmp_path / "parts", n_train=4, n_good=2, n_defect=2)
    write_mvtec(root, n_train=0, n_good=3, n_defect=2, split="validation", masks=False)
    split = read_split(root, "validation")
    assert split.classes == ("good", "bright", "dark")
    assert split.y.tolist() == [1, 1, 2, 2, 0, 0, 0]
    assert split.files[0] == "validation/bright/000.png"
