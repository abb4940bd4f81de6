"""DEVELOPERS.md's recipe, followed from this file alone: one config, one registry entry, its parts.

The model defined here has a part of its own (a bottleneck that squashes the
code with tanh) and a loss term of its own (a penalty on the code's size). It
trains through our data module and Trainer, saves its checkpoint and comes
back through ``autoencoders.load`` and ``build_model(config.json)``. Its parts
are registered in ``PARTS`` the way its name is in ``VARIANTS``.
"""

import json
from dataclasses import dataclass

import pytest
import torch

import autoencoders
from autoencoders.config import DeepConfig, config_to_dict, variant_name
from autoencoders.data import ArrayDataModule
from autoencoders.losses import StepTensors
from autoencoders.models import PARTS, VARIANTS, Parts, Variant, build_model, make_config
from autoencoders.nn.bottlenecks import Bottleneck
from autoencoders.options import at_least, option
from autoencoders.training import fit


# --- its own parts --------------------------------------------------------------
class TanhBottleneck(Bottleneck):
    """A code in (-1, 1), with a learned gain in front of the squashing."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.gain = torch.nn.Parameter(torch.ones(latent_dim))

    def forward(self, h):
        return torch.tanh(self.gain * h), h.new_zeros(())


@dataclass(frozen=True)
class CodeSizePenalty:
    """The mean squared code value: a loss term of the model's own."""

    weight: float
    name: str = "code_size"
    needs_input_grad: bool = False

    def __call__(self, step: StepTensors) -> torch.Tensor:
        return step.z.pow(2).sum(dim=1).mean()


# --- one config ---------------------------------------------------------------
@dataclass
class TanhConfig(DeepConfig):
    """A deep autoencoder with a tanh code kept small."""

    model: str = variant_name("tanh")
    code_weight: float = option(0.05, "weight of the code-size penalty", range=at_least(0))


# --- one registry entry, and its parts ------------------------------------------
@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(VARIANTS, "tanh", Variant(TanhConfig, "deep autoencoder, small tanh code"))
    parts = Parts(
        bottleneck=lambda cfg: TanhBottleneck(cfg.latent_dim),
        extra_terms=lambda cfg: [CodeSizePenalty(cfg.code_weight)],
    )
    monkeypatch.setitem(PARTS, TanhConfig, parts)


def test_a_model_type_from_this_file_trains_saves_and_reloads(registered, tmp_path):
    dm = ArrayDataModule("digits", batch_size=64, seed=0)
    dm.setup("fit")
    cfg = make_config("tanh", input_shape=dm.sample_shape, latent_dim=6, code_weight=0.2)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert isinstance(model.bottleneck, TanhBottleneck)
    gain_before = model.bottleneck.gain.detach().clone()

    result = fit(model, dm, 2, output_dir=tmp_path, logger=False, progress_bar=False)

    # it trained: its own part learned and its own loss term was part of the loss
    assert not torch.equal(model.bottleneck.gain.detach(), gain_before)
    logged = result.metrics
    assert logged["train/code_size_epoch"] > 0
    x = dm.full_arrays("val")[0][:32]
    model.eval()
    with torch.no_grad():
        out = model.compute_losses(x, noisy=False)
    torch.testing.assert_close(out["loss"], out["recon"] + 0.2 * out["code_size"])

    # it saved and comes back from the checkpoint, and from config.json
    again = autoencoders.load(result.checkpoint)
    assert isinstance(again.bottleneck, TanhBottleneck)
    assert config_to_dict(again.cfg) == config_to_dict(cfg)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["model"] == "tanh" and stored["code_weight"] == 0.2
    rebuilt = build_model(stored)
    rebuilt.load_state_dict(again.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), model(x))
