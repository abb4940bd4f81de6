"""Reading IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file starts with two zero bytes, a type code and the number of
dimensions, then one big-endian 32-bit size per dimension, then the values.
Files may be gzip-compressed; the gzip magic bytes decide, not the file name.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from autoencoders.data.errors import DataError

#: IDX type code -> numpy dtype (big-endian where it matters)
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as err:  # a folder of that name, no permission, an I/O error
        raise DataError(
            f"{path}: cannot read it ({err.strerror or err}); check that it is a readable file"
        ) from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"{path}: the gzip data is truncated or corrupt ({err}); delete the file and "
            "download or copy it again"
        ) from None


def read_idx(path: str | Path) -> np.ndarray:
    """Reads one IDX file (raw or gzip) into an array, validating its header and size.

    Raises:
        DataError: naming the file, for a wrong magic number, an unknown type code,
            or a byte count that does not match the header's dimensions.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (wrong magic number {data[:4].hex() or 'empty'}); "
            "expected the MNIST-style IDX format"
        )
    type_code, ndim = data[2], data[3]
    dtype = IDX_TYPES.get(type_code)
    if dtype is None:
        raise DataError(f"{path}: unknown IDX data type code 0x{type_code:02x}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: IDX header is truncated ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: header says {dims} values ({expected} bytes) but the file holds "
            f"{len(data)} bytes; it is truncated or corrupt: delete it and get it again"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=True)


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Reads images and their labels and checks that they belong together.

    Raises:
        DataError: if images are not 3-D, labels not 1-D, or the counts differ.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected images of shape (N, H, W), got {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels: the two files do not belong together"
        )
    return images, labels.astype(np.int64)
