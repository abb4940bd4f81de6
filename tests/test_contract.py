"""The contract every registered model keeps, run over the whole ``VARIANTS`` registry."""

import dataclasses
import json

import pytest
import torch

from _support import TensorDataModule
from autoencoders.checkpoint import load
from autoencoders.data import ArrayDataModule, ArrayDataset
from autoencoders.models import VARIANTS, build_model, make_config
from autoencoders.training import fit

SIGNAL_ARCHITECTURES = ("lstm", "conv1d")


def input_shape_for(name: str) -> tuple[int, ...]:
    cfg = VARIANTS[name].config_cls()
    return (1, 64) if cfg.architecture in SIGNAL_ARCHITECTURES else (1, 8, 8)


def small_model(name: str):
    cfg = make_config(name, input_shape=input_shape_for(name))
    return build_model(cfg), cfg


def batch_for(name: str, n: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, *input_shape_for(name))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_output_has_input_shape(name):
    model, cfg = small_model(name)
    x = batch_for(name)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == x.shape
        assert model.encode(x).shape == (x.shape[0], cfg.latent_dim)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_samples_are_independent_in_eval_mode(name):
    model, _ = small_model(name)
    x = batch_for(name)
    model.eval()
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together[:4], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_parameter_gets_a_gradient(name):
    model, _ = small_model(name)
    model.train()
    out = model.compute_losses(batch_for(name, 32), noisy=True)
    out["loss"].backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())
    ]
    assert not missing, f"no finite gradient for {missing}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_config_round_trips_through_json(name):
    cfg = make_config(name, input_shape=input_shape_for(name))
    data = json.loads(json.dumps(dataclasses.asdict(cfg)))
    again = build_model(data)
    assert again.config == build_model(cfg).config
    assert again.config["model"] == name


@pytest.mark.parametrize("loader", ["ours", "plain"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_short_fit_then_reload_gives_same_outputs(name, loader, tmp_path):
    """Trains through our data module (batches grouped per call) and through a plain DataLoader."""
    torch.manual_seed(0)
    model, _ = small_model(name)
    x = batch_for(name, 96)
    y = torch.zeros(96, dtype=torch.int64)
    if loader == "ours":
        data = ArrayDataset("contract", x, y, x[:8], y[:8], scale=1.0)
        dm = ArrayDataModule(data, batch_size=16, val_size=32)
    else:
        dm = TensorDataModule(x, y, batch_size=32, n_val=32)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # 4 epochs: the stacked model's three greedy stages and a fine-tuning one all run
    result = fit(model, dm, epochs=4, output_dir=tmp_path, logger=False, progress_bar=False)
    assert result.checkpoint.is_file()
    trained = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(".weight" in k for k in trained), f"{name} did not train through {loader} batches"
    assert (tmp_path / "config.json").is_file()
    reloaded = load(result.checkpoint)
    assert type(reloaded) is type(model) and not reloaded.training
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x[:8]), model(x[:8]))
        torch.testing.assert_close(reloaded.encode(x[:8]), model.encode(x[:8]))


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(ValueError, match="choose one of: simple, deep"):
        make_config("resnet")


def test_unknown_config_key_is_refused():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\]"):
        make_config("deep", depth=3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_cuda_round_trip(name):
    model, _ = small_model(name)
    x = batch_for(name)
    model.eval()
    with torch.no_grad():
        cpu_out = model(x)
        model.cuda()
        out = model.compute_losses(x.cuda(), noisy=True)
        assert out["loss"].device.type == "cuda"
        torch.testing.assert_close(model(x.cuda()).cpu(), cpu_out, rtol=1e-3, atol=1e-4)
