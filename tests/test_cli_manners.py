"""The command line's small manners: --version, -v anywhere, readable help, picture formats."""

from __future__ import annotations

import re

import pytest
import torch
from PIL import Image

from _support import run_cli
from autoencoders import __version__
from autoencoders.cli import main
from autoencoders.errors import ConfigError
from autoencoders.images import save_grid_image
from autoencoders.models import build_model


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"autoencoders {__version__}"


@pytest.mark.parametrize("argv", [["-v", "list-models"], ["list-models", "-v"]])
def test_verbose_flag_before_or_after_the_command(argv, capsys):
    assert main(argv) == 0
    assert "deep" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["evaluate", "train", "bakeoff", "score", "generate"])
def test_help_shows_each_default_once_and_no_python_types(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "<class" not in text and "type:" not in text
    assert text.count("(default: digits) (default") == 0
    # every "(default: X)" appears once per option line, never twice in a row
    assert re.search(r"\(default: [^)]*\) \(default:", text) is None
    assert "(default:" in text


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_pictures_are_written_in_the_format_their_suffix_names(tmp_path, suffix, fmt):
    path = save_grid_image(torch.rand(3, 6, 6), tmp_path / f"grid{suffix}")
    with Image.open(path) as image:
        assert image.format == fmt


def test_a_suffix_that_names_no_picture_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\.png"):
        save_grid_image(torch.rand(1, 4, 4), tmp_path / "grid.txt")
    assert list(tmp_path.iterdir()) == []


def test_generate_writes_jpeg_bytes_for_a_jpg_name(tmp_path):
    run = run_cli(
        "train", "--model", "simple", "--dataset", "digits", "--epochs", "1",
        "--latent-dim", "4", "--output", str(tmp_path / "runs"), cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    out = run_cli("generate", str(ckpt), "--n", "4", "--out", "s.jpg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with Image.open(tmp_path / "s.jpg") as image:
        assert image.format == "JPEG"
    bad = run_cli("generate", str(ckpt), "--n", "4", "--out", "s.xyz", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and ".png" in bad.stderr
    assert not (tmp_path / "s.xyz").exists()


@pytest.mark.parametrize(
    ("command", "out"),
    [("evaluate", "m.json"), ("embed", "codes.csv"), ("generate", "s.png"),
     ("explore", "page.html"), ("score", "scores.csv")],
)  # fmt: skip
def test_every_command_that_writes_a_file_refuses_an_existing_one(
    command, out, tmp_path, monkeypatch, capsys
):
    # the rule is checked before the checkpoint is read, so none is needed
    monkeypatch.chdir(tmp_path)
    (tmp_path / out).write_text("earlier work")
    assert main([command, "absent.ckpt", "--out", out]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"autoencoders {command}: error: --out {out} exists; pass --overwrite to replace it, "
        "or choose another file"
    )
    assert main([command, "absent.ckpt", "--out", out, "--overwrite"]) == 2
    assert "no checkpoint at absent.ckpt" in capsys.readouterr().err  # got past the rule
    assert (tmp_path / out).read_text() == "earlier work"


def test_a_model_in_eval_mode_returns_plain_tensors():
    model = build_model({"model": "deep", "input_shape": [1, 8, 8], "latent_dim": 3}).eval()
    x = torch.rand(5, 1, 8, 8)
    z = model.encode(x)
    assert not z.requires_grad and z.numpy().shape == (5, 3)
    assert not model.decode(z).requires_grad and not model(x).requires_grad
    # an input that asks for gradients, or training mode, keeps the graph
    assert model.encode(x.requires_grad_()).requires_grad
    assert model.train().encode(torch.rand(5, 1, 8, 8)).requires_grad


def test_the_run_folder_train_printed_stands_for_its_checkpoint(tmp_path):
    trained = run_cli("train", "--model", "simple", "--dataset", "digits", "--epochs", "1",
                      "--threads", "1", "--output", str(tmp_path), cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "digits" / "simple"
    assert not (run_dir / "checkpoints" / "best.ckpt").exists()  # one epoch: last.ckpt only
    done = run_cli("evaluate", str(run_dir), "--out", str(tmp_path / "m.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.json").is_file()
    # a folder that holds no run is named in one line
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_cli("score", str(empty), "--out", str(tmp_path / "s.csv"), cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"autoencoders score: error: no checkpoint at {empty}: give a run folder written by "
        "`autoencoders train`, or one of its .ckpt files"
    ]
