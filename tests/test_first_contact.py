"""A user's first runs through the real command line (issue 21).

Short runs validate and log, the command that started a run continues it with
``--resume`` added, and a disk that fills up or turns read-only ends in one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from _support import run_cli
from autoencoders.checkpoint import load, read_checkpoint
from autoencoders.models import make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training.job import train_run

# the lecture's habit: one epoch of the deep model on digits
FIRST = ["train", "--model", "deep", "--dataset", "digits", "--epochs", "1", "--latent-dim", "5",
         "--output", "runs"]  # fmt: skip
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def event_tags(log_dir: Path) -> dict[str, list[str]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc.Tags()


def assert_validation_logged(log_dir: Path) -> None:
    tags = event_tags(log_dir)
    assert {"val/loss", "val/recon"} <= set(tags["scalars"]), tags
    assert "val/reconstructions" in tags["images"], tags


def stderr_lines(text: str) -> list[str]:
    """Lines of stderr, progress-bar redraws (``\\r``) counted as lines too."""
    return [line for line in re.split(r"[\r\n]+", text) if line.strip()]


def assert_one_error_line(done: subprocess.CompletedProcess, expected: str) -> str:
    """Exit 2, no traceback, one error line (the last), every other line a progress bar's."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = stderr_lines(done.stderr)
    errors = [line for line in lines if "error" in line]
    assert errors == [lines[-1]], done.stderr
    assert all(re.match(r"(epoch \d|Training)", line) for line in lines[:-1]), done.stderr
    assert expected in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A folder holding ``runs/`` of one ``FIRST`` run, and that run's output."""
    folder = tmp_path_factory.mktemp("first")
    done = run_cli(*FIRST, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder, done


def copy_of(first_run, tmp_path: Path) -> Path:
    shutil.copytree(first_run[0] / "runs", tmp_path / "runs")
    return tmp_path / "runs" / "digits" / "deep"


def test_one_epoch_run_logs_validation_scalars_and_images_and_prints_no_nan(first_run):
    folder, done = first_run
    assert_validation_logged(folder / "runs" / "digits" / "deep" / "tensorboard")
    assert "val loss" in done.stdout and not NAN.search(done.stdout), done.stdout


def test_the_same_command_plus_resume_continues(first_run, tmp_path):
    run = copy_of(first_run, tmp_path)
    again = run_cli(*FIRST, "--resume", str(run), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    # the run had finished: said so, with no figures of a training that did not happen
    assert "nothing left to train" in again.stdout and not NAN.search(again.stdout), again.stdout
    longer = run_cli(*[a if a != "1" else "2" for a in FIRST], "--resume", str(run), cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr
    assert "trained 2 epoch(s)" in longer.stdout and not NAN.search(longer.stdout)
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 1  # counted from 0


def test_resume_refuses_differing_options_naming_stored_and_given_values(first_run, tmp_path):
    run = copy_of(first_run, tmp_path)
    changed = [a if a != "5" else "3" for a in FIRST]
    done = run_cli(*changed, "--batch-size", "64", "--resume", str(run), cwd=tmp_path)
    line = assert_one_error_line(done, "--latent-dim 3 (the run has 5)")
    assert "--batch-size 64 (the run has 256)" in line
    assert len(stderr_lines(done.stderr)) == 1


def test_every_run_validates_when_max_steps_ends_it_inside_an_epoch(tmp_path):
    # digits at batch 64: ~22 steps an epoch, so 3 steps end the run inside its first one
    run = TrainConfig(dataset="digits", epochs=5, max_steps=3, batch_size=64)
    result = train_run(run, make_config("simple", latent_dim=3), tmp_path, progress_bar=False)
    assert "val/loss" in result.train.metrics and result.train.steps == 3
    assert "nan" not in result.summary()
    assert_validation_logged(tmp_path / "tensorboard")


def test_two_epochs_on_a_600_image_folder_validate(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in range(600):
        folder = tmp_path / "images" / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    done = run_cli("train", "--model", "deep", "--dataset", "images", "--epochs", "2",
                   "--output", "runs", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "val loss" in done.stdout and not NAN.search(done.stdout), done.stdout
    (log_dir,) = (tmp_path / "runs").glob("images-*/deep/tensorboard")
    assert_validation_logged(log_dir)


# ------------------------------------------------------------ a disk that refuses
@pytest.fixture
def small_disk(tmp_path):
    """A 120 kB tmpfs at ``tmp_path/disk`` (mounting needs root, or the test is skipped)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# the simple model at latent size 2 on digits: a checkpoint of about 18 kB
TINY = ["train", "--model", "simple", "--dataset", "digits", "--latent-dim", "2"]


def test_a_full_disk_at_checkpoint_time_ends_in_one_line_and_keeps_the_last_checkpoint(
    small_disk, tmp_path
):
    first = run_cli(*TINY, "--epochs", "1", "--output", str(small_disk), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = small_disk / "digits" / "simple"
    ckpt = run / "checkpoints" / "last.ckpt"
    before = ckpt.read_bytes()
    # fill the disk but for room for the run's small files, not for a second checkpoint
    room = shutil.disk_usage(small_disk).free - 16 * 1024
    assert room > 0
    (small_disk / "filler").write_bytes(b"\0" * room)
    done = run_cli(*TINY, "--epochs", "2", "--output", str(small_disk), "--resume", str(run),
                   cwd=tmp_path)  # fmt: skip
    line = assert_one_error_line(done, f"cannot write {ckpt}: no space left on device")
    assert re.search(r"it needs [\d.]+ kB, [\d.]+ kB free there", line), line
    assert ckpt.read_bytes() == before  # the earlier checkpoint, untouched and loadable
    assert load(ckpt).config["latent_dim"] == 2
    assert not [p for p in run.rglob(".*") if p.name.endswith(".tmp")]


def test_a_read_only_run_folder_on_resume_ends_in_one_line(small_disk, tmp_path):
    first = run_cli(*TINY, "--epochs", "1", "--output", str(small_disk), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = small_disk / "digits" / "simple"
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    assert subprocess.run(remount, check=False).returncode == 0
    done = run_cli(*TINY, "--epochs", "2", "--resume", str(run), cwd=tmp_path)
    assert_one_error_line(done, "read-only file system")
    assert len(stderr_lines(done.stderr)) == 1  # refused before training started
    assert load(run / "checkpoints" / "last.ckpt").config["latent_dim"] == 2
