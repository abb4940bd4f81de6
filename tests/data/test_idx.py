import gzip
import struct

import numpy as np
import pytest

from autoencoders.data import DataError, read_idx, read_idx_pair


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, compress=True):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "imgs", images, compress)
    np.testing.assert_array_equal(read_idx(path), images)


def test_gzip_detected_by_content_not_name(tmp_path):
    images = np.ones((1, 2, 2), dtype=np.uint8)
    path = write_idx(tmp_path / "plain-name", images, compress=True)
    np.testing.assert_array_equal(read_idx(path), images)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    full = gzip.compress(idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8)))
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: the gzip data is truncated"):
        read_idx(path)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(
        DataError, match=r"bad.idx: not an IDX file \(wrong magic number 12340801\)"
    ):
        read_idx(path)


def test_short_raw_file(tmp_path):
    data = idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))
    path = tmp_path / "short"
    path.write_bytes(data[:-7])
    with pytest.raises(DataError, match=r"short: header says \(4, 5, 5\).*truncated or corrupt"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "odd"
    path.write_bytes(b"\x00\x00\x42\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match="unknown IDX data type code 0x42"):
        read_idx(path)


def test_count_mismatch_names_both_files(tmp_path):
    imgs = write_idx(tmp_path / "imgs.gz", np.zeros((5, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match=r"imgs.gz holds 5 images but .*labels.gz holds 4 labels"):
        read_idx_pair(imgs, labels)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "nothing")
