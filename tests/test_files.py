import os
import stat

import pytest

from autoencoders.files import atomic_path, atomic_write, write_json


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = write_json(tmp_path / "r.json", {"good": 1})

    def broken(f):
        f.write(b"{half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text().strip().startswith("{") and '"good": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_path_creates_parent_folders(tmp_path):
    with atomic_path(tmp_path / "a" / "b" / "c.txt") as tmp:
        tmp.write_text("hi")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "hi"
