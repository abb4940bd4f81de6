"""Training to convergence: early stopping on the validation loss, best weights restored, fixed epochs exact."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch

from _support import run_cli
from autoencoders.data.run_data import make_datamodule
from autoencoders.models import build_model, make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training import fit
from autoencoders.training.stopping import StopRule, epochs_per_check

_cli = run_cli


def _digits(batch_size: int = 128):
    dm = make_datamodule(TrainConfig(dataset="digits", batch_size=batch_size))
    dm.setup("fit")
    return dm


def _validation_loss(model, dm) -> float:
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    return float(trainer.validate(model, datamodule=dm, verbose=False)[0]["val/loss"])


def test_early_stopping_stops_a_stalled_run_and_restores_its_best_weights(tmp_path):
    """A learning rate far too high makes the validation loss stall and jump; training
    stops ``patience`` epochs after the best one and keeps that epoch's weights."""
    torch.manual_seed(0)
    dm = _digits()
    model = build_model(make_config("deep", latent_dim=4, input_shape=(1, 8, 8), lr=0.05))
    rule = StopRule(epochs=None, max_epochs=300, patience=3, min_steps=0)
    # one check per epoch, or per ~20 steps on a data set this small
    per_check = epochs_per_check(len(dm.train_dataloader()))
    result = fit(model, dm, rule, output_dir=tmp_path, logger=False, progress_bar=False)
    assert result.epochs < 300, "it must stop before the epoch limit"
    assert result.epochs - result.best_epoch == 3 * per_check
    assert result.stop_reason.startswith("stopped early: no improvement")
    assert result.checkpoint == tmp_path / "checkpoints" / "best.ckpt"
    best = float(result.stop_reason.split("best validation loss ")[1].split()[0])
    restored = _validation_loss(model, dm)
    assert restored == pytest.approx(best, rel=1e-3)
    assert restored < result.metrics["val/loss"], "the last epoch was worse than the best one"
    # best.ckpt holds the same weights as the model now
    stored = torch.load(result.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(stored[key], value.cpu())


def test_min_steps_keeps_a_small_data_set_training(tmp_path):
    dm = _digits(batch_size=256)
    model = build_model(make_config("simple", latent_dim=4, input_shape=(1, 8, 8), lr=1e-9))
    # a vanishing learning rate: the validation loss never improves by min_delta after the
    # first check, so without min_steps the run would end at the second check
    rule = StopRule(epochs=None, max_epochs=100, patience=1, min_delta=1e-3, min_steps=100)
    result = fit(model, dm, rule, output_dir=tmp_path, logger=False, progress_bar=False)
    steps_per_epoch = math.ceil(len(dm.full_arrays("train")[0]) / 256)
    per_check = epochs_per_check(steps_per_epoch)
    assert 2 * per_check * steps_per_epoch < 100
    assert result.epochs * steps_per_epoch >= 100, "it trained at least min_steps"
    assert result.epochs <= math.ceil(100 / steps_per_epoch) + per_check, "and stopped soon after"
    assert result.stop_reason.startswith("stopped early")


def test_fixed_epochs_train_exactly_that_many_from_the_cli(tmp_path):
    done = _cli("train", "--model", "simple", "--dataset", "digits", "--latent-dim", "4",
                "--epochs", "4", "--output", str(tmp_path / "run"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "trained 4 epoch(s)" in done.stdout and "trained the fixed --epochs 4" in done.stdout
    folder = tmp_path / "run" / "digits" / "simple" / "checkpoints"
    ckpt = torch.load(folder / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 3  # Lightning counts from 0: the fourth epoch
    assert not (folder / "best.ckpt").exists()


def test_default_training_beats_pca_on_digits(tmp_path):
    """No --epochs: the deep model trains until it converges, and reconstructs the test
    images better (summed BCE) than PCA with as many components as its code."""
    run = tmp_path / "deep"
    # latent 10, as in `make demo`; at 20 codes PCA keeps 1% lower BCE on 64-pixel digits
    done = _cli("train", "--model", "deep", "--dataset", "digits", "--latent-dim", "10",
                "--output", str(run), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stopped early" in done.stdout or "reached --max-epochs" in done.stdout
    metrics = tmp_path / "metrics.json"
    done = _cli("evaluate", str(run / "digits" / "deep" / "checkpoints" / "best.ckpt"), "--dataset", "digits",
                "--out", str(metrics), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    scores = json.loads(metrics.read_text())
    assert scores["model"]["latent_dim"] == scores["pca"]["latent_dim"]
    assert scores["model"]["bce_per_image"] < scores["pca"]["bce_per_image"]


def test_resumed_early_stopping_run_keeps_its_best_epoch(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--model", "simple", "--dataset", "digits", "--latent-dim", "4",
            "--min-steps", "0", "--patience", "2", "--output", str(run)]  # fmt: skip
    first = _cli(*args, "--max-epochs", "3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "reached --max-epochs 3" in first.stdout
    folder = run / "digits" / "simple"
    again = _cli("train", "--resume", str(folder), "--max-epochs", "6", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "trained 6 epoch(s)" in again.stdout or "stopped early" in again.stdout
    state = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    stopper = next(v for k, v in state["callbacks"].items() if k.startswith("BestWeights"))
    # the kept best is the lowest validation loss of both sessions, in the session it came from
    first_losses, later_losses = _validation_losses(folder, session_files=2)
    best = float(stopper["best_score"])
    assert best == pytest.approx(min(first_losses + later_losses), rel=1e-6)
    if any(math.isclose(best, v, rel_tol=1e-6) for v in first_losses):
        assert 1 <= stopper["best_epoch"] <= 3
    else:
        assert 3 < stopper["best_epoch"] <= 6


def _validation_losses(folder, session_files: int) -> list[list[float]]:
    """``val/loss`` values of each TensorBoard event file under ``folder``, oldest first."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(folder.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    assert len(files) == session_files, files
    out = []
    for path in files:
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        out.append([e.value for e in acc.Scalars("val/loss")] if "val/loss" in tags else [])
    return out
