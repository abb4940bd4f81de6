"""The command line: train the lecture's four models offline and read their logs back."""

import json
import os
import re
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from autoencoders.checkpoint import load
from autoencoders.cli import main, parse_command, resolve_options
from autoencoders.registry import make_config

SEED_MODELS = ["simple", "deep", "denoising", "sparse"]


def read_events(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc.Tags()


@pytest.mark.parametrize("model", SEED_MODELS)
def test_train_one_epoch_on_digits_writes_checkpoint_logs_and_picture(model, tmp_path, capsys):
    code = main(["train", "--model", model, "--dataset", "digits", "--epochs", "1", "--batch-size", "64",
                 "--output", str(tmp_path)])  # fmt: skip
    assert code == 0
    run = tmp_path / "digits" / model
    summary = capsys.readouterr().out
    assert "checkpoint" in summary and "tensorboard --logdir" in summary
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "checkpoints" / "reconstructions.png").stat().st_size > 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == model  # the dict build_model takes
    tags = read_events(run / "tensorboard")
    for stage in ("train", "val"):
        for name in ("recon", "bottleneck", "loss"):
            assert any(t.startswith(f"{stage}/{name}") for t in tags["scalars"]), (
                stage,
                name,
                tags,
            )
    assert "val/reconstructions" in tags["images"]
    if model == "sparse":
        assert "val/latent_influence" in tags["images"]
    if model == "denoising":
        assert "val/denoised_recon" in tags["scalars"]
    reloaded = load(run / "checkpoints" / "last.ckpt")
    assert reloaded.config["model"] == model


def test_config_file_and_flag_override(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: sparse\ndataset: digits\nepochs: 1\nsparsity: 0.1\nlatent_dim: 6\n")
    assert (
        main(["train", "--config", str(cfg), "--latent-dim", "5", "--output", str(tmp_path)]) == 0
    )
    config = json.loads((tmp_path / "digits" / "sparse" / "config.json").read_text())
    assert config["latent_dim"] == 5 and config["sparsity"] == 0.1


def test_wrong_model_lists_valid_ones(capsys):
    assert main(["train", "--model", "transformer", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'transformer'" in err and "simple, deep, denoising, sparse" in err


def test_wrong_dataset_lists_valid_ones(capsys, tmp_path):
    assert main(["train", "--dataset", "cifar", "--output", str(tmp_path)]) == 2
    assert "choose one of digits, mnist, fashion-mnist, kmnist" in capsys.readouterr().err


def test_option_of_another_model_is_refused(capsys):
    assert main(["train", "--model", "deep", "--sparsity", "0.1"]) == 2
    assert "--sparsity do not apply to model 'deep'" in capsys.readouterr().err


def test_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "must hold a mapping" in capsys.readouterr().err


def help_text(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def option_help(text: str, flag: str) -> str:
    """The help lines of one option: from its flag to the next option's."""
    block = re.search(rf"^  {flag}[ ,].*?(?=^  --|^\S|\Z)", text, flags=re.M | re.S)
    assert block is not None, (flag, text)
    return " ".join(block.group(0).split())


def test_help_documents_every_option(capsys):
    text = help_text(["train"], capsys)
    for flag in ("--model", "--dataset", "--data-dir", "--epochs", "--latent-dim", "--batch-size",
                 "--lr", "--seed", "--output", "--config", "--noise-ratio"):  # fmt: skip
        option_help(text, flag)
    # the default model's own options, and a note naming every other model's
    flat = " ".join(text.split())
    assert "--sparsity (sparse)" in flat and "--beta (vae, beta-vae, beta-vae-loose)" in flat


@pytest.mark.parametrize(
    ("model", "flag", "default"),
    [("denoising", "--noise-ratio", "0.25"), ("deep", "--noise-ratio", "0.0"),
     ("deep", "--architecture", "mlp"), ("simple", "--architecture", "linear"),
     ("conv", "--architecture", "conv"), ("vq", "--latent-dim", "32"),
     ("beta-vae", "--beta", "2.0"), ("sequence", "--recon-loss", "mse")],
)  # fmt: skip
def test_each_models_help_shows_its_own_defaults(model, flag, default, capsys):
    text = help_text(["train", "--model", model], capsys)
    assert f"default: {default})" in option_help(text, flag)
    assert str(getattr(make_config(model), flag[2:].replace("-", "_"))) == default  # the real one


def test_a_model_named_in_the_config_file_sets_the_help_defaults(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: sparse\nsparsity: 0.1\n")
    text = help_text(["train", "--config", str(cfg)], capsys)
    assert "default: 0.1)" in option_help(text, "--sparsity")


@pytest.mark.parametrize(
    "channels", [["8,16"], ["8", "16"], ["8,", "16"]], ids=["comma", "space", "both"]
)
def test_list_options_take_comma_or_space_separated_values(channels):
    args = parse_command(["train", "--model", "conv", "--channels", *channels, "--epochs", "2"])
    run, model = resolve_options(args)
    assert model.channels == (8, 16) and run.epochs == 2
    args = parse_command(["train", "--model", "conv", "--channels=8,16"])
    assert resolve_options(args)[1].channels == (8, 16)


def test_bakeoff_models_take_a_comma_separated_list():
    spaced = parse_command(["bakeoff", "--models", "simple", "deep", "--epochs", "3"])
    commas = parse_command(["bakeoff", "--models", "simple,deep", "--epochs", "3"])
    assert spaced.models == commas.models == ["simple", "deep"]
    assert commas.epochs == 3 and commas.one_class is True
    assert parse_command(["bakeoff", "--no-one-class"]).one_class is False


def test_config_file_lists_and_flags_combine(tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"model": "conv", "channels": "4,8", "latent-dim": 3, "epochs": 2}))
    run, model = resolve_options(parse_command(["train", "--config", str(cfg), "--epochs", "5"]))
    assert (model.model, model.channels, model.latent_dim, run.epochs) == ("conv", (4, 8), 3, 5)
    cfg.write_text(json.dumps({"model": "conv", "channels": [16, 32]}))
    assert resolve_options(parse_command(["train", "--config", str(cfg)]))[1].channels == (16, 32)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("model: deep\nsparsity: 0.1\n", "--sparsity do not apply to model 'deep'"),
     ("epochz: 3\n", "unknown option(s) epochz")],
)  # fmt: skip
def test_config_file_keys_are_checked_like_flags(content, expected, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(content)
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_list_models_and_datasets(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SEED_MODELS)
    assert main(["list-datasets"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("budget", "bar"),
    [(["--epochs", "2"], "epoch 2/2:"),  # a known end: the bar counts the run, not each epoch
     (["--min-steps", "0", "--patience", "1", "--max-epochs", "2"], "epoch 2 of at most 2, ")],
    ids=["fixed-epochs", "early-stopping"],
)  # fmt: skip
def test_train_prints_results_on_stdout_and_one_quiet_progress_bar_on_stderr(budget, bar, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "autoencoders.cli", "train", "--model", "simple", *budget,
         "--batch-size", "64", "--latent-dim", "4", "--threads", "1", "--output", "runs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "checkpoint" in done.stdout and "tensorboard --logdir" in done.stdout
    for bar_text in ("\r", "it/s", "%|", bar):
        assert bar_text not in done.stdout, bar_text
    assert bar in done.stderr and "Epoch 0" not in done.stderr, done.stderr[-500:]
    for banner in ("litlogger", "litmodels", "GPU available", "TPU available", "Trainer.fit"):
        assert banner not in done.stderr, (banner, done.stderr)
