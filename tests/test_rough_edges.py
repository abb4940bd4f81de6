"""Issue 27's smaller rough edges: each one's fix, checked as a user meets it.

A ``--data-dir`` that does not exist, a mistyped data file, a silent
``evaluate``, Lightning's banners from ``fit()``, an unseeded ``generate`` and
an explorer legend of numbers instead of class names.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from _support import run_cli

TRAIN = ["train", "--epochs", "1", "--batch-size", "64", "--threads", "1"]


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The one line of a refused command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory) -> Path:
    """A checkpoint of a simple model on digits (8x8 images), trained for one epoch."""
    out = tmp_path_factory.mktemp("digits")
    done = run_cli(*TRAIN, "--dataset", "digits", "--model", "simple", "--latent-dim", "4",
                   "--output", str(out), cwd=out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / "digits" / "simple" / "checkpoints" / "last.ckpt"


# ------------------------------------------------------------------ --data-dir
def test_missing_data_dir_is_named(tmp_path):
    done = run_cli(*TRAIN, "--dataset", "digits", "--data-dir", str(tmp_path / "nonexistent"),
                   "--output", str(tmp_path / "runs"), cwd=tmp_path)  # fmt: skip
    line = one_line_error(done)
    assert f"--data-dir {tmp_path / 'nonexistent'} does not exist" in line, line


def test_data_dir_that_is_a_file_is_named(tmp_path):
    from autoencoders.data import DataError, load_dataset

    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_dataset("digits", data_dir=tmp_path / "a-file")


def test_missing_data_dir_is_refused_where_nothing_may_be_downloaded(tmp_path):
    from autoencoders.data import DataError, load_dataset

    with pytest.raises(DataError, match=r"does not exist; give the folder that holds the mnist"):
        load_dataset("mnist", data_dir=tmp_path / "nonexistent", download=False)


def _closed_port_url() -> str:
    with socket.socket() as s:  # bound, never listening, then closed: nobody answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_missing_data_dir_is_a_download_target(tmp_path, monkeypatch):
    """A named data set that may be downloaded goes into the folder, so it may be new."""
    from autoencoders.data import IDX_SOURCES, DataError, load_dataset

    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path / "cache"))
    dead = dataclasses.replace(IDX_SOURCES["kmnist"], mirrors=(_closed_port_url(),))
    monkeypatch.setitem(IDX_SOURCES, "kmnist", dead)
    with pytest.raises(DataError) as info:
        load_dataset("kmnist", data_dir=tmp_path / "new")
    message = str(info.value)
    assert "could not be downloaded" in message and "does not exist" not in message, message
    assert (tmp_path / "new" / "KMNIST" / "raw").is_dir(), "the download target was created"


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    ) + array.astype(np.uint8).tobytes()  # fmt: skip


def test_missing_data_dir_says_where_the_data_came_from(tmp_path, monkeypatch, caplog):
    from autoencoders.data import load_dataset

    cached = tmp_path / "cache" / "MNIST" / "raw"
    cached.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, shape in (("train-images-idx3-ubyte", (30, 28, 28)), ("train-labels-idx1-ubyte",
                        (30,)), ("t10k-images-idx3-ubyte", (10, 28, 28)),
                        ("t10k-labels-idx1-ubyte", (10,))):  # fmt: skip
        (cached / stem).write_bytes(_idx(rng.integers(0, 10, shape)))
    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path / "cache"))
    with caplog.at_level(logging.INFO, logger="autoencoders"):
        data = load_dataset("mnist", data_dir=tmp_path / "nonexistent")
    assert len(data.train_x) == 30
    assert f"--data-dir {tmp_path / 'nonexistent'} does not exist; using the mnist files in " \
           f"{cached}" in caplog.text  # fmt: skip


# ------------------------------------------------------------ mistyped --dataset
@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("digts.csv", "file not found: digts.csv; the named data set is --dataset digits"),
        ("./nope/", "folder not found: ./nope/; nothing of a similar name is in the current"),
        ("data/x.npy", "file not found: data/x.npy; its folder data does not exist either"),
        ("fashon-mnist", "unknown data set 'fashon-mnist' (did you mean 'fashion-mnist'?): "
                         "choose one of digits, mnist, fashion-mnist, kmnist"),
        ("cifar", "unknown data set 'cifar': choose one of digits, mnist, fashion-mnist"),
    ],
)  # fmt: skip
def test_mistyped_dataset_is_named_as_what_it_looks_like(tmp_path, dataset, expected):
    done = run_cli(*TRAIN, "--dataset", dataset, "--output", str(tmp_path / "runs"),
                   cwd=tmp_path)  # fmt: skip
    line = one_line_error(done)
    assert expected in line, line
    assert not (tmp_path / "runs").exists(), "a run that never started leaves no folder"


def test_mistyped_file_name_suggests_the_file_beside_it(tmp_path, monkeypatch):
    from autoencoders.data import DataError, load_dataset

    (tmp_path / "sensors.csv").write_text("a,b\n1,2\n3,4\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"file not found: sensor.csv; did you mean sensors.csv\?"):
        load_dataset("sensor.csv")
    with pytest.raises(DataError, match=rf"did you mean {re.escape(str(tmp_path))}/sensors.csv"):
        load_dataset(str(tmp_path / "sensrs.csv"))


# --------------------------------------------------------------- evaluate's stages
def test_evaluate_shows_its_stages_on_stderr_and_keeps_stdout_for_results(digits_ckpt, tmp_path):
    done = run_cli("evaluate", str(digits_ckpt), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stages = [line for line in done.stderr.splitlines() if line.startswith("evaluate: ")]
    # a log file gets one line per stage, no bar redraws
    assert "\r" not in done.stderr
    assert stages[0].startswith("evaluate: model: encoding and reconstructing"), stages
    for words in ("model: linear probe", "model: clustering", "PCA-4: fitting on",
                  "PCA-4: linear probe", "PCA-4: denoising"):  # fmt: skip
        assert any(words in line for line in stages), (words, stages)
    assert all(line.endswith("...") for line in stages), stages
    assert done.stdout.splitlines()[0].split() == ["metric", "model", "PCA-4"]
    assert "evaluate:" not in done.stdout


def test_stage_progress_draws_a_bar_on_a_terminal(monkeypatch):
    from autoencoders.cli import StageProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    progress = StageProgress("evaluate", 3)
    for stage in ("encoding", "probe", "clustering"):
        progress(stage)
    progress.close()
    text = screen.getvalue()
    assert "\r" in text and "evaluate: clustering" in text and "stages" in text
    assert "clustering..." not in text, "no plain lines on a terminal"


def test_evaluate_codec_reports_every_stage_it_announces(digits_tensors):
    from autoencoders.codecs import PCACodec
    from autoencoders.evaluation.suite import EvalData, evaluate_codec, evaluation_stages

    x, y = digits_tensors[0].numpy(), digits_tensors[1].numpy()
    for labels in (y, np.full_like(y, -1)):
        data = EvalData(x[:600], labels[:600], x[600:900], labels[600:900], x[900:], labels[900:])
        seen: list[str] = []
        evaluate_codec(PCACodec(4).fit(data.x_train), data, progress=seen.append)
        assert len(seen) == evaluation_stages(data), seen


# ------------------------------------------------------------- a quiet fit()
QUIET_FIT = """
import numpy as np
from autoencoders import AutoencoderOutlierDetector, AutoencoderTransformer
X = np.random.default_rng(0).random((120, 6)).astype("float32")
AutoencoderTransformer(epochs=2).fit(X)
AutoencoderTransformer().fit(X[:60])  # early stopping: validation runs too
AutoencoderOutlierDetector(epochs=2).fit(X)
"""


def test_fit_from_python_writes_nothing(tmp_path):
    """No banners, tips or deprecation notes: as quiet as the CLI, unless verbose=True."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", QUIET_FIT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", (done.stdout, done.stderr)


def test_fit_restores_logging_and_warning_filters(capfd):
    from autoencoders import AutoencoderTransformer
    from autoencoders.quiet import LIGHTNING_LOGGERS

    before = {n: logging.getLogger(n).level for n in LIGHTNING_LOGGERS}
    filters = list(warnings.filters)
    X = np.random.default_rng(0).random((60, 6)).astype("float32")
    AutoencoderTransformer(epochs=1).fit(X)
    assert {n: logging.getLogger(n).level for n in LIGHTNING_LOGGERS} == before
    assert warnings.filters == filters
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)


# ----------------------------------------------------------- a seeded generate
def test_generate_gives_the_same_picture_twice(digits_ckpt, tmp_path):
    for name in ("a.png", "b.png"):
        done = run_cli("generate", str(digits_ckpt), "--n", "16", "--out", name, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    done = run_cli("generate", str(digits_ckpt), "--n", "16", "--out", "c.png", "--seed", "1",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.png").read_bytes() != (tmp_path / "a.png").read_bytes()


# ------------------------------------------------------- the explorer's legend
def test_explorer_legend_names_the_classes_of_an_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, brightness in (("cats", 60), ("dogs", 190)):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(rng.normal(brightness, 30, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pets" / label / f"{i}.png")
    done = run_cli(*TRAIN, "--dataset", "pets", "--model", "simple", "--latent-dim", "2",
                   "--output", "runs", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    done = run_cli("explore", str(ckpt), "--out", "pets.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "pets.html").read_text()
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page,
                      re.S)  # fmt: skip
    assert found is not None
    data = json.loads(found.group(1))
    assert data["class_names"] == ["cats", "dogs"]
    assert set(data["labels"]) <= {0, 1}
