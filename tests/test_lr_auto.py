"""`--lr auto` / `lr="auto"`: Lightning's learning-rate finder chooses the rate, and it is kept."""

from __future__ import annotations

import json

import pytest
import torch

from _support import run_cli
from autoencoders.errors import ConfigError
from autoencoders.registry import make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training.job import train_run

PNG = b"\x89PNG\r\n\x1a\n"


def test_train_lr_auto_stores_the_chosen_rate_and_a_resume_keeps_it(tmp_path):
    common = ("--model", "deep", "--dataset", "digits", "--threads", "1", "--lr", "auto",
              "--output", "runs", "--no-progress")  # fmt: skip
    done = run_cli("train", *common, "--max-steps", "20", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "digits" / "deep"
    found = json.loads((run_dir / "run.json").read_text())["lr_found"]
    assert isinstance(found, float) and 1e-6 <= found <= 1
    assert f"learning rate    {found:.3g} (learning-rate finder; plot: " in done.stdout
    assert json.loads((run_dir / "config.json").read_text())["lr"] == found
    assert (run_dir / "lr_find.png").read_bytes().startswith(PNG)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["autoencoder_config"]["lr"] == found
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == found
    plot_time = (run_dir / "lr_find.png").stat().st_mtime_ns

    # the same command with --resume continues at the stored rate; no second search
    again = run_cli("train", *common, "--max-steps", "40", "--resume", str(run_dir), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 40
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == found
    assert (run_dir / "lr_find.png").stat().st_mtime_ns == plot_time
    assert json.loads((run_dir / "run.json").read_text())["lr_found"] == found


def test_lr_auto_in_python_replaces_auto_with_the_found_rate(tmp_path):
    run = TrainConfig(
        dataset="digits", max_steps=10, threads=1, progress=False, output=str(tmp_path)
    )
    result = train_run(run, make_config("simple", lr="auto"), tensorboard=False)
    assert result.lr is not None and result.lr.found
    assert result.model.cfg.lr == result.lr.lr > 0
    assert result.lr.plot == result.run_dir / "lr_find.png" and result.lr.plot.is_file()


def test_a_word_other_than_auto_is_refused():
    with pytest.raises(ConfigError, match=r"--lr must be a finite number > 0 or auto, got 'fast'"):
        make_config("deep", lr="fast").validate(input_shape_known=False)


def test_lr_auto_with_several_processes_is_refused_before_any_work(tmp_path, capsys):
    from autoencoders.cli import main

    code = main(["train", "--lr", "auto", "--devices", "2", "--output", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--lr auto runs the finder in one process" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
