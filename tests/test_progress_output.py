"""Training progress on stderr: a bar on a terminal, one plain line per epoch in a log."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import lightning as L
import pytest
import torch

from _support import run_cli
from autoencoders.data.run_data import make_datamodule
from autoencoders.models import build_model, make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training.progress import ProgressLines, RunProgressBar, run_progress

TRAIN = ("train", "--model", "simple", "--dataset", "digits", "--epochs", "3", "--latent-dim", "4",
         "--threads", "1", "--output", "runs")  # fmt: skip
#: a line as ProgressLines writes it: "epoch 2/3: train loss 42.55, 0.1 s"
LINE = re.compile(r"epoch (\d+)/3: train loss [\d.]+(, val loss [\d.]+)?, [\d.]+ s")


def test_a_captured_stderr_gets_one_short_line_per_epoch_and_no_redraws(tmp_path):
    done = run_cli(*TRAIN, cwd=tmp_path)  # stderr is a pipe, as in a log file
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert len(done.stderr.encode()) < 1024, done.stderr  # the bar once wrote 357 KB
    lines = done.stderr.splitlines()
    matches = [LINE.fullmatch(line) for line in lines]
    assert all(matches), done.stderr
    assert [int(m.group(1)) for m in matches] == [1, 2, 3], done.stderr
    assert "val loss" in lines[-1], "the last epoch validates, so its line has the val loss"


def test_no_progress_writes_no_progress_at_all(tmp_path):
    done = run_cli(*TRAIN, "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch" not in done.stderr and "\r" not in done.stderr, done.stderr
    assert "checkpoint" in done.stdout, "the summary still comes"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as on Linux")
def test_a_terminal_still_gets_the_redrawn_bar(tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "autoencoders.cli", *TRAIN],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=follower,
    ) as proc:  # fmt: skip
        os.close(follower)
        chunks = []
        while True:  # read as it comes: a full pseudo-terminal would block the child
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child has closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert proc.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    # the terminal turns "\n" into "\r\n"; a redraw is a "\r" that no "\n" follows
    assert re.search(r"\r(?!\n)", text), text
    assert "epoch 3/3" in text and "%|" in text, text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_display_follows_the_stream():
    assert isinstance(run_progress(stream=_Tty()), RunProgressBar)
    assert isinstance(run_progress(stream=io.StringIO()), ProgressLines)


def test_short_epochs_share_lines_after_the_first_ones_and_the_last_keeps_its_own(tmp_path):
    torch.manual_seed(0)
    dm = make_datamodule(TrainConfig(dataset="digits", batch_size=256))
    dm.setup("fit")
    model = build_model(make_config("simple", latent_dim=4, input_shape=(1, 8, 8)))
    out = io.StringIO()
    lines = ProgressLines(out, first_lines=2, min_gap_s=3600)  # later epochs: always "short"
    trainer = L.Trainer(
        max_epochs=6, logger=False, enable_checkpointing=False, enable_model_summary=False,
        callbacks=[lines], default_root_dir=tmp_path, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    written = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in written] == ["epoch 1/6", "epoch 2/6", "epoch 6/6"]


def test_a_long_epoch_gets_lines_of_its_own_along_the_way(tmp_path):
    dm = make_datamodule(TrainConfig(dataset="digits", batch_size=256))
    dm.setup("fit")
    model = build_model(make_config("simple", latent_dim=4, input_shape=(1, 8, 8)))
    model.steps_per_call = 1  # one Lightning batch per optimizer step: 6 batches an epoch
    out = io.StringIO()
    lines = ProgressLines(out, within_epoch_s=0)  # every epoch counts as long
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
        callbacks=[lines], default_root_dir=tmp_path, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    written = out.getvalue().splitlines()
    assert len(written) > 2 and all(re.match(r"epoch 1/1, \d+%: ", w) for w in written[:-1])
    assert written[-1].startswith("epoch 1/1: train loss "), written
