"""Training data read through a memory map: same batches as resident data, flat memory."""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from autoencoders.data import ArrayDataModule, DataError, TensorBatchLoader, load_dataset
from autoencoders.data.mapped import MappedRows, memory_limit

CLI = [sys.executable, "-m", "autoencoders.cli"]


def _save_images(path: Path, n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 256, (n, 12, 10), dtype=np.uint8)
    np.save(path, x)
    return x


def test_mapped_batches_equal_resident_ones_and_nothing_is_copied(tmp_path):
    path = tmp_path / "x.npy"
    _save_images(path, 300)
    batches = {}
    for mode in ("never", "always"):
        dm = ArrayDataModule(str(path), batch_size=32, val_size=30, memory_map=mode)
        dm.setup()
        assert isinstance(dm.train_set.x, MappedRows) == (mode == "always")
        batches[mode] = [b[0] for b in dm.train_dataloader()]
        assert dm.sample_shape == (1, 12, 10)
        all_x, _, rows = dm.rows("all")
        batches[mode + " all"] = [all_x]
        assert torch.equal(rows, torch.arange(300))
    for a, b in zip(batches["never"], batches["always"], strict=True):
        assert a.dtype == torch.float32 and torch.equal(a, b)
    assert torch.equal(batches["never all"][0], batches["always all"][0])
    mapped = ArrayDataModule(str(path), batch_size=32, val_size=30, memory_map="always")
    mapped.setup()
    train = mapped.train_set.x
    # the split is indices into the one map, whose pages are the file's (not a copy)
    assert isinstance(train, MappedRows) and train.index is not None
    base = train.array
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    assert isinstance(base, mmap.mmap) and not train.array.flags.writeable
    # pickling (DDP spawn, loader workers) carries the path and indices, never the data
    assert len(pickle.dumps(train)) < 300 * 120 // 4
    assert torch.equal(pickle.loads(pickle.dumps(train)).read(), train.read())


def test_mapped_float_data_is_scaled_per_batch_as_resident_data_is(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.random.default_rng(1).normal(3.0, 2.0, (200, 5)).astype(np.float32))
    firsts = []
    for mode in ("never", "always"):
        dm = ArrayDataModule(str(path), batch_size=16, val_size=20, memory_map=mode)
        dm.setup()
        x, _ = next(iter(dm.train_dataloader()))
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        firsts.append((x, dm.scaler.to_dict()))
    assert torch.allclose(firsts[0][0], firsts[1][0], atol=1e-6)
    assert firsts[0][1] == firsts[1][1]


def test_nan_in_a_mapped_file_is_named_by_sample_and_position(tmp_path):
    x = np.zeros((50, 4), dtype=np.float32)
    x[37, 2] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match=r"1 value is NaN or infinite .* sample 37, position 2"):
        load_dataset(tmp_path / "nan.npy", memory_map="always")


def test_a_truncated_file_is_refused_before_it_is_mapped(tmp_path):
    path = tmp_path / "cut.npy"
    _save_images(path, 100)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated or corrupt: save it again"):
        load_dataset(path, memory_map="always")


def test_a_fortran_order_file_too_large_to_load_is_refused_from_its_header(tmp_path):
    # Fortran order cannot be mapped; this file claims more values than memory holds,
    # so it is refused from its header alone, before anything is read
    path = tmp_path / "f_order.npy"
    header = {"descr": "<f4", "fortran_order": True, "shape": (memory_limit() // 8 + 1, 8)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
    with pytest.raises(DataError, match=r"does not fit in the memory available.*ascontiguousarray"):
        load_dataset(path)


def test_a_small_fortran_order_file_is_still_loaded_whole(tmp_path):
    x = np.asfortranarray(np.random.default_rng(2).random((40, 6), dtype=np.float32))
    np.save(tmp_path / "f.npy", x)
    data = load_dataset(tmp_path / "f.npy", memory_map="always")
    assert isinstance(data.train_x, torch.Tensor) and data.train_x.is_contiguous()


# ------------------------------------------------------- under a memory limit
#: bytes the limit allows: above what torch, Lightning and the package take
#: resident for a small model (measured about 450 MB), below the file's size
LIMIT = 640 * 2**20
#: the file: 1.25x the limit, so loading it whole cannot fit
FILE_BYTES = 800 * 2**20


def _own_memory_cgroup() -> Path | None:
    """This process's cgroup v1 memory folder, where one is mounted."""
    root = Path("/sys/fs/cgroup/memory")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = root / group.lstrip("/")
            return folder if folder.is_dir() else None
    return None


@pytest.fixture
def limited_group():
    """A child memory cgroup limited to LIMIT bytes (skipped where none can be made)."""
    parent = _own_memory_cgroup()
    if parent is None:
        pytest.skip("no cgroup v1 memory controller at /sys/fs/cgroup/memory")
    group = parent / f"autoencoders-test-{os.getpid()}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(LIMIT))
    except OSError as err:
        shutil.rmtree(group, ignore_errors=True)
        pytest.skip(f"cannot create a memory cgroup under {parent} ({err.strerror or err})")
    try:
        yield group
    finally:
        group.rmdir()


def _train_in(group: Path, data: Path, out: Path, memory_map: str) -> subprocess.CompletedProcess:
    """``autoencoders train`` as a member of cgroup ``group`` from its first instruction."""
    command = [
        *CLI, "train", "--dataset", str(data), "--model", "simple", "--memory-map", memory_map,
        "--max-steps", "6", "--batch-size", "64", "--output", str(out), "--threads", "1",
        "--no-progress",
    ]  # fmt: skip
    # the shell joins the group, then becomes the command: nothing runs outside the limit
    wrapper = f'echo $$ > "{group / "cgroup.procs"}" && exec "$@"'
    return subprocess.run(
        ["sh", "-c", wrapper, "sh", *command], capture_output=True, text=True, timeout=300
    )


def test_training_on_a_file_larger_than_the_memory_limit(limited_group, tmp_path):
    data = tmp_path / "big.npy"
    n = FILE_BYTES // (28 * 28)
    out = np.lib.format.open_memmap(data, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    pattern = (np.arange(65536 * 28 * 28) % 251).astype(np.uint8).reshape(65536, 28, 28)
    for start in range(0, n, len(pattern)):
        out[start : start + len(pattern)] = pattern[: n - start]
    out.flush()
    del out
    assert data.stat().st_size > LIMIT
    # the default (memory_map auto) reads the cgroup's limit and maps the file
    done = _train_in(limited_group, data, tmp_path / "runs", "auto")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reached the step budget (--max-steps 6)" in done.stdout
    peak = int((limited_group / "memory.max_usage_in_bytes").read_text())
    assert peak <= LIMIT
    # the same file loaded whole does not fit: the limit is real, so the run above proves it
    whole = _train_in(limited_group, data, tmp_path / "runs-whole", "never")
    assert whole.returncode in (-9, 137), (whole.returncode, whole.stderr[-2000:])


def test_reading_a_whole_mapped_split_is_refused_where_it_cannot_fit(tmp_path, monkeypatch, caplog):
    path = tmp_path / "x.npy"
    _save_images(path, 300)  # 300 samples of 120 values: 144,000 bytes as float32
    dm = ArrayDataModule(str(path), batch_size=32, val_size=30, memory_map="always")
    dm.setup()
    monkeypatch.setattr("autoencoders.data.mapped.memory_limit", lambda: 100_000)
    with pytest.raises(DataError, match=r"reads all 300 samples of the 'all' split at once"):
        dm.rows("all")
    monkeypatch.setattr("autoencoders.data.mapped.memory_limit", lambda: 400_000)
    with caplog.at_level("WARNING"):
        x, _, _ = dm.rows("all")
    assert (
        len(x) == 300 and "reading all 300 samples of the memory-mapped 'all' split" in caplog.text
    )


def test_mapped_loaders_share_out_ranks_and_resume_mid_epoch(tmp_path):
    path = tmp_path / "x.npy"
    _save_images(path, 200)
    dm = ArrayDataModule(str(path), batch_size=8, val_size=20, memory_map="always")
    dm.setup()
    train = dm.train_set
    # each of two ranks reads its own half of every epoch, disjoint, from the one map
    shares = [TensorBatchLoader(train, 8, True, seed=5, rank=r, world_size=2) for r in (0, 1)]
    seen = [torch.cat([x for x, _ in loader]) for loader in shares]
    assert len(seen[0]) == len(seen[1]) == len(train) // 2
    whole = train.x.read().float() / 255
    rows = [{int(torch.nonzero((whole == s).flatten(1).all(1))[0]) for s in part} for part in seen]
    assert not rows[0] & rows[1]
    # a loader restored from a mid-epoch state hands out exactly the batches still due
    loader = TensorBatchLoader(train, 8, True, seed=5)
    run = iter(loader)
    for _ in range(3):
        next(run)
    state = loader.state_dict()
    rest = [x for x, _ in run]
    resumed = TensorBatchLoader(train, 8, True, seed=5)
    resumed.load_state_dict(state)
    again = [x for x, _ in resumed]
    assert len(again) == len(rest) and all(
        torch.equal(a, b) for a, b in zip(again, rest, strict=True)
    )


def test_two_ddp_processes_share_a_mapped_file_and_resume(tmp_path):
    path = tmp_path / "x.npy"
    _save_images(path, 400)
    common = [*CLI, "train", "--dataset", str(path), "--memory-map", "always", "--model",
              "simple", "--threads", "1", "--accelerator", "cpu", "--no-progress"]  # fmt: skip
    two = subprocess.run(
        [*common, "--devices", "2", "--strategy", "ddp", "--batch-size", "16", "--epochs", "2",
         "--output", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    [ckpt] = (tmp_path / "runs").rglob("last.ckpt")
    state = torch.load(ckpt, weights_only=True)
    shares = state["samples_per_process"]
    # 400 samples: 40 held out for testing, 36 for validation, 324 to train on, 162 each
    assert shares == [162, 162]
    more = subprocess.run(
        [*CLI, "train", "--resume", str(ckpt.parent.parent), "--epochs", "3", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert more.returncode == 0, more.stderr[-2000:]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
