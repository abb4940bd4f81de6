"""Training jobs from configs: data handed in already loaded."""

import torch

from autoencoders.data import ArrayDataModule, ArrayDataset
from autoencoders.data.run_data import make_datamodule
from autoencoders.models import make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training.job import train_run


def in_memory_data() -> ArrayDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (300, 1, 8, 8), generator=gen, dtype=torch.uint8)
    y = torch.arange(300) % 3
    return ArrayDataset("not-a-registered-name", x[:240], y[:240], x[240:], y[240:])


def test_train_run_uses_loaded_data_instead_of_reading_files(tmp_path):
    data = in_memory_data()
    run = TrainConfig(dataset=data.name, epochs=1, batch_size=32, only_class=1)
    result = train_run(
        run, make_config("simple", latent_dim=4), tmp_path, tensorboard=False, data=data
    )
    assert result.train.checkpoint.is_file()
    dm = make_datamodule(run, data)
    dm.setup("fit")
    assert set(dm.full_arrays("train")[1].tolist()) == {1}  # the run's own filters still apply


def test_array_dataset_is_the_padded_data_a_module_holds():
    dm = ArrayDataModule("digits", pad_to=12)
    data = dm.array_dataset()
    assert data.sample_shape == (1, 12, 12) and dm.array_dataset() is data
    again = make_datamodule(TrainConfig(dataset="digits"), data)
    again.setup("fit")
    assert again.sample_shape == (1, 12, 12)


def test_helper_runs_can_skip_validation(tmp_path):
    run = TrainConfig(dataset="digits", epochs=1, batch_size=64)
    kept = train_run(run, make_config("simple"), tmp_path / "a", tensorboard=False)
    skipped = train_run(
        run, make_config("simple"), tmp_path / "b", tensorboard=False, validate=False
    )
    assert "val/loss" in kept.train.metrics and "val/loss" not in skipped.train.metrics
    assert skipped.train.checkpoint.is_file()
