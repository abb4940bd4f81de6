import gzip

import numpy as np
import pytest
from idx_helpers import idx_bytes, write_idx

from autoencoders.data import DataError, read_idx, read_idx_pair


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


def test_raw_file_with_gz_name_is_read_as_raw(tmp_path):
    images = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    path = write_idx(tmp_path / "misnamed.gz", images, compress=False)
    np.testing.assert_array_equal(read_idx(path), images)


def test_empty_file_is_not_idx(tmp_path):
    path = tmp_path / "empty-idx"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty-idx: not an IDX file \(wrong magic number empty\)"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "hdr"
    path.write_bytes(idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))[:9])
    with pytest.raises(DataError, match="hdr: IDX header is truncated"):
        read_idx(path)


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)) + b"\x00")
    with pytest.raises(DataError, match=r"long: header says \(3,\) values \(11 bytes\).*12 bytes"):
        read_idx(path)


def test_pair_checks_dimensions(tmp_path):
    imgs = write_idx(tmp_path / "flat-imgs", np.zeros((5, 4), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match=r"flat-imgs: expected images of shape \(N, H, W\)"):
        read_idx_pair(imgs, labels)
    imgs, labels_2d = write_idx(tmp_path / "imgs", np.zeros((5, 2, 2), dtype=np.uint8)), imgs
    with pytest.raises(DataError, match=r"flat-imgs: expected labels of shape \(N,\)"):
        read_idx_pair(imgs, labels_2d)


def test_pair_gives_int64_labels(tmp_path):
    imgs = write_idx(tmp_path / "imgs", np.zeros((3, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "labels", np.array([0, 9, 4], dtype=np.uint8))
    x, y = read_idx_pair(imgs, labels)
    assert x.dtype == np.uint8 and y.dtype == np.int64 and y.tolist() == [0, 9, 4]
