"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from autoencoders.errors import RunFolderError

#: a write the disk refused for want of room: full, over a quota, past a file-size limit
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: a folder that refuses new files (read-only mount, permissions), besides :data:`NO_ROOM`
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    """Creates an empty hidden temporary file in ``path``'s folder (made if missing).

    ``mkstemp`` creates files readable by their owner only; the file gets the
    permissions an ordinary new file would have, so the final file does too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path, size: int | None = None) -> Iterator[Path]:
    """Yields a temporary path in ``path``'s folder; on success it replaces ``path``.

    The temporary file is removed if the body raises, and the old ``path`` (if
    any) stays intact until the new file is complete. A disk that refuses the
    write (full, a quota, a read-only folder) raises :class:`RunFolderError`
    naming ``path`` and the space at stake (``size``: the bytes to be written,
    where the caller knows them).
    """
    path = Path(path)
    try:
        tmp = temp_beside(path)
    except OSError as err:
        if err.errno in NO_ROOM | NOT_WRITABLE:
            raise write_refused(path, err, size) from None
        raise
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        # a body's own EACCES may be about another file; only these are surely this write's
        if isinstance(err, OSError) and err.errno in NO_ROOM | {errno.EROFS}:
            raise write_refused(path, err, size) from None
        raise


def write_refused(path: Path, err: OSError, size: int | None = None) -> RunFolderError:
    """The one-line error of a write the disk refused: the path, the room needed and free."""
    reason = (err.strerror or str(err)).lower()
    room = []
    if size is not None:
        room.append(f"it needs {human_size(size)}")
    with contextlib.suppress(OSError):
        room.append(f"{human_size(shutil.disk_usage(_existing_folder(path)).free)} free there")
    detail = f" ({', '.join(room)})" if room and err.errno in NO_ROOM else ""
    kept = f"; the earlier {path.name} is unchanged" if path.exists() else ""
    fix = "free some space" if err.errno in NO_ROOM else "make the folder writable"
    return RunFolderError(f"cannot write {path}: {reason}{detail}; {fix} or write elsewhere{kept}")


def human_size(n: int) -> str:
    """A byte count as people read it: 812 B, 45.3 kB, 1.2 MB."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _existing_folder(path: Path) -> Path:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def atomic_write(
    path: str | Path, write: Callable[[IO[bytes]], Any], size: int | None = None
) -> Path:
    """Calls ``write(file)`` on a temporary file that then replaces ``path``.

    ``size``, the bytes ``write`` will write if known, goes into the message of a full disk.
    """
    with atomic_path(path, size) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    """Writes ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data), size=len(data))


def write_json(path: str | Path, data: Any) -> Path:
    """Writes ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))
