"""Several processes through Lightning's DDP, on CPU (gloo), from the real command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from _support import run_cli

COMMON = ["train", "--model", "deep", "--dataset", "digits", "--latent-dim", "8",
          "--threads", "1", "--accelerator", "cpu"]  # fmt: skip


def autoencoders(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=600)  # two processes start: slower


def val_loss(stdout: str) -> float:
    (line,) = [ln for ln in stdout.splitlines() if "val loss" in ln]
    return float(line.split("val loss")[1].split()[0])


def test_two_cpu_processes_share_the_data_and_match_one_process(tmp_path):
    two = autoencoders(*COMMON, "--devices", "2", "--strategy", "ddp", "--batch-size", "32",
                       "--epochs", "12", "--output", "two", cwd=tmp_path)  # fmt: skip
    assert two.returncode == 0, two.stderr
    one = autoencoders(*COMMON, "--batch-size", "64", "--epochs", "12", "--output", "one",
                       cwd=tmp_path)  # fmt: skip
    assert one.returncode == 0, one.stderr

    ckpt = tmp_path / "two" / "digits" / "deep" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    shares = state["samples_per_process"]
    assert len(shares) == 2 and shares[0] == shares[1] > 0  # both took part, equally
    single = torch.load(
        tmp_path / "one" / "digits" / "deep" / "checkpoints" / "last.ckpt", weights_only=True
    )
    (alone,) = single["samples_per_process"]
    # each process takes an equal half: an odd sample out, and a share's lone last sample
    # left out (BatchNorm), cost at most three samples of the whole
    assert alone - 3 <= sum(shares) <= alone
    # same total batch, so as many steps, but for the one process's short last batch
    assert 0 <= single["global_step"] - state["global_step"] <= 12
    assert two.stdout.count("trained 12 epoch(s)") == 1  # one summary, from rank 0
    assert abs(val_loss(two.stdout) / val_loss(one.stdout) - 1) < 0.05

    # and a DDP run resumes under DDP
    more = autoencoders("train", "--resume", str(ckpt.parent.parent), "--epochs", "13",
                        cwd=tmp_path)  # fmt: skip
    assert more.returncode == 0, more.stderr
    assert torch.load(ckpt, weights_only=True)["epoch"] == 12
