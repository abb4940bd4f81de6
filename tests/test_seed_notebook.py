"""The lecture notebook this project grew from runs, as written, against our package.

The notebook is read from the shared seed folder beside the repository (it is
not ours to copy into the repo), split into its code cells and executed in a
real Jupyter kernel, with MNIST-format files in torchvision's layout under
``./dataset/MNIST/raw/``. MNIST cannot be downloaded here, so Fashion-MNIST's
files (the same IDX format) stand in for it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEED_DIR = Path(os.environ.get("AUTOENCODERS_SEED_DIR", REPO.parent / "shared" / "seed"))
FASHION = Path("/usr/share/datasets/fashion-mnist")
CELL_MARK = "In [None]:"


def code_cells(text: str) -> list[str]:
    """The code cells of a notebook rendered as text (``In [None]:`` before each cell).

    A cell runs until the next marker; markdown that follows it is cut off by
    keeping the longest run of blank-line-separated blocks that is valid Python.
    """
    cells = []
    for chunk in text.split(CELL_MARK)[1:]:
        blocks = [b for b in chunk.strip("\n").split("\n\n")]
        source = ""
        for i in range(len(blocks), 0, -1):
            candidate = "\n\n".join(blocks[:i])
            python = "\n".join(
                "pass" if line.lstrip().startswith("%") else line for line in candidate.splitlines()
            )
            try:
                compile(python, "<cell>", "exec")
            except SyntaxError:
                continue
            source = candidate
            break
        if source.strip():
            cells.append(source)
    return cells


def seed_notebook() -> Path | None:
    found = sorted(SEED_DIR.glob("*.txt")) if SEED_DIR.is_dir() else []
    return found[0] if found else None


def test_code_cells_parser_keeps_code_and_drops_prose():
    text = (
        "# Title\n\nIn [None]:\nimport os\n\nx = 1\n\nSome prose, not code.\n\n"
        "In [None]:\n%matplotlib inline\ny = 2\n"
    )
    assert code_cells(text) == ["import os\n\nx = 1", "%matplotlib inline\ny = 2"]


@pytest.mark.slow
@pytest.mark.skipif(seed_notebook() is None, reason=f"seed notebook not found in {SEED_DIR}")
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_seed_notebook_runs_as_written(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    raw = tmp_path / "dataset" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        shutil.copy(FASHION / f"{name}.gz", raw / f"{name}.gz")
    cells = code_cells(seed_notebook().read_text(encoding="utf-8"))
    assert len(cells) >= 10, "the seed notebook's code cells were not found"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = "".join(
        o.get("text", "")
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("name") == "stdout"
    )
    assert "torch.Size([1, 32, 32])" in outputs
    assert "Generated image shape torch.Size([32, 32])" in outputs
    assert (
        len(
            list(
                (tmp_path / "logs" / "MNIST").glob(
                    "*_reconstruction/version_*/checkpoints/last.ckpt"
                )
            )
        )
        == 4
    )
