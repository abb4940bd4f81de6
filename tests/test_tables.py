"""Tables as users have them, through the command line: scikit-learn's wine and breast-cancer
data written as CSV and Parquet, unscaled, with ``target`` as the label, the pandas index
column, no header row, class names as text, or no labels at all.

The commands run in subprocesses, as a user runs them; the reading rules (header, index
column, label column, row numbers, the stored scaling) are also checked in this process.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MinMaxScaler

from _support import run_cli
from autoencoders.checkpoint import load
from autoencoders.codecs import ModelCodec
from autoencoders.data import ArrayDataModule, DataError, load_dataset
from autoencoders.detector import AutoencoderOutlierDetector
from autoencoders.evaluation import per_sample_errors

#: a small model that learns these tables in seconds
MODEL = ["--model", "deep", "--latent-dim", "4", "--batch-size", "32", "--threads", "1"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    """The tables, written as users write them with pandas."""
    folder = tmp_path_factory.mktemp("tables")
    wine = load_wine(as_frame=True).frame
    wine.to_csv(folder / "wine.csv")  # the index becomes an unnamed first column
    names = np.asarray(load_wine().target_names)[wine["target"]]
    text = wine.drop(columns="target").assign(kind=names)
    text.to_csv(folder / "wine-names.csv", header=False, index=False)
    wine.drop(columns="target").to_csv(folder / "wine-unlabelled.csv", index=False)
    load_breast_cancer(as_frame=True).frame.to_parquet(folder / "cancer.parquet")
    digits = load_digits().data.astype(np.float32)  # values 0..16, unscaled
    np.save(folder / "digits64.npy", digits)
    return folder


def autoencoders(folder: Path, *args: str) -> tuple[str, str]:
    """Runs a command that must succeed; returns its stdout and stderr."""
    done = run_cli(*args, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout, done.stderr


def train(folder: Path, dataset: str, *extra: str) -> Path:
    """Trains on ``dataset``; returns the checkpoint, having checked the loss is positive."""
    out, _ = autoencoders(folder, "train", *MODEL, "--dataset", dataset, "--output", "runs", *extra)
    loss = float(re.search(r"train loss (\S+)", out).group(1))
    assert loss > 0, out  # BCE on [0, 1] data; negative before tables were scaled
    (checkpoint,) = (folder / "runs").glob(f"{dataset}-*/deep/checkpoints/last.ckpt")
    return checkpoint


@pytest.fixture(scope="module")
def wine_model(tables) -> Path:
    return train(tables, "wine.csv", "--epochs", "300")


def test_wine_evaluates_beside_pca_with_positive_losses(tables, wine_model):
    _, err = autoencoders(tables, "evaluate", str(wine_model), "--out", "wine.json")
    assert "dropped column 'Unnamed: 0'" in err and "labels from column 'target'" in err
    metrics = json.loads((tables / "wine.json").read_text())
    ours, pca = metrics["model"], metrics["pca"]
    assert not {"psnr", "ssim", "bce_per_image"} & set(ours)  # image metrics: not for tables
    assert ours["bce_per_sample"] > 0 and pca["bce_per_sample"] > 0
    assert 0 <= ours["sse_per_sample"] < 13  # 13 features in [0, 1]
    assert abs(ours["probe_accuracy"] - pca["probe_accuracy"]) <= 0.05, (ours, pca)


def test_embed_and_score_write_every_row_of_the_file(tables, wine_model):
    wine = load_wine()
    autoencoders(tables, "embed", str(wine_model), "--out", "codes.csv")
    autoencoders(tables, "score", str(wine_model), "--out", "scores.csv")
    codes = pd.read_csv(tables / "codes.csv")
    scores = pd.read_csv(tables / "scores.csv")
    assert len(codes) == len(scores) == 178
    assert list(codes.columns) == ["index", "z0", "z1", "z2", "z3", "label"]
    np.testing.assert_array_equal(codes["index"], np.arange(178))  # the file's row order
    np.testing.assert_array_equal(codes["label"], wine.target)
    joined = codes.merge(scores, on="index", suffixes=("", "_score"))
    assert len(joined) == 178 and (joined["label"] == joined["label_score"]).all()
    # the scores are those of the file's rows, scaled as in training
    x = MinMaxScaler(clip=True).fit(wine.data[_rows(tables, wine_model)]).transform(wine.data)
    codec = ModelCodec(load(wine_model))
    expected = per_sample_errors(x, codec.reconstruct(x.astype(np.float32)), kind="sse")
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-4, atol=1e-5)


def _rows(folder: Path, checkpoint: Path) -> np.ndarray:
    """The row numbers of a run's training split, as ``embed --split train`` writes them."""
    autoencoders(folder, "embed", str(checkpoint), "--split", "train", "--out", "train.csv",
                 "--overwrite")  # fmt: skip
    return pd.read_csv(folder / "train.csv")["index"].to_numpy()


def test_generate_writes_rows_in_the_tables_own_units(tables, wine_model):
    autoencoders(tables, "generate", str(wine_model), "--n", "5", "--out", "new.csv", "--seed", "0")
    rows = pd.read_csv(tables / "new.csv").to_numpy()
    data = load_wine().data[_rows(tables, wine_model)]
    assert rows.shape == (5, 13)
    assert (rows >= data.min(0) - 1e-6).all() and (rows <= data.max(0) + 1e-6).all()
    assert rows[:, 12].max() > 100  # proline, in hundreds as in the file, not in [0, 1]


def test_table_without_header_keeps_its_class_names(tables):
    checkpoint = train(tables, "wine-names.csv", "--epochs", "5")
    _, err = autoencoders(tables, "embed", str(checkpoint), "--out", "named.csv")
    assert "no header row" in err
    codes = pd.read_csv(tables / "named.csv")
    names = np.asarray(load_wine().target_names)[load_wine().target]
    assert len(codes) == 178  # the first row is data, not lost as a header
    np.testing.assert_array_equal(codes["label"], names)


@pytest.fixture(scope="module")
def digits_model(tables) -> Path:
    """A model of the unlabelled .npy of digits, values 0..16."""
    return train(tables, "digits64.npy", "--epochs", "5")


@pytest.mark.parametrize("dataset", ["wine-unlabelled.csv", "digits64.npy"])
def test_unlabelled_data_evaluates_without_label_metrics(tables, digits_model, dataset):
    checkpoint = (
        digits_model if dataset.endswith(".npy") else train(tables, dataset, "--epochs", "5")
    )
    out, _ = autoencoders(tables, "evaluate", str(checkpoint))
    assert "note: the data has no labels" in out and "probe_accuracy" not in out
    assert "sse_per_sample" in out


def test_unscaled_array_is_scaled_and_not_all_flagged(tables, digits_model):
    out, _ = autoencoders(tables, "score", str(digits_model), "--out", "digits.csv")
    flags = pd.read_csv(tables / "digits.csv")["flag"]
    assert len(flags) == 1797 and flags.mean() < 0.2, out  # 100% before the scaling


def test_cli_score_matches_the_outlier_detector_on_breast_cancer(tables):
    """Benign rows train, malignant ones are the outliers; both score recon-sse on the same
    rows, scaled alike (min-max fitted on the training rows, clipped)."""
    x, y = load_breast_cancer(return_X_y=True)
    checkpoint = train(tables, "cancer.parquet", "--only-class", "1", "--epochs", "100")
    autoencoders(tables, "score", str(checkpoint), "--out", "cancer.csv")
    scores = pd.read_csv(tables / "cancer.csv")
    np.testing.assert_array_equal(scores["index"], np.arange(len(x)))
    np.testing.assert_array_equal(scores["label"], y)
    trained = _rows(tables, checkpoint)
    assert set(y[trained]) == {1}
    held_out = np.setdiff1d(np.arange(len(x)), trained)
    outlier = y[held_out] == 0
    cli = roc_auc_score(outlier, scores["score"].to_numpy()[held_out])
    detector = AutoencoderOutlierDetector(
        "deep", latent_dim=4, epochs=100, batch_size=32, random_state=42
    ).fit(x[trained])
    ours = roc_auc_score(outlier, -detector.score_samples(x[held_out]))
    assert cli > 0.9 and abs(cli - ours) <= 0.01, (cli, ours)
    # the same scaling: the detector's, applied to the CLI's model, gives the CLI's scores
    codec = ModelCodec(load(checkpoint))
    unit = detector._model_input(x).astype(np.float32)
    expected = per_sample_errors(unit, codec.reconstruct(unit), kind="sse")
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-4, atol=1e-5)


def test_bce_on_unscaled_data_is_one_line_and_exit_2(tables):
    done = run_cli("train", *MODEL, "--dataset", "wine.csv", "--scale", "none", "--epochs", "1",
                   "--output", "refused", cwd=tables)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("autoencoders train: error: wine: values span")
    assert "needs [0, 1]" in last and "Traceback" not in done.stderr


# ------------------------------------------------------- reading, in this process
def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, rows, labels",
    [
        ("a,b,target\n1,2,0\n3,4,1\n", 2, [0, 1]),  # a header
        ("1,2,0\n3,4,1\n5,6,1\n", 3, None),  # numbers from the first row: no header
        ("1,2,cat\n3,4,dog\n5,6,cat\n", 3, ["cat", "dog", "cat"]),  # no header, class names
        ("x,y,Class\n1,2,cat\n3,4,dog\n", 2, ["cat", "dog"]),  # a header, any case
    ],
)
def test_header_and_label_column_are_recognised(tmp_path, text, rows, labels):
    data = load_dataset(_write(tmp_path / "t.csv", text))
    dm = ArrayDataModule(data, val_size=0)
    x, y, numbers = dm.rows("all")
    assert len(x) == rows and numbers.tolist() == list(range(rows))
    if labels is None:
        assert data.train_y is None
    else:
        names = [data.classes[i] for i in y] if data.classes else y.tolist()
        assert names == labels


def test_no_header_option_reads_the_first_row_as_data(tmp_path):
    path = _write(tmp_path / "t.csv", "1,2\n3,4\n5,6\n")
    assert len(ArrayDataModule(load_dataset(path, header=False)).rows("all")[0]) == 3


def test_an_index_column_is_dropped_only_when_it_numbers_the_rows(tmp_path):
    numbered = load_dataset(_write(tmp_path / "a.csv", ",f,g\n0,1,2\n1,3,4\n2,5,6\n"))
    assert numbered.sample_shape == (2,)
    other = load_dataset(_write(tmp_path / "b.csv", ",f,g\n7,1,2\n1,3,4\n2,5,6\n"))
    assert other.sample_shape == (3,)


def test_a_missing_label_column_is_one_line_naming_the_columns(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(
        DataError, match=r"no column 'kind' for --label-column \(columns: 'a', 'b'\)"
    ):
        load_dataset(path, label_column="kind")
    assert load_dataset(path, label_column="none").train_y is None


def test_the_scaler_is_fitted_on_training_rows_and_stored_as_plain_data(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n" + "".join(f"{i},{100 * i}\n" for i in range(20)))
    dm = ArrayDataModule(str(path), val_size=0.2)
    train_x, _ = dm.full_arrays("train")
    assert train_x.min() == 0 and train_x.max() == 1  # min-max over the training rows
    x, _ = dm.full_arrays("all")
    assert x.min() >= 0 and x.max() <= 1  # other rows clipped into [0, 1]
    torch.save(dm.state_dict(), tmp_path / "state.pt")
    stored = torch.load(tmp_path / "state.pt", weights_only=True)["data_scaler"]
    assert stored["kind"] == "minmax" and len(stored["min"]) == len(stored["max"]) == 2
    again = ArrayDataModule(str(path), val_size=0.2, scaler=stored)
    torch.testing.assert_close(again.full_arrays("all")[0], x)
