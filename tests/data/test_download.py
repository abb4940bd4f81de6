import dataclasses
import hashlib
import socket

import pytest
import torch
from idx_helpers import IDX_NAMES, write_idx_set

from autoencoders.data import IDX_SOURCES, DataError, fetch, load_dataset


def closed_port_url() -> str:
    with socket.socket() as s:  # bound, never listening, then closed: nobody answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def mnist_mirror(http_folder, monkeypatch):
    """MNIST's mirror replaced by the local server, serving a small set with known md5s."""
    url, served, requests = http_folder
    sums = write_idx_set(served)
    source = dataclasses.replace(IDX_SOURCES["mnist"], mirrors=(url,), md5=sums)
    monkeypatch.setitem(IDX_SOURCES, "mnist", source)
    return served, requests


def test_download_caches_and_reuses(mnist_mirror, tmp_path):
    _, requests = mnist_mirror
    data = load_dataset("mnist", data_dir=tmp_path / "data")
    assert data.train_x.shape == (60, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert len(requests) == 4
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in IDX_NAMES)
    again = load_dataset("mnist", data_dir=tmp_path / "data")
    assert len(requests) == 4, "a cached data set must not be downloaded again"
    assert torch.equal(again.train_x, data.train_x)


def test_download_goes_to_the_cache_without_data_dir(mnist_mirror, tmp_path):
    _, requests = mnist_mirror
    load_dataset("mnist")
    assert (tmp_path / "cache" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()
    load_dataset("mnist")
    assert len(requests) == 4


def test_partial_download_fetches_only_what_is_missing(mnist_mirror, tmp_path):
    served, requests = mnist_mirror
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes((served / name).read_bytes())
    load_dataset("mnist", data_dir=tmp_path / "data")
    assert sorted(requests) == ["/t10k-images-idx3-ubyte.gz", "/t10k-labels-idx1-ubyte.gz"]


def test_corrupt_download_is_rejected_and_removed(mnist_mirror, tmp_path):
    served, _ = mnist_mirror
    victim = served / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")
    with pytest.raises(
        DataError,
        match=r"checksum mismatch for http://127.0.0.1:\d+/train-labels-idx1-ubyte.gz: "
        r"expected md5 [0-9a-f]{32}, got [0-9a-f]{32}; the corrupt download was deleted",
    ):
        load_dataset("mnist", data_dir=tmp_path / "data")
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert not (raw / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in raw.iterdir() if p.name.endswith(".part")]


def test_no_network_lists_where_it_looked(tmp_path, monkeypatch):
    dead = dataclasses.replace(IDX_SOURCES["kmnist"], mirrors=(closed_port_url(),))
    monkeypatch.setitem(IDX_SOURCES, "kmnist", dead)
    with pytest.raises(DataError) as info:
        load_dataset("kmnist", data_dir=tmp_path / "mine")
    message = str(info.value)
    assert "kmnist is not on this machine and could not be downloaded" in message
    assert "train-images-idx3-ubyte[.gz]" in message
    for searched in (
        tmp_path / "mine" / "KMNIST" / "raw",
        tmp_path / "mine",
        tmp_path / "mine" / "kmnist",
        tmp_path / "cache" / "KMNIST" / "raw",
    ):
        assert f"\n  {searched}\n" in message
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert "--data-dir" in message and "Traceback" not in message
    assert not list((tmp_path / "mine" / "KMNIST" / "raw").iterdir()), "no partial files left"


def test_fashion_error_suggests_the_debian_package(tmp_path, monkeypatch):
    dead = dataclasses.replace(
        IDX_SOURCES["fashion-mnist"], mirrors=(closed_port_url(),), system_dirs=()
    )
    monkeypatch.setitem(IDX_SOURCES, "fashion-mnist", dead)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


def test_download_off_says_so(tmp_path):
    with pytest.raises(DataError, match="downloading is switched off"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_fetch_tries_the_next_mirror_and_accepts_sha256(http_folder, tmp_path):
    url, served, requests = http_folder
    (served / "blob.bin").write_bytes(b"hello data")
    sha = hashlib.sha256(b"hello data").hexdigest()
    path = fetch("blob.bin", [url + "missing/", url], tmp_path / "out", sha)
    assert path.read_bytes() == b"hello data"
    assert requests == ["/missing/blob.bin", "/blob.bin"]


def test_fetch_reuses_a_good_file_and_replaces_a_bad_one(http_folder, tmp_path):
    url, served, requests = http_folder
    (served / "blob.bin").write_bytes(b"right")
    md5 = hashlib.md5(b"right").hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    (out / "blob.bin").write_bytes(b"right")
    fetch("blob.bin", [url], out, md5)
    assert requests == []
    (out / "blob.bin").write_bytes(b"wrong")
    fetch("blob.bin", [url], out, md5)
    assert requests == ["/blob.bin"] and (out / "blob.bin").read_bytes() == b"right"


def test_fetch_names_every_failed_mirror(http_folder, tmp_path):
    url, _, _ = http_folder
    dead = closed_port_url()
    with pytest.raises(DataError) as info:
        fetch("nothing.gz", [url, dead], tmp_path, None, timeout=2)
    message = str(info.value)
    assert f"{url}nothing.gz: HTTP 404" in message and f"{dead}nothing.gz: " in message


def test_fetch_rejects_a_malformed_checksum(tmp_path):
    with pytest.raises(ValueError, match="neither an md5"):
        fetch("x", ["http://127.0.0.1:9/"], tmp_path, "abc")
