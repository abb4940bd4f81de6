"""Several optimizer steps per `training_step` call: same training, fewer loop items."""

import lightning as L
import pytest
import torch

from autoencoders.data import ArrayDataModule, TensorBatchLoader, TensorImageDataset
from autoencoders.data.loader import GroupedLoader, StepGroup, group_for_trainer
from autoencoders.grouped_steps import SAMPLES_PER_CALL
from autoencoders.models import build_model, make_config
from autoencoders.training import fit, make_trainer


def digits_module(batch_size: int = 32) -> ArrayDataModule:
    dm = ArrayDataModule("digits", batch_size=batch_size, seed=0)
    dm.setup("fit")
    return dm


def trained(steps_per_call: int, epochs: int = 2, **trainer_kwargs):
    dm = digits_module()
    torch.manual_seed(0)
    model = build_model(make_config("denoising", input_shape=dm.sample_shape))
    model.steps_per_call = steps_per_call
    trainer = make_trainer(epochs, progress_bar=False, log_every_n_steps=1, **trainer_kwargs)
    trainer.fit(model, datamodule=dm)
    return model, trainer


def test_grouped_steps_train_exactly_like_one_step_per_call():
    plain, plain_trainer = trained(1)
    grouped, grouped_trainer = trained(5)
    assert plain.automatic_optimization and not grouped.automatic_optimization
    batches = len(digits_module().train_dataloader())
    assert plain_trainer.global_step == grouped_trainer.global_step == 2 * batches
    for p, q in zip(plain.parameters(), grouped.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    # the code statistics behind `sample` and the epoch metrics agree too
    torch.testing.assert_close(plain.code_outer, grouped.code_outer)
    for key in ("train/loss_epoch", "val/loss"):
        torch.testing.assert_close(
            plain_trainer.callback_metrics[key], grouped_trainer.callback_metrics[key]
        )


def test_max_steps_is_exact_inside_a_group():
    _, trainer = trained(8, epochs=5, max_steps=13)
    assert trainer.global_step == 13


def test_gradient_clipping_keeps_lightnings_one_step_per_call():
    model, trainer = trained(8, gradient_clip_val=0.5)
    assert model.automatic_optimization
    assert model.optimizer_steps_per_call(32) == 1
    assert trainer.global_step == 2 * len(digits_module().train_dataloader())


def test_default_group_is_a_fixed_number_of_samples():
    model = build_model(make_config("deep", input_shape=(1, 8, 8)))
    assert model.optimizer_steps_per_call(32) == SAMPLES_PER_CALL // 32
    assert model.optimizer_steps_per_call(4096) == 1
    model.steps_per_call = 3
    assert model.optimizer_steps_per_call(32) == 3


def test_fit_counts_calls_not_batches_for_logging_and_progress(tmp_path):
    dm = digits_module(batch_size=16)
    model = build_model(make_config("simple", input_shape=dm.sample_shape))
    result = fit(model, dm, 1, output_dir=tmp_path, logger=False, progress_bar=False)
    assert result.epochs == 1 and not model.automatic_optimization
    assert "train/loss" in result.metrics  # logged once per group


class PlainModule(L.LightningModule):
    """A module of someone else's: it must get ordinary `(x, y)` batches."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(64, 64)
        self.seen: list[type] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(type(batch))
        x, _ = batch
        return (self.layer(x.flatten(1)) - x.flatten(1)).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_other_modules_get_plain_batches_from_our_data_modules():
    module = PlainModule()
    make_trainer(1, progress_bar=False, limit_val_batches=0).fit(module, datamodule=digits_module())
    assert module.seen and all(t is not StepGroup for t in module.seen)


def test_grouped_loader_groups_in_order_and_passes_set_epoch_on():
    data = TensorImageDataset(torch.arange(23.0).view(23, 1), torch.arange(23), 1.0)
    loader = TensorBatchLoader(data, 4, shuffle=True, seed=1)
    grouped = GroupedLoader(loader, 3)
    assert len(loader) == 6 and len(grouped) == 2
    grouped.sampler.set_epoch(7)
    groups = list(grouped)
    assert [len(g) for g in groups] == [3, 3] and all(isinstance(g, StepGroup) for g in groups)
    labels = torch.cat([y for g in groups for _, y in g])
    plain = TensorBatchLoader(data, 4, shuffle=True, seed=1)
    plain.set_epoch(7)
    assert torch.equal(labels, torch.cat([y for _, y in plain]))


def test_grouping_needs_an_opting_in_module_and_a_positive_size():
    loader = TensorBatchLoader(TensorImageDataset(torch.zeros(10, 1), None, 1.0), 2)
    assert group_for_trainer(loader, None) is loader
    with pytest.raises(ValueError, match="at least 1"):
        GroupedLoader(loader, 0)


def test_a_group_outside_a_trainer_says_what_is_needed():
    model = build_model(make_config("deep", input_shape=(1, 8, 8)))
    model.automatic_optimization = True
    batch = (torch.rand(4, 1, 8, 8), torch.zeros(4))
    with pytest.raises(RuntimeError, match="manual optimization"):
        model.training_step(StepGroup([batch]), 0)


def test_train_config_chooses_the_steps_per_call(tmp_path):
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run

    runs = {}
    for steps in (None, 1):
        run = TrainConfig(dataset="digits", epochs=1, batch_size=64, steps_per_call=steps)
        runs[steps] = train_run(
            run, make_config("simple"), tmp_path / str(steps), tensorboard=False, progress_bar=False
        ).model
    assert not runs[None].automatic_optimization  # grouped by default
    assert runs[1].automatic_optimization and runs[1].steps_per_call == 1
