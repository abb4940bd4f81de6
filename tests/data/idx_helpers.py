"""Small MNIST-format IDX files for tests, written from numpy arrays."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

#: file stem -> (number of samples, whether it holds images)
IDX_NAMES = {
    "train-images-idx3-ubyte": (60, True),
    "train-labels-idx1-ubyte": (60, False),
    "t10k-images-idx3-ubyte": (20, True),
    "t10k-labels-idx1-ubyte": (20, False),
}
#: ``IdxSource.md5`` keys, in the order of ``IDX_NAMES``
IDX_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def idx_payload(n: int, images: bool, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (n, 28, 28)) if images else rng.integers(0, 10, n)
    return idx_bytes(array.astype(np.uint8))


def write_idx_set(folder: Path, compress: bool = True) -> dict[str, str]:
    """Writes a small MNIST-style set into ``folder``; returns the md5 of each file by key."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for key, (name, (n, images)) in zip(IDX_KEYS, IDX_NAMES.items(), strict=True):
        data = idx_payload(n, images)
        target = folder / (name + ".gz" if compress else name)
        target.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        sums[key] = hashlib.md5(target.read_bytes()).hexdigest()
    return sums
