"""The tutorial notebook runs from top to bottom in a real Jupyter kernel.

The notebook is executed in a temporary folder, so the checkpoints it writes
(``runs/...``) land there and never in the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "introduction.ipynb"
CELL_TIMEOUT_S = 300


def outputs_of(nb, output_type: str) -> list[dict]:
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == output_type
    ]


def test_notebook_is_saved_clean_and_valid():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "save the notebook without outputs"
            assert cell.execution_count is None


@pytest.mark.slow
def test_introduction_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    elapsed = time.perf_counter() - start
    print(f"notebook executed in {elapsed:.1f} s")

    assert outputs_of(nb, "error") == []
    images = [out for out in outputs_of(nb, "display_data") if "image/png" in out.get("data", {})]
    assert len(images) >= 6, f"expected at least 6 figures, got {len(images)}"
    text = "".join(out.get("text", "") for out in outputs_of(nb, "stream"))
    assert "encoder widths: [64, 32, 16, 8]" in text
    # every training run wrote its checkpoint under the notebook's working folder
    for run in ("simple", "deep", "denoising", "sparse"):
        assert (tmp_path / "runs" / run / "checkpoints" / "last.ckpt").is_file()
