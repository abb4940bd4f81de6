import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

IDX_NAMES = {
    "train-images-idx3-ubyte": (60, True),
    "train-labels-idx1-ubyte": (60, False),
    "t10k-images-idx3-ubyte": (20, True),
    "t10k-labels-idx1-ubyte": (20, False),
}


def idx_payload(n: int, images: bool, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (n, 28, 28)) if images else rng.integers(0, 10, n)
    array = array.astype(np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.tobytes()


def write_idx_set(folder: Path, compress: bool = True) -> dict[str, str]:
    """Writes a small MNIST-style set into ``folder``; returns md5 of each written file."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, (n, images) in IDX_NAMES.items():
        data = idx_payload(n, images)
        target = folder / (name + ".gz" if compress else name)
        target.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        sums[name] = hashlib.md5(target.read_bytes()).hexdigest()
    return sums


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every data test gets its own empty download cache."""
    monkeypatch.setenv("AUTOENCODERS_DATA", str(tmp_path / "cache"))
