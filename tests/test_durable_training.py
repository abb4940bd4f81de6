"""Durable training through the real command line: checkpoints, resume, signals, NaN stops."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from _support import run_cli
from autoencoders.checkpoint import load, read_checkpoint
from autoencoders.errors import NonFiniteLoss, RunFolderError
from autoencoders.models import build_model, make_config
from autoencoders.training import checkpoints
from autoencoders.training.checkpoints import AtomicCheckpointIO

# deep model on digits, small batches: ~170 optimizer steps per epoch (a few seconds of
# training, so a signal lands mid-run), four per group
TRAIN = ["train", "--model", "deep", "--dataset", "digits", "--batch-size", "8",
         "--latent-dim", "6", "--threads", "1", "--steps-per-call", "4",
         "--checkpoint-seconds", "0"]  # fmt: skip  # every epoch saved, so a kill lands between


def cli(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "autoencoders.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(ckpt)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6, msg=k)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def saved_epoch(ckpt: Path) -> int:
    """Epochs finished in ``ckpt`` (-1 while there is none or it is mid-epoch)."""
    if not ckpt.is_file():
        return -1
    state = read_checkpoint(ckpt)
    return int(state["epoch"]) if state["loops"]["fit_loop"]["epoch_loop.state_dict"] else -1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: the same run, never stopped."""
    out = tmp_path_factory.mktemp("whole")
    done = run_cli(*TRAIN, "--epochs", "8", "--output", str(out), cwd=out)
    assert done.returncode == 0, done.stderr
    return out / "digits" / "deep" / "checkpoints" / "last.ckpt"


def test_sigkill_after_second_epoch_then_resume_gives_the_same_weights(tmp_path, uninterrupted):
    ckpt = tmp_path / "digits" / "deep" / "checkpoints" / "last.ckpt"
    proc = cli(*TRAIN, "--epochs", "8", "--output", str(tmp_path), cwd=tmp_path)
    wait_for(lambda: ckpt.is_file() and read_checkpoint(ckpt)["epoch"] >= 1, proc)
    proc.kill()
    proc.wait()
    killed_at = read_checkpoint(ckpt)
    assert 1 <= killed_at["epoch"] < 7, "the run should be killed before it finished"
    assert (tmp_path / "digits" / "deep" / "config.json").is_file()

    done = run_cli("train", "--resume", str(tmp_path / "digits" / "deep"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert read_checkpoint(ckpt)["epoch"] == 7
    assert_same_weights(ckpt, uninterrupted)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_saves_then_exits_with_a_resume_hint(tmp_path, uninterrupted, signum):
    run_dir = tmp_path / "digits" / "deep"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    proc = cli(*TRAIN, "--epochs", "8", "--output", str(tmp_path), cwd=tmp_path)
    wait_for(ckpt.is_file, proc)  # training is under way
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and f"--resume {run_dir}" in err
    stopped = read_checkpoint(ckpt)
    assert stopped["global_step"] > 0 and stopped["epoch"] < 7
    # The checkpoint is taken after a group of steps, mid-epoch as often as not:
    # resuming from it must still end where the uninterrupted run ends.
    done = run_cli("train", "--resume", str(ckpt), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_same_weights(ckpt, uninterrupted)


def test_an_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    model = build_model(make_config("simple", input_shape=(1, 8, 8), latent_dim=3))
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    good = {"state_dict": model.state_dict(), "autoencoder_config": model.config}
    io.save_checkpoint(good, path)

    def fail_after_half(fd: int) -> None:  # the disk fills up while the file is written
        os.ftruncate(fd, 20)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail_after_half)
    changed = {**good, "state_dict": {k: v + 1 for k, v in good["state_dict"].items()}}
    with pytest.raises(RunFolderError, match=r"last\.ckpt: no space left on device \(it needs"):
        io.save_checkpoint(changed, path)
    monkeypatch.undo()
    again = load(path)
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_loss_that_turns_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    import lightning as L

    from autoencoders.data import ArrayDataModule
    from autoencoders.training import fit

    class PoisonWeights(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 2:
                with torch.no_grad():
                    next(module.parameters()).fill_(float("nan"))

    dm = ArrayDataModule("digits", batch_size=64)
    dm.setup("fit")
    model = build_model(make_config("deep", input_shape=dm.sample_shape, latent_dim=4))
    clock = itertools.count(0.0, 1000.0)  # epochs far apart: each one's save is due
    with pytest.raises(NonFiniteLoss) as caught, pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoints, "time", SimpleNamespace(monotonic=lambda: next(clock)))
        fit(model, dm, 5, output_dir=tmp_path, logger=False, progress_bar=False,
            callbacks=[PoisonWeights()])  # fmt: skip
    message = str(caught.value)
    assert "nan" in message and "epoch 3" in message and "--lr" in message
    assert str(tmp_path / "checkpoints" / "last.ckpt") in message
    kept = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert kept["epoch"] == 1  # the second epoch, the last that finished
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values())


def test_nan_loss_from_the_cli_is_one_line_and_non_zero(tmp_path):
    import numpy as np

    # finite data whose squares overflow (unscaled: tables are otherwise scaled into [0, 1])
    x = np.random.default_rng(0).random((200, 20)) * 1e30
    np.savetxt(tmp_path / "huge.csv", x, delimiter=",")
    done = run_cli("train", "--model", "deep", "--dataset", "huge.csv", "--epochs", "2",
                   "--recon-loss", "mse", "--output-activation", "identity", "--threads", "1",
                   "--latent-dim", "4", "--scale", "none",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("autoencoders train: training loss became inf by step 1"), last
    assert "--lr" in last


def test_config_json_rebuilds_the_trained_model(tmp_path):
    done = run_cli(*TRAIN, "--epochs", "1", "--output", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "digits" / "deep"
    rebuilt = build_model(json.loads((run_dir / "config.json").read_text()))
    trained = load(run_dir / "checkpoints" / "last.ckpt")
    assert rebuilt.config == trained.config
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes


def count_saves(mp: pytest.MonkeyPatch, saved: list[int]) -> None:
    """Appends the step of every checkpoint written to ``saved`` (the file is still written)."""
    real = AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        saved.append(checkpoint["global_step"])
        real(self, checkpoint, path, storage_options)

    mp.setattr(AtomicCheckpointIO, "save_checkpoint", spy)


def test_checkpoints_every_n_steps_inside_an_epoch(tmp_path):
    from autoencoders.data.run_data import make_datamodule
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run

    run = TrainConfig(dataset="digits", epochs=1, batch_size=32, steps_per_call=1,
                      checkpoint_every=10, output=str(tmp_path))  # fmt: skip
    saved: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        count_saves(mp, saved)
        train_run(run, make_config("simple", latent_dim=4), progress_bar=False, tensorboard=False)
    steps = len(make_datamodule(run).train_dataloader())
    assert steps > 40
    # every 10 steps inside the epoch, then at its end
    assert saved == [*range(10, steps, 10), steps]


def test_epochs_of_milliseconds_are_not_each_saved(tmp_path):
    from autoencoders.data.run_data import make_datamodule
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run
    from autoencoders.training.stopping import epochs_per_check

    run = TrainConfig(dataset="digits", epochs=12, batch_size=256, output=str(tmp_path))
    saved: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        count_saves(mp, saved)
        # a clock that stands still: every epoch ends within the least gap between saves
        mp.setattr(checkpoints, "time", SimpleNamespace(monotonic=lambda: 1000.0))
        train_run(run, make_config("simple", latent_dim=4), progress_bar=False, tensorboard=False)
    steps = len(make_datamodule(run).train_dataloader())
    checks = list(range(epochs_per_check(steps), 13, epochs_per_check(steps)))
    assert len(checks) > 2  # a save per check would be more than two
    # the first check's save, then only the last epoch's
    assert saved == [checks[0] * steps, 12 * steps]


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(tmp_path):
    import lightning as L

    from autoencoders.data import ArrayDataModule
    from autoencoders.errors import TrainingStopped
    from autoencoders.training import fit

    class TwoCtrlC(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            # ours, not Lightning's SIGTERM handler (which exits 0 without a checkpoint)
            for s in (signal.SIGINT, signal.SIGTERM):
                assert signal.getsignal(s) == trainer.checkpoint_callback.on_signal
            if trainer.current_epoch == 1 and batch_idx == 1:
                signal.raise_signal(signal.SIGINT)  # asks for a save after this step
                signal.raise_signal(signal.SIGINT)  # ...but a second one will not wait

    dm = ArrayDataModule("digits", batch_size=32)
    dm.setup("fit")
    model = build_model(make_config("simple", input_shape=dm.sample_shape, latent_dim=4))
    model.steps_per_call = 2
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingStopped, match="at once") as caught:
        fit(model, dm, 4, output_dir=tmp_path, logger=False, progress_bar=False,
            callbacks=[TwoCtrlC()])  # fmt: skip
    assert caught.value.exit_code == 128 + signal.SIGINT
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 0  # epoch 1's
    assert signal.getsignal(signal.SIGINT) is before  # our handler is gone again
