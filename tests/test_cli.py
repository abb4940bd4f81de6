"""The command line: train the lecture's four models offline and read their logs back."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from autoencoders.checkpoint import load
from autoencoders.cli import build_parser, main

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


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--model", "--dataset", "--data-dir", "--epochs", "--latent-dim", "--batch-size",
                 "--lr", "--seed", "--output", "--config", "--noise-ratio", "--sparsity"):  # fmt: skip
        assert flag in text


def test_list_models_and_datasets(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SEED_MODELS)
    assert main(["list-datasets"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out
