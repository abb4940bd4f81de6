"""Every mistake a user can make on the command line ends in one line and exit code 2.

Each case runs the real ``autoencoders`` command in a fresh folder and checks
that it names the problem, shows no traceback, and writes nothing outside the
run folder (earlier files stay as they were).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from _support import run_cli

TRAIN = ["train", "--dataset", "digits", "--epochs", "1", "--batch-size", "64", "--threads", "1"]


autoencoders = run_cli


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and "runs" not in p.relative_to(folder).parts
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A checkpoint of a simple model on digits (8x8 images)."""
    out = tmp_path_factory.mktemp("trained")
    done = autoencoders(*TRAIN, "--model", "simple", "--latent-dim", "4", "--output", str(out),
                        cwd=out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / "digits" / "simple" / "checkpoints" / "last.ckpt"


def _nan_csv(folder: Path) -> list[str]:
    x = np.random.default_rng(0).random((50, 6))
    x[7, 3] = np.nan
    np.savetxt(folder / "bad.csv", x, delimiter=",")
    return [*TRAIN, "--dataset", "bad.csv"]


def _inf_npy(folder: Path) -> list[str]:
    x = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    x[11, 2] = np.inf
    np.save(folder / "bad.npy", x)
    return [*TRAIN, "--dataset", "bad.npy"]


def _truncated_png(folder: Path) -> list[str]:
    from PIL import Image

    for label in ("a", "b"):
        (folder / "imgs" / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(
                folder / "imgs" / label / f"{i}.png"
            )
    broken = folder / "imgs" / "b" / "2.png"
    broken.write_bytes(broken.read_bytes()[: len(broken.read_bytes()) // 2])
    return [*TRAIN, "--dataset", "imgs"]


def _output_is_a_file(folder: Path) -> list[str]:
    (folder / "out").write_text("not a folder")
    return [*TRAIN, "--output", "out"]


def _read_only_output(folder: Path) -> list[str]:
    if os.geteuid() == 0:  # root writes anywhere a mode allows; sysfs refuses even root
        return [*TRAIN, "--output", "/sys/autoencoders-test-runs"]
    (folder / "locked").mkdir(mode=0o500)
    return [*TRAIN, "--output", "locked"]


def _other_shape(ckpt: Path):
    def case(folder: Path) -> list[str]:
        x = np.random.default_rng(0).random((60, 10)).astype(np.float32)
        np.save(folder / "ten.npy", x)
        return ["evaluate", str(ckpt), "--dataset", "ten.npy"]

    return case


def _weights_off_config(ckpt: Path):
    def case(folder: Path) -> list[str]:
        state = torch.load(ckpt, weights_only=True)
        state["autoencoder_config"] = {**state["autoencoder_config"], "latent_dim": 5}
        torch.save(state, folder / "edited.ckpt")
        return ["evaluate", "edited.ckpt"]

    return case


def _generate_into_folder(ckpt: Path):
    def case(folder: Path) -> list[str]:
        (folder / "pictures").mkdir()
        return ["generate", str(ckpt), "--out", "pictures"]

    return case


def _second_run_into_same_output(folder: Path) -> list[str]:
    first = autoencoders(*TRAIN, "--model", "simple", "--latent-dim", "3", "--output", "runs",
                         cwd=folder)  # fmt: skip
    assert first.returncode == 0, first.stderr
    return [*TRAIN, "--model", "simple", "--latent-dim", "5", "--output", "runs"]


def _config_file_with_unknown_key(folder: Path) -> list[str]:
    (folder / "run.yaml").write_text("model: deep\nepochz: 3\n")
    return [*TRAIN, "--config", "run.yaml"]


def _resume_with_fewer_epochs(folder: Path) -> list[str]:
    first = autoencoders(*TRAIN, "--model", "simple", "--epochs", "2", "--output", "runs",
                         cwd=folder)  # fmt: skip
    assert first.returncode == 0, first.stderr
    return ["train", "--resume", "runs/digits/simple", "--epochs", "1"]


# (id, arguments or a function of the test folder that makes the files and returns them, text)
CASES = [
    ("epochs-negative", [*TRAIN, "--epochs", "-1"], "--epochs"),
    ("epochs-zero", [*TRAIN, "--epochs", "0"], "--epochs"),
    ("nan-in-csv", _nan_csv, "bad.csv"),
    ("inf-in-npy", _inf_npy, "bad.npy"),
    ("truncated-png", _truncated_png, "2.png"),
    ("output-is-a-file", _output_is_a_file, "out"),
    ("output-read-only", _read_only_output, "--output"),
    ("threads-negative", [*TRAIN, "--threads", "-2"], "--threads"),
    ("conv-channels-zero", [*TRAIN, "--model", "conv", "--channels", "0"], "--channels"),
    ("latent-huge-simple", [*TRAIN, "--model", "simple", "--latent-dim", "100000"], "--latent-dim"),
    ("latent-huge-conv", [*TRAIN, "--model", "conv", "--latent-dim", "100000"], "--latent-dim"),
    ("noise-ratio-negative", [*TRAIN, "--model", "denoising", "--noise-ratio", "-0.5"], "--noise-ratio"),
    ("train-size-negative", [*TRAIN, "--train-size", "-5"], "--train-size"),
    ("steps-per-call-zero", [*TRAIN, "--steps-per-call", "0"], "--steps-per-call"),
    ("unknown-model", [*TRAIN, "--model", "nope"], "nope"),
    ("missing-config-file", [*TRAIN, "--config", "absent.yaml"], "absent.yaml"),
    ("resume-nothing", ["train", "--resume", "nowhere"], "nowhere"),
    ("second-run-same-output", _second_run_into_same_output, "--overwrite"),
    ("resume-with-fewer-epochs", _resume_with_fewer_epochs, "already trained 2 epochs"),
    ("missing-checkpoint", ["evaluate", "absent.ckpt"], "absent.ckpt"),
    # mistakes the parser catches, before anything is imported or read
    ("not-a-number", [*TRAIN, "--latent-dim", "abc"], "--latent-dim must be an integer >= 1, got 'abc'"),
    ("not-a-list-of-numbers", [*TRAIN, "--model", "conv", "--channels", "8,x"], "--channels"),
    ("misspelt-flag", [*TRAIN, "--latnet-dim", "3"], "--latnet-dim"),
    ("option-of-another-model", [*TRAIN, "--model", "deep", "--sparsity", "0.1"], "do not apply to model 'deep'"),
    ("switch-given-a-value", [*TRAIN, "--overwrite=yes"], "--overwrite"),
    ("config-file-unknown-key", _config_file_with_unknown_key, "epochz"),
    ("resume-with-model-option", ["train", "--resume", "nowhere", "--latent-dim", "3"], "nothing to resume"),
    ("unknown-command", ["trian"], "trian"),
    ("no-command", [], "give a command"),
    ("missing-positional", ["evaluate"], "checkpoint"),
    ("bad-choice", ["embed", "absent.ckpt", "--out", "c.csv", "--split", "tset"], "tset"),
]  # fmt: skip
if not torch.cuda.is_available():
    CASES.append(("gpu-missing", [*TRAIN, "--accelerator", "gpu"], "--accelerator"))
CHECKPOINT_CASES = [
    ("checkpoint-on-other-shape", _other_shape, "shape"),
    ("weights-off-their-config", _weights_off_config, "do not fit"),
    ("generate-out-is-a-folder", _generate_into_folder, "pictures"),
    ("evaluate-n-labels-negative", lambda c: lambda f: ["evaluate", str(c), "--n-labels", "-1"],
     "--n-labels"),
]  # fmt: skip


def check_one_line_failure(args, expected: str, folder: Path) -> None:
    args = args(folder) if callable(args) else args
    before = snapshot(folder)
    done = autoencoders(*args, cwd=folder)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(r"autoencoders( [\w-]+)?: error: ", lines[0]), lines[0]
    assert expected in lines[0], lines[0]
    assert snapshot(folder) == before  # nothing written or changed outside runs/


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_mistakes_end_in_one_line_and_exit_code_2(args, expected, tmp_path):
    check_one_line_failure(args, expected, tmp_path)


@pytest.mark.parametrize(
    ("make", "expected"), [c[1:] for c in CHECKPOINT_CASES], ids=[c[0] for c in CHECKPOINT_CASES]
)
def test_checkpoint_mistakes_end_in_one_line_and_exit_code_2(make, expected, trained, tmp_path):
    check_one_line_failure(make(trained), expected, tmp_path)


def test_the_refused_second_run_left_the_first_one_alone(tmp_path):
    args = _second_run_into_same_output(tmp_path)
    ckpt = tmp_path / "runs" / "digits" / "simple" / "checkpoints" / "last.ckpt"
    first = ckpt.read_bytes()
    assert autoencoders(*args, cwd=tmp_path).returncode == 2
    assert ckpt.read_bytes() == first
    replaced = autoencoders(*args, "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert torch.load(ckpt, weights_only=True)["autoencoder_config"]["latent_dim"] == 5


def test_two_data_files_with_one_name_get_two_run_folders(tmp_path):
    x = np.random.default_rng(0).random((80, 6))
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        np.savetxt(tmp_path / sub / "train.csv", x, delimiter=",")
    for sub in ("a", "b"):
        done = autoencoders(*TRAIN, "--dataset", f"{sub}/train.csv", "--latent-dim", "2",
                            "--output", "runs", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.startswith("train.csv-") for f in folders), folders


@pytest.mark.parametrize("shape", [(40, 64), (40, 2, 32)])
def test_the_sequence_model_trains_on_signal_arrays_from_the_cli(shape, tmp_path):
    t = np.linspace(0, 6.28, shape[-1], dtype=np.float32)
    phase = np.random.default_rng(0).random(shape[:-1], dtype=np.float32)[..., None]
    np.save(tmp_path / "signals.npy", np.sin(t + 6.28 * phase).astype(np.float32))
    done = autoencoders("train", "--model", "sequence", "--dataset", "signals.npy", "--epochs", "2",
                        "--batch-size", "16", "--latent-dim", "4", "--threads", "1",
                        "--output", "runs", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = torch.load(run_dir / "sequence" / "checkpoints" / "last.ckpt", weights_only=True)
    channels = 1 if len(shape) == 2 else shape[1]
    assert config["autoencoder_config"]["input_shape"] == [channels, shape[-1]]
