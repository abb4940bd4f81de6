"""Many models trained as one batched computation equal the same models trained one by one."""

from __future__ import annotations

import logging

import pytest
import torch

from autoencoders.batched import ModelData, batch_problem, fit_many, save_checkpoint
from autoencoders.data import ArrayDataModule
from autoencoders.data.sources import ArrayDataset
from autoencoders.models import build_model, make_config
from autoencoders.training import fit
from autoencoders.training.stopping import StopRule

SHAPE = (1, 8, 8)


def _modules(sizes: tuple[int, ...], batch_size: int = 16) -> list[ArrayDataModule]:
    """Data modules of different lengths (so some steps pad a short batch), seeded apart."""
    gen = torch.Generator().manual_seed(0)
    modules = []
    for i, n in enumerate(sizes):
        x = torch.rand(n, *SHAPE, generator=gen)
        data = ArrayDataset(f"set{i}", x, None, x[:0], None, scale=1.0)
        dm = ArrayDataModule(data, batch_size=batch_size, val_size=6, seed=10 + i, scale="none")
        dm.setup("fit")
        modules.append(dm)
    return modules


def _normal_path(cfg, dm, seed: int, rule: StopRule, tmp_path, steps_per_call=None):
    """One model through the package's own path: seed, build_model, training.fit."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.steps_per_call = steps_per_call
    result = fit(model, dm, rule, output_dir=tmp_path / f"run{seed}", logger=False,
                 progress_bar=False)  # fmt: skip
    return model.eval(), result


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key].float(), sb[key].float(), rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=key: f"{k}: {m}")  # fmt: skip


# Models whose every parameter feels its gradient. Not the deep mlp: its last encoder
# bias is invisible to the loss behind the decoder's batch norm, so its gradient is
# rounding noise, which Adam scales up to lr-sized steps on either path alike.
@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("simple", {}),
        ("sparse", {}),
        ("vae", {}),  # the code's noise from each model's own generator
        ("denoising", {"architecture": "linear"}),  # the input noise, in and out of validation
        ("conv", {"channels": (4, 8)}),
    ],
)
def test_batched_training_gives_the_normal_paths_weights(tmp_path, name, options):
    modules = _modules((40, 50, 33))
    cfg = make_config(name, input_shape=SHAPE, latent_dim=4, **options)
    rule = StopRule(epochs=4)
    seeds = [3, 4, 5]
    fits = fit_many(cfg, modules, seeds, rule)
    assert all(f.batched for f in fits)
    for fit_, dm, seed in zip(fits, modules, seeds, strict=True):
        reference, result = _normal_path(cfg, dm, seed, rule, tmp_path)
        assert (fit_.epochs, fit_.steps) == (result.epochs, result.steps)
        _assert_same_weights(fit_.model, reference)


def test_each_model_stops_at_its_own_epoch_with_its_own_best_weights(tmp_path):
    # patience 1 and a high learning rate: the three stop after a few checks, each when
    # its own validation loss turns, and keep the weights of their best check
    modules = _modules((40, 64, 90), batch_size=8)
    cfg = make_config("simple", input_shape=SHAPE, latent_dim=4, lr=0.05)
    rule = StopRule(max_epochs=60, patience=1, min_steps=10)
    seeds = [0, 1, 2]
    fits = fit_many(cfg, modules, seeds, rule, steps_per_call=2)
    assert len({f.steps for f in fits}) > 1
    assert any(f.stop_reason.startswith("stopped early") for f in fits)
    for fit_, dm, seed in zip(fits, modules, seeds, strict=True):
        reference, result = _normal_path(cfg, dm, seed, rule, tmp_path, steps_per_call=2)
        assert (fit_.epochs, fit_.steps, fit_.best_epoch, fit_.stop_reason) == (
            result.epochs, result.steps, result.best_epoch, result.stop_reason,
        )  # fmt: skip
        assert fit_.best_epoch < fit_.epochs or not fit_.stop_reason.startswith("stopped")
        _assert_same_weights(fit_.model, reference)


def test_a_model_that_cannot_be_batched_trains_on_the_normal_path(tmp_path, caplog):
    modules = _modules((30, 30))
    cfg = make_config("vq", input_shape=SHAPE, latent_dim=8, code_dim=4, num_codes=8)
    assert "bottleneck VectorQuantizer" in batch_problem(build_model(cfg))
    rule = StopRule(epochs=2)
    with caplog.at_level(logging.INFO, logger="autoencoders.batched"):
        fits = fit_many(cfg, modules, [7, 8], rule)
    assert "one by one" in caplog.text and "VectorQuantizer" in caplog.text
    assert [f.batched for f in fits] == [False, False]
    assert "VectorQuantizer" in fits[0].fallback_reason
    reference, _ = _normal_path(cfg, modules[1], 8, rule, tmp_path)
    _assert_same_weights(fits[1].model, reference)


def test_a_stacked_model_is_not_batched():
    cfg = make_config("stacked", input_shape=SHAPE, latent_dim=4)
    assert "StackedAutoEncoder" in batch_problem(build_model(cfg))


def test_one_training_set_for_all_seeds_and_the_caller_rng_untouched(tmp_path):
    x = torch.rand(36, *SHAPE, generator=torch.Generator().manual_seed(1))
    cfg = make_config("deep", input_shape=SHAPE, latent_dim=4)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fits = fit_many(cfg, ModelData(x, batch_size=8), [0, 1], StopRule(epochs=2), validate=False)
    assert torch.equal(torch.get_rng_state(), before)
    assert [f.steps for f in fits] == [10, 10]  # 36 rows in batches of 8, twice
    # different seeds, different models; the trained weights round-trip through a checkpoint
    assert not torch.equal(fits[0].model.decoder.layers[-1].weight,
                           fits[1].model.decoder.layers[-1].weight)  # fmt: skip
    from autoencoders import load

    path = save_checkpoint(fits[0].model, tmp_path / "m.ckpt")
    loaded = load(path)
    torch.testing.assert_close(loaded(x[:5]), fits[0].model(x[:5]))


def test_detector_ensemble_members_are_the_one_model_fits():
    from sklearn.datasets import load_digits

    from autoencoders.detector import AutoencoderOutlierDetector

    X = load_digits().data[:300]
    options = {"epochs": 3, "batch_size": 32, "random_state": 4}
    ensemble = AutoencoderOutlierDetector("simple", n_models=2, **options).fit(X)
    for i in range(2):
        one = AutoencoderOutlierDetector("simple", **{**options, "random_state": 4 + i}).fit(X)
        _assert_same_weights(ensemble.models_[i], one.model_)
    assert ensemble.n_epochs_ == one.n_epochs_ == 3
