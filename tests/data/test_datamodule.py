from pathlib import Path

import pytest
import torch

from autoencoders.data import (
    ArrayDataModule,
    DataError,
    FashionMNISTDataModule,
    TensorBatchLoader,
    TensorImageDataset,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion():
    dm = FashionMNISTDataModule(batch_size=256)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@needs_fashion
def test_fashion_split_sizes_shapes_and_range(fashion):
    assert (len(fashion.mnist_train), len(fashion.mnist_val), len(fashion.mnist_test)) == (
        55000,
        5000,
        10000,
    )
    image, label = fashion.mnist_train[0]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32 and isinstance(label, int)
    x, y = next(iter(fashion.train_dataloader()))
    assert x.shape == (256, 1, 32, 32) and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1 and x.max() == 1
    border = torch.cat(
        [
            x[..., :2, :].flatten(),
            x[..., -2:, :].flatten(),
            x[..., :2].flatten(),
            x[..., -2:].flatten(),
        ]
    )
    assert border.abs().max() == 0, "padding must be zeros"
    assert fashion.num_classes == 10 and fashion.classes[0] == "T-shirt/top"


@needs_fashion
def test_fashion_split_is_deterministic(fashion):
    same = FashionMNISTDataModule(batch_size=256)
    same.setup("fit")
    assert torch.equal(same.mnist_val[torch.arange(50)][0], fashion.mnist_val[torch.arange(50)][0])
    other = FashionMNISTDataModule(batch_size=256, seed=7)
    other.setup("fit")
    assert not torch.equal(
        other.mnist_val[torch.arange(50)][0], fashion.mnist_val[torch.arange(50)][0]
    )


@needs_fashion
def test_fashion_class_exclusion_and_subsets():
    dm = FashionMNISTDataModule(batch_size=64, exclude_class=1)
    dm.setup("fit")
    assert 1 not in dm.train_set.y.unique().tolist() and 1 not in dm.val_set.y.unique().tolist()
    assert 1 in dm.test_set.y.unique().tolist() and len(dm.test_set) == 10000
    assert len(dm.train_set) == pytest.approx(55000 * 0.9, rel=0.02)
    only = FashionMNISTDataModule(batch_size=64, only_class=3, train_size=1000)
    only.setup("fit")
    assert only.train_set.y.unique().tolist() == [3] and len(only.train_set) == 1000


def test_digits_module_defaults():
    dm = ArrayDataModule("digits", batch_size=100)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (1347, 150, 300)
    x, y = dm.full_arrays("test")
    assert x.shape == (300, 1, 8, 8) and x.max() <= 1 and y.shape == (300,)


def test_padding_and_its_errors():
    dm = ArrayDataModule("digits", pad_to=12)
    assert dm.sample_shape == (1, 12, 12)
    with pytest.raises(DataError, match="pad_to=4 is smaller than the 8x8 images"):
        ArrayDataModule("digits", pad_to=4).setup()


def test_loader_covers_each_sample_once_and_is_reproducible():
    ds = TensorImageDataset(
        torch.arange(103, dtype=torch.uint8).view(103, 1), torch.arange(103), 1.0
    )
    loader = TensorBatchLoader(ds, 10, shuffle=True, seed=5)
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert len(loader) == 11 and sorted(first.tolist()) == list(range(103))
    assert not torch.equal(first, second), "epochs must be shuffled differently"
    again = TensorBatchLoader(ds, 10, shuffle=True, seed=5)
    assert torch.equal(torch.cat([y for _, y in again]), first)


def test_loader_ranks_are_disjoint_and_equal():
    ds = TensorImageDataset(torch.zeros(50, 1), torch.arange(50), 1.0)
    shares = [
        torch.cat([y for _, y in TensorBatchLoader(ds, 4, True, 0, rank=r, world_size=3)])
        for r in range(3)
    ]
    assert all(len(s) == 16 for s in shares)
    assert len(set(torch.cat(shares).tolist())) == 48


def test_uint8_scaled_to_unit_range_and_missing_labels():
    ds = TensorImageDataset(torch.tensor([[0], [255]], dtype=torch.uint8), None, 255.0)
    x, y = ds[torch.tensor([0, 1])]
    assert x.tolist() == [[0.0], [1.0]] and y.tolist() == [-1, -1]
