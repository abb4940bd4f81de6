"""`train --logger`: TensorBoard, CSV and MLflow, with MLflow read back by its own client."""

from __future__ import annotations

import csv

import pytest

from _support import run_cli
from autoencoders.cli import main

pytest.importorskip("mlflow")


def test_mlflow_csv_and_tensorboard_runs_are_read_back(tmp_path):
    done = run_cli(
        "train", "--model", "deep", "--dataset", "digits", "--max-steps", "20", "--threads", "1",
        "--logger", "tensorboard,csv,mlflow", "--output", "runs", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "digits" / "deep"
    assert "mlflow ui --backend-store-uri sqlite:///" in done.stdout
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    val_losses = [float(row["val/loss"]) for row in rows if row.get("val/loss")]
    assert val_losses

    from mlflow.tracking import MlflowClient

    # the default store: one SQLite database for every run of the --output folder
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "deep" and run.data.params["max_steps"] == "20"
    assert float(run.data.params["lr"]) == pytest.approx(1e-3)
    history = client.get_metric_history(run.info.run_id, "val/loss")
    assert history and history[-1].value == pytest.approx(val_losses[-1], rel=1e-4)
    assert "train/loss_epoch" in run.data.metrics
    # the validation reconstructions (per step) and the final picture, as artifacts
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"images", "reconstructions.png"} <= files
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert any("val_reconstructions" in p and p.endswith(".png") for p in images)


def test_an_unknown_logger_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["train", "--logger", "tensorboard,wandb", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "autoencoders train: error: --logger wandb: unknown logger; give one or more of "
        "tensorboard, csv, mlflow"
    )
    assert not any(tmp_path.iterdir())


def test_an_mlflow_store_that_cannot_be_opened_stops_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    code = main(
        ["train", "--logger", "mlflow", "--mlflow-uri", uri, "--output", str(tmp_path / "runs")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"--mlflow-uri {uri}: cannot open this MLflow store" in err
    assert not (tmp_path / "runs").exists()
