"""Image folders decoded once into a cache file: reused while the files stay, rebuilt when they change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images

from autoencoders.data import DataError, load_dataset
from autoencoders.data.mapped import MappedRows

CLI = [sys.executable, "-m", "autoencoders.cli"]


def _write_photos(folder: Path, n: int = 12) -> None:
    """``n`` 24x24 crops of scikit-learn's sample photos as PNG files, in two classes."""
    photos = load_sample_images().images
    for i in range(n):
        photo = photos[i % 2]
        crop = photo[30 * i : 30 * i + 24, 40 * i : 40 * i + 24]
        (folder / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(folder / f"class{i % 2}" / f"img{i:02d}.png")


def _cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.npy")) if cache.is_dir() else []


def _train(folder: Path, cache: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "train", "--dataset", str(folder), "--model", "simple", "--max-steps", "2",
         "--batch-size", "4", "--cache-dir", str(cache), "--output", str(out), "--threads", "1",
         "--no-progress", "--overwrite", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cache_is_reused_while_files_stay_and_rebuilt_when_one_changes(tmp_path):
    folder, cache, out = tmp_path / "photos", tmp_path / "cache", tmp_path / "runs"
    _write_photos(folder)
    first = _train(folder, cache, out)
    assert first.returncode == 0, first.stderr[-2000:]
    [made] = _cache_files(cache)
    stamp = made.stat().st_mtime_ns, made.stat().st_ino
    assert "decoded once into" in first.stderr

    again = _train(folder, cache, out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _cache_files(cache) == [made], "the cache file was not reused"
    assert (made.stat().st_mtime_ns, made.stat().st_ino) == stamp
    assert "decoded once into" not in again.stderr

    # the commands that read a run's data (embed, evaluate, score, explore) use the cache too
    checkpoint = next(out.rglob("last.ckpt"))
    embedded = subprocess.run(
        [*CLI, "embed", str(checkpoint), "--split", "all", "--out", str(tmp_path / "codes.npy")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr[-2000:]
    assert "decoded once into" not in embedded.stderr
    assert len(np.load(tmp_path / "codes.npy")) == 12
    assert _cache_files(cache) == [made]

    # one image replaced by another: the stale file is replaced, never read
    changed = folder / "class1" / "img03.png"
    Image.fromarray(np.zeros((24, 24, 3), dtype=np.uint8)).save(changed)
    os.utime(changed, ns=(stamp[0] + 10**9, stamp[0] + 10**9))
    rebuilt = _train(folder, cache, out)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert "decoded once into" in rebuilt.stderr
    [fresh] = _cache_files(cache)
    assert fresh != made and not made.exists()
    index = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")).index(
        "class1/img03.png"
    )
    assert np.load(fresh)[index].max() == 0  # the new image's pixels, not the old one's


def test_cached_folder_reads_as_the_folder_decoded_in_memory(tmp_path):
    folder = tmp_path / "photos"
    _write_photos(folder, n=8)
    plain = load_dataset(folder, cache_dir="none", image_size="16")
    cached = load_dataset(folder, cache_dir=tmp_path / "cache", image_size="16")
    mapped = load_dataset(
        folder, cache_dir=tmp_path / "cache", image_size="16", memory_map="always"
    )
    assert isinstance(mapped.train_x, MappedRows) and isinstance(cached.train_x, torch.Tensor)
    for data in (cached, mapped):
        assert data.sample_shape == plain.sample_shape == (3, 16, 16)
        x = data.train_x.read() if isinstance(data.train_x, MappedRows) else data.train_x
        assert torch.equal(x, plain.train_x) and torch.equal(data.train_y, plain.train_y)
        assert data.files == plain.files and data.classes == plain.classes
    # another image size is another cache file, beside the first
    load_dataset(folder, cache_dir=tmp_path / "cache", image_size="8")
    assert len(_cache_files(tmp_path / "cache")) == 1  # the folder's older file is replaced


def test_grey_and_colour_folders_get_their_channels(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((6, 6), 40 * i, dtype=np.uint8)).save(folder / f"g{i}.png")
    plain = load_dataset(folder, cache_dir="none")
    assert plain.sample_shape == (1, 6, 6)
    # a colour image late in the listing restarts decoding with three channels
    Image.fromarray(np.full((6, 6, 3), (200, 10, 10), dtype=np.uint8)).save(folder / "z.png")
    cached = load_dataset(folder, cache_dir=tmp_path / "cache")
    assert cached.sample_shape == (3, 6, 6)
    assert torch.equal(cached.train_x, load_dataset(folder, cache_dir="none").train_x)


def test_unwritable_cache_folder_warns_and_decodes_in_memory(tmp_path, caplog):
    folder = tmp_path / "photos"
    _write_photos(folder, n=4)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level("WARNING"):
        data = load_dataset(folder, cache_dir=blocker / "cache")
    assert len(data.train_x) + len(data.test_x) == 4
    assert "cannot write the image cache" in caplog.text and "--cache-dir" in caplog.text


@pytest.mark.parametrize("option", ["none", "NONE"])
def test_cache_dir_none_writes_nothing(tmp_path, option, monkeypatch):
    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path / "default"))
    folder = tmp_path / "photos"
    _write_photos(folder, n=4)
    load_dataset(folder, cache_dir=option)
    assert not (tmp_path / "default").exists()
    load_dataset(folder)  # the default: the user's cache folder
    assert len(_cache_files(tmp_path / "default" / "images")) == 1


def test_images_that_cannot_fit_in_memory_without_a_cache_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    _write_photos(folder, n=4)  # 4 colour images of 24x24: 6,912 bytes decoded
    monkeypatch.setattr("autoencoders.data.mapped.memory_limit", lambda: 5_000)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for option, why in (("none", "--cache-dir is none"), (blocker / "c", "cannot be written")):
        with pytest.raises(DataError, match=rf"more than the memory available, and .*{why}"):
            load_dataset(folder, cache_dir=option)
    # with a cache the same images are decoded into the cache file, not into memory
    data = load_dataset(folder, cache_dir=tmp_path / "cache")
    assert isinstance(data.train_x, MappedRows)
