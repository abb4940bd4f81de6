"""Downloading data files: checksummed, written atomically, never half-there."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from autoencoders.data.errors import DataError
from autoencoders.files import temp_beside

log = logging.getLogger(__name__)

#: seconds to wait for a connection or for the next block of data
TIMEOUT_S = 10.0
CHUNK = 1 << 20
#: length of a hex digest -> the hash that makes it
_ALGORITHMS = {32: "md5", 64: "sha256"}


def _algorithm(checksum: str) -> str:
    try:
        return _ALGORITHMS[len(checksum)]
    except KeyError:
        raise ValueError(
            f"checksum {checksum!r} is neither an md5 (32 hex digits) nor a sha256 (64)"
        ) from None


def file_checksum(path: str | Path, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes, read in blocks.

    Args:
        path: the file.
        algorithm: a :mod:`hashlib` name, e.g. ``"md5"`` or ``"sha256"``.

    Returns:
        The lower-case hex digest.
    """
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: str | Path) -> str:
    """The md5 hex digest of a file (the checksum MNIST-style data sets publish)."""
    return file_checksum(path, "md5")


def fetch(
    filename: str,
    mirrors: Sequence[str],
    dest_dir: str | Path,
    checksum: str | None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Downloads ``filename`` from the first mirror that serves it into ``dest_dir``.

    A file already in ``dest_dir`` whose checksum matches is reused without any
    request. A download is written to a temporary file in ``dest_dir`` and
    renamed (``os.replace``) only once its checksum matches, so ``dest_dir``
    never holds a partial or corrupt file.

    Args:
        filename: the file's name, appended to each mirror's base URL.
        mirrors: base URLs, tried in order until one answers.
        dest_dir: folder the file is saved in (created if missing).
        checksum: expected md5 (32 hex digits) or sha256 (64) of the file's
            bytes; ``None`` skips the check.
        timeout: seconds to wait for a connection or for data.

    Returns:
        The path of the verified file.

    Raises:
        DataError: if every mirror fails (naming each URL and why), a
            download's checksum is wrong (expected and got; the bad file is
            deleted), or ``dest_dir`` cannot be written.
    """
    dest_dir = Path(dest_dir)
    target = dest_dir / filename
    algorithm = _algorithm(checksum) if checksum is not None else "md5"
    if target.is_file():
        try:
            good = checksum is None or file_checksum(target, algorithm) == checksum.lower()
        except OSError as err:
            raise DataError(
                f"{target}: cannot read it ({err.strerror or err}); make it readable or delete it"
            ) from None
        if good:
            log.debug("reusing %s", target)
            return target
        log.warning("%s does not match its %s checksum; downloading it again", target, algorithm)
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            tmp = temp_beside(dest_dir / filename, suffix=".part")
        except OSError as err:
            raise DataError(
                f"{dest_dir}: cannot write the download there ({err.strerror or err}); "
                "choose a writable folder for the data"
            ) from None
        try:
            log.info("downloading %s", url)
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda r=resp: r.read(CHUNK), b""):
                    out.write(block)
            if checksum is not None:
                got = file_checksum(tmp, algorithm)
                if got != checksum.lower():
                    raise DataError(
                        f"checksum mismatch for {url}: expected {algorithm} {checksum}, got "
                        f"{got}; the corrupt download was deleted. Try again later, or copy "
                        "the file by hand"
                    )
            os.replace(tmp, target)
            return target
        except urllib.error.HTTPError as err:
            failures.append(f"{url}: HTTP {err.code} {err.reason}")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {filename}:\n  " + "\n  ".join(failures))
