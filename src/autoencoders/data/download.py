"""Downloading data files: checksummed, written atomically, never half-there."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from autoencoders.data.errors import DataError

log = logging.getLogger(__name__)

TIMEOUT_S = 20.0
CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    filename: str,
    mirrors: Sequence[str],
    dest_dir: Path,
    md5: str | None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Downloads ``filename`` from the first mirror that serves it into ``dest_dir``.

    The file is written to a temporary name and renamed only once its checksum
    matches, so ``dest_dir`` never holds a partial or corrupt file.

    Raises:
        DataError: if every mirror fails (network) or a download's checksum is
            wrong (the bad file is deleted).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / filename
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{filename}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            log.info("downloading %s", url)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda r=resp: r.read(CHUNK), b""):
                    out.write(block)
            if md5 is not None and (got := file_md5(tmp)) != md5:
                raise DataError(
                    f"checksum mismatch for {url}: expected md5 {md5}, got {got}; the corrupt "
                    "download was deleted, try again or copy the file by hand"
                )
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError("could not download " + filename + ":\n  " + "\n  ".join(failures))
