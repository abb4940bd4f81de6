"""The stacked autoencoder: greedy layer-wise stages, then fine-tuning, in one fit."""

import logging

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from _support import TensorDataModule
from autoencoders.checkpoint import load
from autoencoders.models import StackedAutoEncoder, build_model, make_config
from autoencoders.models.stacked import FINE_TUNE
from autoencoders.training import fit


class Snapshots(Callback):
    """Copies every parameter at the end of each training epoch."""

    def __init__(self) -> None:
        self.after: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer, module) -> None:
        self.after.append({k: v.detach().clone() for k, v in module.named_parameters()})


def block(snapshot, part, index):
    prefix = f"{part}.layers.{index}."
    return torch.cat([v.flatten() for k, v in snapshot.items() if k.startswith(prefix)])


def stacked_model(**options):
    torch.manual_seed(0)
    cfg = make_config("stacked", input_shape=(1, 8, 8), latent_dim=8, num_layers=3, **options)
    return build_model(cfg)


def val_recon(model, x):
    model.eval()
    with torch.no_grad():
        recon = float(model.compute_losses(x, noisy=False)["recon"])
    model.train()
    return recon


@pytest.fixture(scope="module")
def stacked_run(digits_tensors, tmp_path_factory):
    model = stacked_model(lr=3e-3)
    x, y = digits_tensors
    x_val = x[:200]
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    untrained = val_recon(model, x_val)
    snaps = Snapshots()
    dm = TensorDataModule(x[:1000], y[:1000], batch_size=100)
    result = fit(
        model,
        dm,
        epochs=6,
        output_dir=tmp_path_factory.mktemp("stacked"),
        logger=False,
        progress_bar=False,
        callbacks=[snaps],
    )
    return model, result, [before, *snaps.after], untrained, val_recon(model, x_val)


def test_variant_builds_the_stacked_module_and_stores_pretrain_epochs():
    model = stacked_model(pretrain_epochs=2)
    assert isinstance(model, StackedAutoEncoder)
    assert model.num_blocks == 3
    assert model.pretrain_epochs == 2 and model.config["pretrain_epochs"] == 2


def test_stages_run_in_order_and_are_logged(stacked_run):
    model, result, _, _, _ = stacked_run
    assert model.stage_history == [
        (0, "layer 1/3"),
        (1, "layer 2/3"),
        (2, "layer 3/3"),
        (3, FINE_TUNE),
    ]
    assert float(result.metrics["train/stage"]) == 3.0  # the last epoch fine-tuned
    assert "train/layer_recon" in result.metrics or "train/layer_recon_epoch" in result.metrics


def test_each_greedy_stage_trains_only_its_own_pair_of_blocks(stacked_run):
    _, _, snaps, _, _ = stacked_run
    for stage in range(3):
        start, end = snaps[stage], snaps[stage + 1]
        for k in range(3):
            enc_changed = not torch.equal(block(start, "encoder", k), block(end, "encoder", k))
            mirror = 2 - k
            dec_changed = not torch.equal(
                block(start, "decoder", mirror), block(end, "decoder", mirror)
            )
            assert enc_changed == (k == stage), (stage, k)
            assert dec_changed == (k == stage), (stage, mirror)
    # fine-tuning moves every block
    start, end = snaps[3], snaps[5]
    for k in range(3):
        assert not torch.equal(block(start, "encoder", k), block(end, "encoder", k))


def test_training_improves_reconstruction(stacked_run):
    _, _, _, untrained, trained = stacked_run
    assert trained < 0.85 * untrained


def test_checkpoint_reloads_as_a_stacked_model(stacked_run, digits_tensors):
    model, result, _, _, _ = stacked_run
    again = load(result.checkpoint)
    assert isinstance(again, StackedAutoEncoder) and again.pretrain_epochs == 1
    x = digits_tensors[0][:8]
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


def test_too_few_epochs_shorten_pretraining_with_a_warning(digits_tensors, tmp_path, caplog):
    model = stacked_model(pretrain_epochs=2)
    dm = TensorDataModule(digits_tensors[0][:400], digits_tensors[1][:400], batch_size=100)
    with caplog.at_level(logging.WARNING, logger="autoencoders.models.stacked"):
        fit(model, dm, epochs=4, output_dir=tmp_path, logger=False, progress_bar=False)
    assert "pre-training 1 epoch(s) per layer instead" in caplog.text
    assert [name for _, name in model.stage_history] == [
        "layer 1/3",
        "layer 2/3",
        "layer 3/3",
        FINE_TUNE,
    ]


def test_the_stacked_model_needs_the_mlp_architecture():
    with pytest.raises(ValueError, match="architecture mlp"):
        build_model(make_config("stacked", input_shape=(1, 8, 8), architecture="linear"))
