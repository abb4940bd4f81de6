"""``autoencoders score``: anomaly scores of a data set from a checkpoint, run as a user runs it.

The must-show cases (a memory-mapped file larger than a batch, the default
threshold, bad input) run the real command in a subprocess; the other cases go
through the same entry point, ``cli.main``, in this process, since each
subprocess pays torch's and Lightning's import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from _support import run_cli
from autoencoders.anomaly import checkpoints as scoring
from autoencoders.anomaly import ensemble_scores, make_score
from autoencoders.checkpoint import load
from autoencoders.cli import main
from autoencoders.cli import score as score_command
from autoencoders.codecs import ModelCodec
from autoencoders.evaluation import per_sample_errors

TRAIN = ["train", "--model", "simple", "--dataset", "digits", "--epochs", "20", "--batch-size",
         "64", "--latent-dim", "8", "--threads", "1"]  # fmt: skip


autoencoders = run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A checkpoint of a simple model trained on digits (8x8 images in [0, 1])."""
    out = tmp_path_factory.mktemp("trained")
    assert main([*TRAIN, "--output", str(out)]) == 0
    return out / "digits" / "simple" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def digits_npy(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """300 digits then 100 inverted ones (1 - x), as (N, 8, 8) float32 in an .npy file."""
    x = (load_digits().data[:300] / 16.0).astype(np.float32).reshape(-1, 8, 8)
    x = np.concatenate([x, 1.0 - x[:100]])
    path = tmp_path_factory.mktemp("data") / "digits.npy"
    np.save(path, x)
    return path, x


def _expected_sse(checkpoint: Path, x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), 1, 8, 8)
    return per_sample_errors(x, ModelCodec(load(checkpoint)).reconstruct(x), kind="sse")


def test_npy_larger_than_a_batch_round_trips(trained, digits_npy, tmp_path):
    path, x = digits_npy
    out = tmp_path / "scores.npy"
    done = autoencoders("score", str(trained), "--dataset", str(path), "--out", str(out),
                        "--batch-size", "64", "--threshold", "3.5", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = np.load(out)
    assert table.shape == (400, 2)
    np.testing.assert_allclose(table[:, 0], _expected_sse(trained, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(table[:, 1], table[:, 0] > 3.5)
    assert "scored 400 samples" in done.stdout and "threshold 3.5 (given)" in done.stdout


def test_npy_is_memory_mapped_not_read_whole(trained, digits_npy):
    args = argparse.Namespace(dataset=str(digits_npy[0]), data_dir=None)
    samples = score_command.open_samples(args, (1, 8, 8), {"model": "simple"}, trained)
    assert isinstance(samples.values, np.memmap)
    assert [len(b) for b in samples.batches(128)] == [128, 128, 128, 16]


def test_default_threshold_is_a_quantile_of_the_runs_held_out_scores(trained, digits_npy, tmp_path):
    out = tmp_path / "scores.csv"
    done = autoencoders("score", str(trained), "--dataset", str(digits_npy[0]), "--out", str(out),
                        cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0.99 quantile of" in done.stdout and "held-out scores of digits" in done.stdout
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    assert out.read_text().splitlines()[0] == "index,score,flag"
    np.testing.assert_array_equal(rows[:, 0], np.arange(400))
    flags = rows[:, 2].astype(bool)
    assert flags[300:].mean() > 0.9  # the inverted digits
    assert flags[:300].mean() < 0.1  # digits: about 1% by the 0.99 quantile


@pytest.mark.parametrize("score", ["combined", "feature"])
def test_fitted_scores_use_the_runs_training_data(trained, digits_npy, tmp_path, score):
    out = tmp_path / "scores.npy"
    assert main(["score", str(trained), "--dataset", str(digits_npy[0]), "--out", str(out),
                 "--score", score, "--contamination", "0.25"]) == 0  # fmt: skip
    flags = np.load(out)[:, 1].astype(bool)
    assert abs(int(flags.sum()) - 100) <= 1  # the top quarter of 400
    assert flags[300:].mean() > 0.9, score  # and they are the inverted digits


def test_named_data_set_scores_all_its_rows_or_a_split(trained, tmp_path):
    out = tmp_path / "scores.npy"
    assert main(["score", str(trained), "--dataset", "digits", "--out", str(out),
                 "--threshold", "100"]) == 0  # fmt: skip
    assert np.load(out).shape == (1797, 2)  # every row, by default
    assert main(["score", str(trained), "--dataset", "digits", "--out", str(out), "--overwrite",
                 "--threshold", "100", "--split", "test"]) == 0  # fmt: skip
    assert np.load(out).shape == (300, 2)  # digits' test split


@pytest.fixture(scope="module")
def trained_deep(tmp_path_factory) -> Path:
    """A second model of the same digits: deep, another seed."""
    out = tmp_path_factory.mktemp("trained-deep")
    args = [*TRAIN, "--seed", "7", "--output", str(out)]
    args[args.index("simple")] = "deep"
    assert main(args) == 0
    return out / "digits" / "deep" / "checkpoints" / "last.ckpt"


def test_several_checkpoints_score_as_an_ensemble(trained, trained_deep, digits_npy, tmp_path):
    path, x = digits_npy
    out = tmp_path / "scores.npy"
    done = autoencoders("score", str(trained), str(trained_deep), "--dataset", str(path),
                        "--out", str(out), "--score", "combined", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "with an ensemble of 2 models' combined" in done.stdout
    assert "0.99 quantile of" in done.stdout and "held-out scores of digits" in done.stdout
    table = np.load(out)
    # by hand: each member's combined score, standardised on its scores of the
    # held-out digits (each run's validation split), then averaged
    args = argparse.Namespace(reference=None, data_dir=None)
    normal, scores = [], []
    for ckpt in (trained, trained_deep):
        codec = ModelCodec(load(ckpt))
        ref = score_command.reference_data(args, codec.model.config, (1, 8, 8), ckpt)
        scorer = make_score("combined").fit(codec, ref.train, ref.held_out)
        normal.append(scorer.score(codec, ref.held_out))
        scores.append(scorer.score(codec, x.reshape(-1, 1, 8, 8)))
    np.testing.assert_allclose(table[:, 0], ensemble_scores(normal, scores), rtol=1e-4, atol=1e-4)
    flags = table[:, 1].astype(bool)
    assert flags[300:].mean() > 0.9 and flags[:300].mean() < 0.1


def test_an_ensemble_of_models_of_different_shapes_is_refused(trained, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.random.default_rng(0).random((64, 10), dtype=np.float32))
    assert main(["train", "--model", "simple", "--dataset", str(tmp_path / "wide.npy"), "--epochs",
                 "1", "--latent-dim", "2", "--output", str(tmp_path / "runs")]) == 0  # fmt: skip
    (wide,) = (tmp_path / "runs").glob("*/simple/checkpoints/last.ckpt")
    capsys.readouterr()
    assert main(["score", str(trained), str(wide), "--dataset", "digits",
                 "--out", str(tmp_path / "s.csv")]) == 2  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "takes samples of shape (10,) but" in lines[0], lines
    assert "the models of an ensemble must take the same samples" in lines[0]
    assert not (tmp_path / "s.csv").exists()


def _bad_shape(folder: Path) -> list[str]:
    np.save(folder / "wide.npy", np.zeros((20, 10), np.float32))
    return ["--dataset", "wide.npy"]


def _wide_reference(folder: Path) -> list[str]:
    _bad_shape(folder)
    return ["--dataset", "digits", "--reference", "wide.npy"]


def _nan_late(folder: Path) -> list[str]:
    x = np.full((200, 8, 8), 0.5, np.float32)
    x[150, 2, 3] = np.nan
    np.save(folder / "nan.npy", x)
    return ["--dataset", "nan.npy", "--batch-size", "64"]


def _existing_out(folder: Path) -> list[str]:
    (folder / "scores.csv").write_text("earlier results\n")
    return ["--dataset", "digits"]


def test_nan_after_the_first_batch_is_one_line_and_exit_2(trained, tmp_path):
    args = _nan_late(tmp_path)
    done = autoencoders("score", str(trained), "--out", "scores.csv", *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "autoencoders score: error: nan.npy: sample 150 holds nan at position 19; replace "
        "non-finite values or drop those samples"
    )
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (_bad_shape, r"takes samples of shape \(1, 8, 8\) but wide.npy has \(10,\)"),
        (lambda f: ["--dataset", "missing.npy"], r"file not found: missing.npy"),
        (_existing_out, r"--out scores.csv exists; pass --overwrite"),
        (lambda f: ["--dataset", "digits", "--contamination", "1.5"], r"--contamination must"),
        (lambda f: ["--dataset", "digits", "--score", "lof"], r"unknown --score 'lof'"),
        (_wide_reference, r"the reference data wide.npy has \(10,\)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    trained, tmp_path, monkeypatch, capsys, make_args, message
):
    import re

    monkeypatch.chdir(tmp_path)
    args = make_args(tmp_path)
    out = "scores.csv"
    before = (tmp_path / out).read_text() if (tmp_path / out).exists() else None
    assert main(["score", str(trained), "--out", out, *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), lines
    after = (tmp_path / out).read_text() if (tmp_path / out).exists() else None
    assert after == before  # nothing written, nothing replaced


def test_missing_checkpoint_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["score", "nope.ckpt", "--dataset", "digits", "--out", "s.csv"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint at nope.ckpt" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_is_one_line_exit_130_and_writes_nothing(trained, tmp_path, monkeypatch, capsys):
    def interrupted(self, x):  # Ctrl-C while the batches are being scored
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring.Ensemble, "score", interrupted)
    out = tmp_path / "scores.csv"
    assert main(["score", str(trained), "--dataset", "digits", "--out", str(out),
                 "--threshold", "1"]) == 130  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err == "autoencoders score: interrupted; files not yet finished were not written"
    assert not out.exists()
