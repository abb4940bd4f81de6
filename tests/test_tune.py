"""`autoencoders tune`: an Optuna study in SQLite whose trials are run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from _support import run_cli
from autoencoders.cli import main
from autoencoders.errors import UsageError
from autoencoders.registry import variant
from autoencoders.training.search_space import build_space

optuna = pytest.importorskip("optuna")

TINY = ("--model", "simple", "--dataset", "digits", "--threads", "1")


def trials_of(storage: str, name: str = "simple-digits"):
    return optuna.load_study(study_name=name, storage=storage).trials


def test_two_calls_add_up_to_five_trials_and_the_best_config_trains(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = (*TINY, "--max-steps", "20", "--storage", storage, "--out", "tune")
    first = run_cli("tune", *args, "--trials", "3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(trials_of(storage)) == 3
    second = run_cli("tune", *args, "--trials", "2", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "3 trial(s) so far" in second.stdout
    trials = trials_of(storage)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state.is_finished() for t in trials)
    # the second call drew values of its own, not the first call's again
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 5
    for t in trials:  # every trial is a normal run folder
        run_dir = tmp_path / t.user_attrs["run_dir"]
        assert (run_dir / "config.json").is_file() and (run_dir / "run.json").is_file()
    page = (tmp_path / "tune" / "study.html").read_text()
    assert "Optimisation history" in page and "data:image/png;base64," in page
    assert page.count("<tr>") == 1 + 5

    study = optuna.load_study(study_name="simple-digits", storage=storage)
    best = yaml.safe_load((tmp_path / "tune" / "best.yaml").read_text())
    assert best == {"model": "simple", "dataset": "digits", "max_steps": 20, "threads": 1,
                    **study.best_params}  # fmt: skip
    trained = run_cli("train", "--config", "tune/best.yaml", "--output", "runs", "--no-progress",
                      cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    config = json.loads((tmp_path / "runs" / "digits" / "simple" / "config.json").read_text())
    assert config["lr"] == pytest.approx(study.best_params["lr"])
    ckpt = torch.load(tmp_path / "runs/digits/simple/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 20


def test_a_tune_stopped_by_sigint_continues_its_trial_on_the_next_call(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = (*TINY, "--max-steps", "600", "--storage", storage, "--out", "tune", "--trials", "1")
    argv = [sys.executable, "-m", "autoencoders.cli", "tune", *args]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    first_checkpoint = tmp_path / "tune" / "trial-0000" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not first_checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # mid-trial: it has saved once and trains on
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "run the same tune command to continue the interrupted trial" in err
    (stopped,) = trials_of(storage)
    assert stopped.state == optuna.trial.TrialState.FAIL and stopped.user_attrs["interrupted"]
    step = torch.load(first_checkpoint, weights_only=True)["global_step"]
    assert 0 < step < 600

    again = run_cli("tune", *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "trial 1: continues interrupted trial 0" in again.stdout
    stopped, continued = trials_of(storage)
    assert continued.state == optuna.trial.TrialState.COMPLETE
    assert continued.user_attrs["continues"] == 0 and continued.params == stopped.params
    assert continued.user_attrs["run_dir"] == stopped.user_attrs["run_dir"]
    # the same run folder, trained on from its checkpoint up to the trial's budget
    assert torch.load(first_checkpoint, weights_only=True)["global_step"] == 600
    assert not (tmp_path / "tune" / "trial-0001").exists()


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("learning_rate: {low: 0.001, high: 0.01}", "unknown option 'learning_rate'"),
        ("lr: {low: 0.01, high: 0.001}", "lr: empty range (low 0.01 > high 0.001)"),
        ("batch_size: []", "batch_size: an empty list of values"),
    ],
)
def test_a_bad_search_space_file_stops_before_any_trial(space, message, tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_text(space + "\n")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    code = main(["tune", *TINY, "--space", str(path), "--storage", storage,
                 "--out", str(tmp_path / "tune")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "tune").exists() and not (tmp_path / "study.db").exists()


def test_a_storage_that_cannot_be_opened_stops_before_any_trial(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    storage = f"sqlite:///{tmp_path / 'a-file' / 'study.db'}"
    code = main(["tune", *TINY, "--storage", storage, "--out", str(tmp_path / "tune")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"--storage {storage}: cannot open this study database" in err
    assert not (tmp_path / "tune").exists()


def test_the_space_comes_from_declared_ranges_and_a_file_changes_it():
    cls = variant("deep").config_cls
    defaults = {"lr": 1e-3, "batch_size": 256, "num_layers": 3, "noise_ratio": 0.0}
    space = build_space(cls, defaults)
    assert [d.describe() for d in space.dimensions] == [
        "lr in [0.0001, 0.01] (log)",  # > 0 declared: a tenth to ten times the default
        "batch_size in [64, 1024] (log)",  # >= 1 declared: a quarter to four times
    ]
    spec = {"batch_size": None, "num_layers": {}, "noise": ["gaussian", "masking"],
            "noise_ratio": {}, "latent_dim": 8}  # fmt: skip
    space = build_space(cls, defaults, spec)
    assert [d.describe() for d in space.dimensions] == [
        "lr in [0.0001, 0.01] (log)",
        "num_layers in [1, 12] (log)",
        "noise one of (gaussian, masking)",
        "noise_ratio in [0, 1]",  # closed declared range: taken as it is
    ]
    assert space.fixed == {"run": {}, "model": {"latent_dim": 8}}
    with pytest.raises(UsageError, match="weight_decay has no closed range"):
        build_space(cls, {**defaults, "weight_decay": 0.0}, {"weight_decay": {}})
    # with --lr auto, every trial's learning-rate finder chooses the rate
    assert [d.name for d in build_space(cls, {**defaults, "lr": "auto"}).dimensions] == [
        "batch_size"
    ]
