import inspect
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from idx_helpers import write_idx_set

from autoencoders.data import (
    ArrayDataModule,
    ArrayDataset,
    DataError,
    DigitsDataModule,
    FashionMNISTDataModule,
    KMNISTDataModule,
    MNISTDataModule,
    TensorBatchLoader,
    load_dataset,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir(),
    reason=f"real Fashion-MNIST not in {FASHION} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion_raw() -> ArrayDataset:
    """Fashion-MNIST as stored (uint8, 28x28), read once for the whole module."""
    if not FASHION.is_dir():
        pytest.skip(f"real Fashion-MNIST not in {FASHION}")
    return load_dataset("fashion-mnist", data_dir=FASHION, download=False)


@pytest.fixture(scope="module")
def fashion(tmp_path_factory) -> FashionMNISTDataModule:
    """The seed-API module, finding Debian's copy on its own (nothing in its data_dir)."""
    if not FASHION.is_dir():
        pytest.skip(f"real Fashion-MNIST not in {FASHION}")
    dm = FashionMNISTDataModule(str(tmp_path_factory.mktemp("empty")), 256, download=False)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def fashion_module(raw: ArrayDataset, **kwargs) -> ArrayDataModule:
    """An ArrayDataModule over the already-read data, set up like FashionMNISTDataModule."""
    dm = ArrayDataModule(raw, pad_to=32, **kwargs)
    dm.setup("fit")
    return dm


def test_seed_api_signature():
    for cls in (MNISTDataModule, FashionMNISTDataModule, KMNISTDataModule):
        params = list(inspect.signature(cls).parameters.values())[:3]
        assert [(p.name, p.default) for p in params] == [
            ("data_dir", "./dataset/"),
            ("batch_size", 32),
            ("train_size", None),
        ]


@needs_fashion
def test_fashion_split_sizes_shapes_and_range(fashion):
    sizes = (len(fashion.mnist_train), len(fashion.mnist_val), len(fashion.mnist_test))
    assert sizes == (55_000, 5_000, 10_000)
    image, label = fashion.mnist_train[0]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32 and isinstance(label, int)
    x, y = next(iter(fashion.train_dataloader()))
    assert x.shape == (256, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1 and x.max() == 1
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert x[..., border].abs().max() == 0, "padding must be zeros"
    assert fashion.num_classes == 10 and fashion.classes[0] == "T-shirt/top"
    assert fashion.sample_shape == (1, 32, 32) and fashion.name == "fashion-mnist"
    assert len(fashion.val_dataloader()) == 5 and len(fashion.test_dataloader()) == 10


@needs_fashion
def test_padding_keeps_the_image_centred(fashion, fashion_raw):
    x, y = fashion.mnist_test[torch.arange(5)]
    assert torch.equal((x[:, :, 2:30, 2:30] * 255).round().to(torch.uint8), fashion_raw.test_x[:5])
    assert torch.equal(y, fashion_raw.test_y[:5])


@needs_fashion
def test_setup_is_idempotent(fashion):
    train = fashion.mnist_train
    fashion.setup("test")
    fashion.setup("fit")
    assert fashion.mnist_train is train


@needs_fashion
def test_fashion_split_is_deterministic(fashion, fashion_raw):
    first = torch.arange(100)
    same = fashion_module(fashion_raw, seed=42)
    a, b = same.val_set, fashion.mnist_val
    assert torch.equal(a[first][0], b[first][0]) and torch.equal(a[first][1], b[first][1])
    assert torch.equal(same.train_set[first][0], fashion.mnist_train[first][0])
    other = fashion_module(fashion_raw, seed=7)
    assert not torch.equal(other.val_set[first][0], fashion.mnist_val[first][0])
    assert len(other.train_set) == 55_000


@needs_fashion
def test_exclude_class_leaves_test_alone(fashion_raw):
    dm = fashion_module(fashion_raw, exclude_class=1)
    assert 1 not in dm.train_set.y.tolist() and 1 not in dm.val_set.y.tolist()
    assert 1 in dm.test_set.y.tolist() and len(dm.test_set) == 10_000
    assert len(dm.train_set) + len(dm.val_set) == 54_000  # 6,000 of each class


@needs_fashion
def test_only_class_and_train_size(fashion_raw, fashion):
    only = fashion_module(fashion_raw, only_class=3, train_size=1000)
    assert only.train_set.y.unique().tolist() == [3] == only.val_set.y.unique().tolist()
    assert len(only.train_set) == 1000 and len(only.test_set) == 10_000
    small = fashion_module(fashion_raw, train_size=500)
    assert len(small.train_set) == 500 and len(small.val_set) == 5_000
    assert torch.equal(
        small.train_set[torch.arange(500)][0], fashion.mnist_train[torch.arange(500)][0]
    )


def test_notebook_style_mnist_module_in_torchvision_layout(tmp_path):
    write_idx_set(tmp_path / "dataset" / "MNIST" / "raw")
    dm = MNISTDataModule(str(tmp_path / "dataset"), 8, 30, download=False)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.mnist_train), len(dm.mnist_val), len(dm.mnist_test)) == (30, 6, 20)
    image, _ = dm.mnist_val[0]
    assert image.shape == (1, 32, 32) and 0 <= image.min() and image.max() <= 1
    assert len(dm.train_dataloader()) == 4


def test_digits_module_defaults():
    dm = DigitsDataModule()
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (1347, 150, 300)
    x, y = dm.full_arrays("test")
    assert x.shape == (300, 1, 8, 8) and x.max() == 1 and x.min() == 0 and y.shape == (300,)
    assert dm.num_classes == 10


def test_val_size_as_fraction():
    dm = ArrayDataModule("digits", val_size=0.2)
    dm.setup()
    assert len(dm.val_set) == round(1497 * 0.2)


def test_padding_and_its_errors():
    assert ArrayDataModule("digits", pad_to=12).sample_shape == (1, 12, 12)
    with pytest.raises(DataError, match="pad_to=4 is smaller than the 8x8 images"):
        ArrayDataModule("digits", pad_to=4).setup()
    flat = ArrayDataset("flat", torch.zeros(20, 5), None, torch.zeros(4, 5), None, 1.0)
    with pytest.raises(
        DataError, match=r"pad_to applies to images; flat has samples of shape \(5,\)"
    ):
        ArrayDataModule(flat, pad_to=8).setup()
    with pytest.raises(DataError, match="flat has no labels"):
        ArrayDataModule(flat, exclude_class=0).setup()


def test_unlabelled_features_give_minus_one_labels(tmp_path):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((100, 3)).astype(np.float32))
    dm = ArrayDataModule(str(tmp_path / "f.npy"), batch_size=16)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 3) and (y == -1).all() and dm.num_classes == 0


def test_trains_under_lightning():
    """Lightning accepts the loaders and moves through epochs with them."""

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(64, 64)
            self.seen = []

        def training_step(self, batch, _):
            x, y = batch
            self.seen.append(y)
            flat = x.flatten(1)
            return torch.nn.functional.mse_loss(self.net(flat), flat)

        def validation_step(self, batch, _):
            x, _ = batch
            self.log("val", self.net(x.flatten(1)).mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    dm = DigitsDataModule(batch_size=512)
    model = Tiny()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert isinstance(trainer.train_dataloader, TensorBatchLoader)
    per_epoch = len(dm.train_dataloader())
    epochs = [torch.cat(model.seen[:per_epoch]), torch.cat(model.seen[per_epoch:])]
    assert all(len(e) == len(dm.train_set) for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])


def test_a_lone_last_training_sample_is_left_out_so_batch_norm_can_train():
    data = ArrayDataset("rows", torch.rand(65, 6), None, torch.rand(4, 6), None, 1.0)
    dm = ArrayDataModule(data, batch_size=32, val_size=0)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert [len(x) for x, _ in loader] == [32, 32]
    # a new permutation each epoch: the sample left out changes
    left_out = [set(range(65)) - set(loader.indices(epoch)[:64].tolist()) for epoch in (0, 1, 2)]
    assert len({s.pop() for s in left_out}) > 1
    # two left over is a batch BatchNorm can use: kept
    dm = ArrayDataModule(data, batch_size=21, val_size=0)
    dm.setup("fit")
    assert [len(x) for x, _ in dm.train_dataloader()] == [21, 21, 21, 2]


def test_deep_model_trains_when_the_data_leaves_one_sample_over():
    from autoencoders.models import build_model, make_config
    from autoencoders.training import make_trainer

    data = ArrayDataset("rows", torch.rand(65, 6), None, torch.rand(4, 6), None, 1.0)
    dm = ArrayDataModule(data, batch_size=32, val_size=0)
    model = build_model(make_config("deep", input_shape=(6,), latent_dim=2, num_layers=2))
    trainer = make_trainer(1, logger=False, progress_bar=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
