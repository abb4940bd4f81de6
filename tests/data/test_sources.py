import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from idx_helpers import IDX_NAMES, write_idx, write_idx_set
from PIL import Image

from autoencoders.data import (
    DATASETS,
    IDX_SOURCES,
    ArrayDataset,
    DataError,
    cache_dir,
    load_dataset,
)


@pytest.mark.parametrize("layout", ["torchvision", "plain", "raw-files"])
def test_local_copies_found_without_download(tmp_path, layout):
    folder = {
        "torchvision": tmp_path / "MNIST" / "raw",
        "plain": tmp_path,
        "raw-files": tmp_path / "mnist",
    }[layout]
    write_idx_set(folder, compress=layout != "raw-files")
    data = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert data.train_x.shape == (60, 1, 28, 28) and data.train_x.dtype == torch.uint8


def test_torchvision_layout_wins_over_the_plain_folder(tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw")
    for name, (n, images) in IDX_NAMES.items():  # a plain copy of all-zero images
        write_idx(tmp_path / name, np.zeros((n, 28, 28) if images else n, dtype=np.uint8))
    assert load_dataset(tmp_path, download=False).train_x.max() == 0
    data = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert data.train_x.max() > 0, "the torchvision copy (random pixels) must be used"


def test_local_copy_in_the_cache_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOENCODERS_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "autoencoders"
    write_idx_set(tmp_path / "xdg" / "autoencoders" / "KMNIST" / "raw")
    assert len(load_dataset("kmnist", download=False).train_x) == 60


def test_a_local_set_of_the_wrong_image_size_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    write_idx_set(folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 8, 8), dtype=np.uint8))
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((60, 8, 8), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz holds 8x8 images, but mnist"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_system_folder_is_trusted_but_its_counts_are_checked(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "usr-share")
    source = dataclasses.replace(IDX_SOURCES["mnist"], system_dirs=(str(tmp_path / "usr-share"),))
    monkeypatch.setitem(IDX_SOURCES, "mnist", source)
    with pytest.raises(DataError, match="hold 60 and 20 images, but mnist has 60,000 and 10,000"):
        load_dataset("mnist", download=False)
    monkeypatch.setitem(
        IDX_SOURCES, "mnist", dataclasses.replace(source, train_count=60, test_count=20)
    )
    assert load_dataset("mnist", download=False).test_x.shape == (20, 1, 28, 28)


def test_datasets_registry_describes_and_loads():
    assert set(DATASETS) == {"mnist", "fashion-mnist", "kmnist", "digits", "photo-patches",
                             "photo-patches-grey"}  # fmt: skip
    assert all(info.description for info in DATASETS.values())
    digits = DATASETS["digits"].load(None, False)
    assert isinstance(digits, ArrayDataset) and digits.is_image
    assert digits.sample_shape == (1, 8, 8) and digits.train_x.max() == 16


def test_folder_with_some_idx_files_says_which_are_missing(tmp_path):
    write_idx_set(tmp_path / "part")
    (tmp_path / "part" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"holds .* but not t10k-labels-idx1-ubyte"):
        load_dataset(tmp_path / "part")


def test_folder_of_idx_files_as_a_path(tmp_path):
    write_idx_set(tmp_path / "mine")
    data = load_dataset(tmp_path / "mine")
    assert data.name == "mine" and len(data.test_x) == 20


def test_unknown_name_lists_valid_ones():
    with pytest.raises(DataError) as info:
        load_dataset("cifar")
    message = str(info.value)
    assert "unknown data set 'cifar': choose one of digits, mnist, fashion-mnist, kmnist" in message
    assert ".npy/.npz" in message and ".csv/.parquet" in message and "IDX" in message


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError, match="empty: the folder holds no data; expected a folder of the four IDX"
    ):
        load_dataset(tmp_path / "empty")


def test_digits_split_is_fixed():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert len(a.train_x) == 1497 and len(a.test_x) == 300 and a.scale == 16.0
    assert torch.equal(a.test_y, b.test_y)


def test_npy_images_unlabelled(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 6, 6)).astype(np.float32))
    data = load_dataset(tmp_path / "x.npy")
    assert data.sample_shape == (1, 6, 6) and data.train_y is None and len(data.test_x) == 5


def test_npz_with_labels_and_test_split(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x=rng.random((30, 4)),
        y=np.arange(30) % 3,
        x_test=rng.random((7, 4)),
        y_test=np.zeros(7),
    )
    data = load_dataset(tmp_path / "d.npz")
    assert (
        data.sample_shape == (4,)
        and len(data.test_x) == 7
        and data.train_y.tolist()[:3] == [0, 1, 2]
    )


def test_npz_without_x_and_label_count_mismatch(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 4)))
    with pytest.raises(DataError, match="needs an array named 'x'"):
        load_dataset(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 4)), y=np.zeros(2))
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        load_dataset(tmp_path / "b.npz")


def test_signals_from_npy(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((20, 100), dtype=np.float32))
    assert load_dataset(tmp_path / "s.npy", kind="signal").sample_shape == (1, 100)


def test_csv_and_parquet_tables(tmp_path):
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.ones(20), "label": np.arange(20) % 2})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        data = load_dataset(tmp_path / name)
        assert data.sample_shape == (2,) and data.train_y is not None and data.scale == 1.0


def test_table_with_text_column_names_it(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0], "colour": ["red", "blue"]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    with pytest.raises(DataError, match="column 'colour' is not numeric"):
        load_dataset(tmp_path / "t.csv")


def test_table_with_named_classes(tmp_path):
    frame = pd.DataFrame({"a": np.arange(10.0), "label": ["dog", "cat"] * 5})
    frame.to_csv(tmp_path / "named.csv", index=False)
    data = load_dataset(tmp_path / "named.csv")
    assert data.classes == ("cat", "dog")
    labels = torch.cat([data.train_y, data.test_y])
    features = torch.cat([data.train_x, data.test_x])[:, 0]
    assert torch.equal(labels, (features.long() % 2 == 0).long())


def test_npy_is_loaded_without_pickle(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"obj\.npy: cannot read it without unpickling"):
        load_dataset(tmp_path / "obj.npy")


def test_image_folder(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((9, 7), 40 * i, dtype=np.uint8)).save(
                tmp_path / "imgs" / cls / f"{i}.png"
            )
    data = load_dataset(tmp_path / "imgs")
    assert data.sample_shape == (1, 9, 7) and data.classes == ("cats", "dogs")
    assert len(data.train_x) + len(data.test_x) == 10


def test_image_folder_with_mismatched_sizes_names_the_file(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "imgs" / "a" / "1.png")
    Image.fromarray(np.zeros((9, 8), dtype=np.uint8)).save(tmp_path / "imgs" / "a" / "2.png")
    with pytest.raises(DataError, match=r"2.png is 8x9 but .*1.png is 8x8"):
        load_dataset(tmp_path / "imgs")


def test_unsupported_file_type(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_dataset(tmp_path / "x.txt")
