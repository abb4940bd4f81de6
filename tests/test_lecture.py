"""The lecture notebook's names: hand-built models are described by a config like any other."""

import pytest
import torch

import autoencoders
from autoencoders.errors import ConfigError
from autoencoders.lecture import (
    AutoEncoder,
    DeepDecoder,
    DeepEncoder,
    SimpleBlottleneck,
    SimpleDecoder,
    SimpleEncoder,
    SparseBottleneck,
    config_for_parts,
)
from autoencoders.models import make_config
from autoencoders.training import fit


def test_the_seed_notebooks_import_paths_lead_here():
    from autoencoders import lightning_extension
    from autoencoders.models import deep, simple, sparse
    from autoencoders.scripts import run

    assert lightning_extension.AutoEncoder is AutoEncoder
    assert simple.SimpleBlottleneck is SimpleBlottleneck and deep.DeepEncoder is DeepEncoder
    assert sparse.SparseBottleneck is SparseBottleneck
    assert callable(run.build_logger) and callable(run._train)


@pytest.mark.parametrize(
    ("parts", "settings", "model"),
    [
        ((SimpleEncoder((1, 8, 8), 5), SimpleBlottleneck(5), SimpleDecoder(5, (1, 8, 8))), {}, "simple"),
        ((DeepEncoder((1, 8, 8), 2, 5), SimpleBlottleneck(5), DeepDecoder(5, 2, (1, 8, 8))), {}, "deep"),
        ((DeepEncoder((1, 8, 8), 2, 5), SimpleBlottleneck(5), DeepDecoder(5, 2, (1, 8, 8))),
         {"noise_ratio": 0.3}, "denoising"),
        ((DeepEncoder((1, 8, 8), 3, 6), SparseBottleneck(6, "log"), DeepDecoder(6, 3, (1, 8, 8))),
         {"lr": 0.01}, "sparse"),
    ],
)  # fmt: skip
def test_parts_are_described_by_the_config_that_rebuilds_them(parts, settings, model):
    cfg = config_for_parts(*parts, **settings)
    assert cfg.model == model
    assert all(getattr(cfg, k) == v for k, v in settings.items())
    built = autoencoders.build_model(cfg)
    for part, given in zip((built.encoder, built.bottleneck, built.decoder), parts, strict=True):
        assert isinstance(given, type(part))
        assert {k: v.shape for k, v in part.state_dict().items()} == {
            k: v.shape for k, v in given.state_dict().items()
        }


def test_defaults_are_the_command_lines():
    sparse = config_for_parts(
        DeepEncoder((1, 8, 8), 2, 6), SparseBottleneck(6), DeepDecoder(6, 2, (1, 8, 8))
    )
    cli = make_config("sparse", input_shape=(1, 8, 8), latent_dim=6, num_layers=2)
    assert sparse == cli


def test_mismatched_or_foreign_parts_are_refused():
    with pytest.raises(ConfigError, match="decoder does not fit"):
        config_for_parts(
            DeepEncoder((1, 8, 8), 2, 5), SimpleBlottleneck(5), DeepDecoder(5, 3, (1, 8, 8))
        )
    with pytest.raises(ConfigError, match="linear or MLP encoder"):
        config_for_parts(torch.nn.Flatten(), SimpleBlottleneck(5), SimpleDecoder(5, (1, 8, 8)))
    with pytest.raises(ConfigError, match="unknown option"):
        AutoEncoder(
            SimpleEncoder((4,), 2), SimpleBlottleneck(2), SimpleDecoder(2, (4,)), colour="red"
        )


def test_a_hand_built_model_trains_and_reloads_from_its_checkpoint(digits_dm, tmp_path):
    torch.manual_seed(0)
    model = AutoEncoder(
        DeepEncoder((1, 8, 8), 2, 6),
        SparseBottleneck(6, "log"),
        DeepDecoder(6, 2, (1, 8, 8)),
        lr=0.01,
        recon_loss="rmse",
        log_images=False,
    )
    result = fit(model, digits_dm, 1, output_dir=tmp_path, logger=False, progress_bar=False)
    again = AutoEncoder.load_from_checkpoint(result.checkpoint)
    assert again.config == model.config and again.config["recon_loss"] == "rmse"
    x = torch.rand(5, 1, 8, 8)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
