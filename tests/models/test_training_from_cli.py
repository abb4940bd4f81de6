"""Every variant is listed with its description; those with networks of their own train from the command line."""

import json

import pytest

from autoencoders.checkpoint import load
from autoencoders.cli import main
from autoencoders.models import VARIANTS

OWN_IMAGE_NETWORKS = ["conv", "vae", "beta-vae", "beta-vae-loose", "vq", "contractive", "stacked"]


def test_list_models_describes_every_variant(capsys):
    assert main(["list-models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    for name in VARIANTS:
        assert name in lines
        assert VARIANTS[name].description in lines[name]


@pytest.mark.parametrize("model", OWN_IMAGE_NETWORKS)
def test_train_one_epoch_on_digits(model, tmp_path, capsys):
    argv = ["train", "--model", model, "--dataset", "digits", "--epochs", "1",
            "--output", str(tmp_path)]  # fmt: skip
    if model == "contractive":
        argv += ["--contractive-weight", "0.5"]
    assert main(argv) == 0
    run = tmp_path / "digits" / model
    assert "checkpoint" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == model
    reloaded = load(run / "checkpoints" / "last.ckpt")
    assert reloaded.config["model"] == model
    if model == "contractive":
        assert reloaded.cfg.contractive_weight == 0.5  # the flag reached the training module
