"""Samples read from a memory-mapped ``.npy`` file a batch at a time, and when to do so.

Data that fits in memory is loaded whole (indexing a resident tensor is the
fastest batch there is); data that does not is memory-mapped, and
:class:`MappedRows` stands where the resident tensor would: the splits are
index permutations into the one map, and each batch is gathered from it only
when a step asks for it, as the stored dtype (uint8 stays uint8 until the batch
is converted to float). The pages read stay in the kernel's page cache, which
it reclaims under memory pressure, so resident memory does not grow with the
data.

:func:`memory_limit` is the memory this process may use (the machine's
available memory, or a cgroup's limit where one is lower); data whose samples
take more than :data:`RESIDENT_SHARE` of it is memory-mapped under
``memory_map="auto"``.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autoencoders.run_config import MEMORY_MAP_MODES

#: share of :func:`memory_limit` that data may take and still be loaded whole: a
#: resident run holds the data about twice (the file's array, then its splits),
#: and the model, the optimizer and torch itself need the rest
RESIDENT_SHARE = 0.25
#: dtypes stored as they are in a map (others would need a converted copy)
MAPPABLE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))
#: samples per chunk when a whole split is scanned (value ranges, NaN checks)
CHUNK_BYTES = 64 * 2**20


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 ``memory.max`` or v1), None if unlimited."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        group = group.lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy
            candidates.append(Path("/sys/fs/cgroup", group, "memory.max"))
        elif "memory" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/memory", group, "memory.limit_in_bytes"))
    limits = []
    for path in candidates:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 writes "no limit" as a huge number
            limits.append(int(text))
    return min(limits) if limits else None


def memory_limit() -> int:
    """Bytes of memory this process may take: available memory, or its cgroup's limit if lower."""
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 2**63
    limit = _cgroup_limit()
    return min(available, limit) if limit is not None else available


def fits_in_memory(nbytes: int, share: float = RESIDENT_SHARE) -> bool:
    """Whether data of ``nbytes`` may be loaded whole (at most ``share`` of :func:`memory_limit`)."""
    return nbytes <= share * memory_limit()


class MappedRows:
    """Samples of a memory-mapped ``.npy`` file, read only when asked for.

    ``rows[index]`` (an index tensor, slice or int) is another view of the same
    map, nothing read; :meth:`read` gathers samples into a tensor of the stored
    dtype, with zero padding (``padded``) added per batch. It pickles as the
    file's path and the indices, not the data (DDP spawn, DataLoader workers).

    Args:
        path: the ``.npy`` file.
        offset: where its data starts (after the header).
        dtype: its values' dtype (one of :data:`MAPPABLE_DTYPES`).
        shape: the samples' shape in the file, ``(N, ...)``.
        sample_shape: the shape a sample is read as (the file's, with a channel
            axis added where the data set wants one; same number of values).
        index: the rows of the file this view holds, in order (None: all).
        pad: zero padding ``(left, right, top, bottom)`` of images.
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        dtype: np.dtype,
        shape: tuple[int, ...],
        sample_shape: tuple[int, ...] | None = None,
        index: torch.Tensor | None = None,
        pad: tuple[int, int, int, int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.file_dtype = np.dtype(dtype)
        self.file_shape = tuple(int(d) for d in shape)
        self.stored_shape = tuple(sample_shape) if sample_shape else self.file_shape[1:]
        if int(np.prod(self.stored_shape)) != int(np.prod(self.file_shape[1:])):
            raise ValueError(f"cannot read samples of {self.file_shape[1:]} as {sample_shape}")
        self.index = index
        self.pad = pad
        self._array: np.ndarray | None = None

    # ------------------------------------------------------------ the map
    @property
    def array(self) -> np.ndarray:
        """The whole file as a read-only map, samples of :attr:`stored_shape` (opened once).

        Batches touch rows all over the file, so the kernel is told to expect
        random reads (``MADV_RANDOM``): a page fault then reads that page, not
        the 128 KB or more of read-ahead that sequential reading gets, which on
        data larger than memory made every sample cost a long read from disk.
        """
        if self._array is None:
            self._array = self._open(random=True)
        return self._array

    def _open(self, random: bool) -> np.ndarray:
        """A read-only map of the file's samples; ``random``: advise random access."""
        count = int(np.prod(self.file_shape))
        if count == 0:
            return np.empty((0, *self.stored_shape), dtype=self.file_dtype)
        with open(self.path, "rb") as f:
            whole = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if random and hasattr(mmap, "MADV_RANDOM"):  # not on every platform
            whole.madvise(mmap.MADV_RANDOM)
        values = np.frombuffer(whole, self.file_dtype, count, self.offset)
        return values.reshape((self.file_shape[0], *self.stored_shape))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_array"] = None  # reopened where unpickled: the map is never copied
        return state

    def _view(self, index: torch.Tensor | None, pad: tuple[int, int, int, int] | None):
        view = MappedRows(
            self.path, self.offset, self.file_dtype, self.file_shape, self.stored_shape, index, pad
        )
        view._array = self._array
        return view

    # ----------------------------------------------------- tensor-like facts
    def rows(self) -> torch.Tensor:
        """The file's row of each sample of this view."""
        return self.index if self.index is not None else torch.arange(self.file_shape[0])

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else self.file_shape[0]

    @property
    def shape(self) -> torch.Size:
        sample = self.stored_shape
        if self.pad is not None:
            left, right, top, bottom = self.pad
            sample = (*sample[:-2], sample[-2] + top + bottom, sample[-1] + left + right)
        return torch.Size((len(self), *sample))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8 if self.file_dtype == np.uint8 else torch.float32

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.shape[1:])) * self.file_dtype.itemsize

    def __getitem__(self, key: torch.Tensor | slice | int) -> MappedRows:
        """The samples ``key`` picks, as another view (nothing is read)."""
        rows = self.rows()
        picked = rows[key] if not isinstance(key, int) else rows[key : key + 1]
        return self._view(picked, self.pad)

    def padded(self, pad: tuple[int, int, int, int]) -> MappedRows:
        """This view with images zero-padded by ``(left, right, top, bottom)`` when read."""
        return self._view(self.index, pad)

    def joined(self, other: MappedRows) -> MappedRows:
        """This view's samples followed by ``other``'s (both of the same file)."""
        if other.path != self.path or other.offset != self.offset:
            raise ValueError("can only join views of one file")
        return self._view(torch.cat([self.rows(), other.rows()]), self.pad)

    # ------------------------------------------------------------ reading
    def read(self, key: torch.Tensor | slice | int | None = None) -> torch.Tensor:
        """Samples of this view (``key`` of them, or all) as a tensor of the stored dtype.

        An int gives one sample without the batch axis. Rows are read from the
        file in ascending order (sequential reads on a cold cache), then put
        back in the order asked for.
        """
        rows = self.rows() if key is None else self.rows()[key]
        one = rows.dim() == 0
        wanted = rows.reshape(-1).numpy()
        order = np.argsort(wanted, kind="stable")
        values = np.empty((len(wanted), *self.stored_shape), dtype=self.file_dtype)
        values[order] = self.array[wanted[order]]
        x = torch.from_numpy(values)
        if self.pad is not None:
            x = F.pad(x, self.pad)
        return x[0] if one else x

    def chunks(self) -> Iterator[torch.Tensor]:
        """All samples of this view, a few megabytes at a time (for scans over a split).

        Read through a map of its own, in file order, with the kernel's usual
        read-ahead: a scan reads the file from start to end.
        """
        scan = self._view(None, self.pad)
        scan._array = self._open(random=False)
        rows = torch.sort(self.rows()).values
        per = max(1, CHUNK_BYTES // max(1, self.nbytes // max(1, len(self))))
        for start in range(0, len(self), per):
            yield scan.read(rows[start : start + per])


def row_chunks(x: torch.Tensor | MappedRows) -> Iterator[torch.Tensor]:
    """``x`` a chunk of samples at a time: a resident tensor as one, a map in pieces."""
    if isinstance(x, MappedRows):
        yield from x.chunks()
    elif len(x):
        yield x


def is_mapped(x: Any) -> bool:
    """Whether ``x`` is samples read from a map (rather than a resident tensor)."""
    return isinstance(x, MappedRows)


__all__ = [
    "MAPPABLE_DTYPES",
    "MEMORY_MAP_MODES",
    "RESIDENT_SHARE",
    "MappedRows",
    "fits_in_memory",
    "is_mapped",
    "memory_limit",
    "row_chunks",
]
