import types

import pytest
import torch

from autoencoders.data import ArrayDataModule, TensorBatchLoader, TensorImageDataset


def numbered(n: int) -> TensorImageDataset:
    """Samples whose label is their index, so batches show which samples they hold."""
    return TensorImageDataset(torch.arange(n, dtype=torch.float32).view(n, 1), torch.arange(n), 1.0)


def epoch_labels(loader: TensorBatchLoader) -> torch.Tensor:
    return torch.cat([y for _, y in loader])


def test_each_sample_once_per_epoch_reproducible_and_epochs_differ():
    loader = TensorBatchLoader(numbered(103), 10, shuffle=True, seed=5)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert len(loader) == 11 and [len(y) for _, y in loader][-1] == 3
    assert sorted(first.tolist()) == list(range(103)) == sorted(second.tolist())
    assert not torch.equal(first, second), "epochs must be shuffled differently"
    again = TensorBatchLoader(numbered(103), 10, shuffle=True, seed=5)
    assert torch.equal(epoch_labels(again), first) and torch.equal(epoch_labels(again), second)
    other_seed = TensorBatchLoader(numbered(103), 10, shuffle=True, seed=6)
    assert not torch.equal(epoch_labels(other_seed), first)


def test_set_epoch_replays_an_epoch_and_is_reachable_through_sampler():
    loader = TensorBatchLoader(numbered(40), 8, shuffle=True, seed=1)
    epochs = [epoch_labels(loader) for _ in range(3)]
    loader.sampler.set_epoch(1)  # what Lightning calls at the start of an epoch
    assert torch.equal(epoch_labels(loader), epochs[1])
    assert loader.batch_sampler is None


def test_unshuffled_keeps_order_and_drop_last():
    loader = TensorBatchLoader(numbered(25), 10, drop_last=True)
    batches = [y.tolist() for _, y in loader]
    assert len(loader) == 2 and batches == [list(range(10)), list(range(10, 20))]


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_are_disjoint_and_equally_long(drop_last):
    world = 3
    loaders = [
        TensorBatchLoader(numbered(50), 5, True, 0, drop_last, rank=r, world_size=world)
        for r in range(world)
    ]
    shares = [epoch_labels(loader) for loader in loaders]
    assert len({len(loader) for loader in loaders}) == 1
    assert len(loaders[0]) == (3 if drop_last else 4)  # 50 // 3 = 16 samples per rank
    assert {len(s) for s in shares} == {15 if drop_last else 16}
    together = torch.cat(shares).tolist()
    assert len(set(together)) == len(together), "ranks must not share samples"


def test_bad_rank_or_batch_size():
    with pytest.raises(ValueError, match="rank=2, world_size=2"):
        TensorBatchLoader(numbered(4), 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        TensorBatchLoader(numbered(4), 0)


def test_uint8_scaled_to_unit_range_and_missing_labels():
    ds = TensorImageDataset(torch.tensor([[0], [51], [255]], dtype=torch.uint8), None, 255.0)
    x, y = ds[torch.tensor([0, 1, 2])]
    assert x.dtype == torch.float32 and x.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    assert y.dtype == torch.int64 and y.tolist() == [-1, -1, -1]
    one, label = ds[1]
    assert one.tolist() == pytest.approx([0.2]) and label == -1 and isinstance(label, int)
    xb, yb = next(iter(TensorBatchLoader(ds, 2)))
    assert xb.max() <= 1.0 and yb.tolist() == [-1, -1]


def test_datamodule_takes_rank_and_world_size_from_its_trainer():
    dm = ArrayDataModule("digits", batch_size=10)
    assert (dm.train_dataloader().rank, dm.train_dataloader().world_size) == (0, 1)
    dm.trainer = types.SimpleNamespace(global_rank=1, world_size=2)
    loader = dm.train_dataloader()
    assert (loader.rank, loader.world_size) == (1, 2)
    assert len(loader) == -(-(len(dm.train_set) // 2) // 10)


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last"),
    [
        (65, 32, False),
        (64, 32, False),
        (65, 32, True),
        (10, 32, False),
        (10, 32, True),
        (0, 4, False),
    ],
)
def test_last_batch_size_matches_the_batches_given(n, batch_size, drop_last):
    ds = TensorImageDataset(torch.zeros(n, 2), None, 1.0)
    loader = TensorBatchLoader(ds, batch_size, drop_last=drop_last)
    sizes = [len(x) for x, _ in loader]
    assert loader.last_batch_size == (sizes[-1] if sizes else 0)
