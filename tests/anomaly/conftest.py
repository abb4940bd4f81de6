"""The anomaly tests' shared folder of the MVTec AD layout (written by ``_mvtec``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mvtec import write_mvtec


@pytest.fixture(scope="session")
def mvtec_dir(tmp_path_factory) -> Path:
    """A layout of 60 training T-shirts, 8 good and 16 defective test images, with masks."""
    return write_mvtec(tmp_path_factory.mktemp("mvtec") / "shirts")
