import dataclasses
import functools
import http.server
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from autoencoders.data import IDX_SOURCES, DataError, load_dataset
from conftest import IDX_NAMES, write_idx_set


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving a small MNIST-format set, wired in as MNIST's mirror."""
    served = tmp_path / "served"
    sums = write_idx_set(served)
    handler = functools.partial(CountingHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    source = dataclasses.replace(
        IDX_SOURCES["mnist"],
        mirrors=(url,),
        md5={
            key: sums[name]
            for key, name in zip(
                ("train_images", "train_labels", "test_images", "test_labels"),
                IDX_NAMES,
                strict=True,
            )
        },
    )
    monkeypatch.setitem(IDX_SOURCES, "mnist", source)
    yield server, served
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_caches_and_reuses(mirror, tmp_path):
    server, _ = mirror
    data = load_dataset("mnist", data_dir=tmp_path / "data")
    assert data.train_x.shape == (60, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert len(server.requests) == 4
    cached = sorted(p.name for p in (tmp_path / "data" / "MNIST" / "raw").iterdir())
    assert cached == sorted(f"{n}.gz" for n in IDX_NAMES)
    again = load_dataset("mnist", data_dir=tmp_path / "data")
    assert len(server.requests) == 4, "a cached data set must not be downloaded again"
    assert torch.equal(again.train_x, data.train_x)


def test_corrupt_download_is_rejected_and_removed(mirror, tmp_path):
    _, served = mirror
    victim = served / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")
    with pytest.raises(DataError, match=r"checksum mismatch for http://127.0.0.1:\d+/train-labels"):
        load_dataset("mnist", data_dir=tmp_path / "data")
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert not (raw / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in raw.iterdir() if p.name.endswith(".part")]


def test_no_network_lists_where_it_looked(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = dataclasses.replace(IDX_SOURCES["kmnist"], mirrors=(f"http://127.0.0.1:{port}/",))
    monkeypatch.setitem(IDX_SOURCES, "kmnist", dead)
    with pytest.raises(DataError) as info:
        load_dataset("kmnist", data_dir=tmp_path / "mine")
    message = str(info.value)
    assert "kmnist is not on this machine and could not be downloaded" in message
    assert str(tmp_path / "mine" / "KMNIST" / "raw") in message
    assert "--data-dir" in message and "Traceback" not in message


def test_download_off_says_so(tmp_path):
    with pytest.raises(DataError, match="downloading is switched off"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


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


def test_folder_of_idx_files_as_a_path(tmp_path):
    write_idx_set(tmp_path / "mine")
    data = load_dataset(tmp_path / "mine")
    assert data.name == "mine" and len(data.test_x) == 20


def test_unknown_name_lists_valid_ones():
    with pytest.raises(DataError, match="unknown data set 'cifar': choose one of digits, mnist"):
        load_dataset("cifar")


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
