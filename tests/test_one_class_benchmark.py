"""The one-class benchmark: one real run of a set-up, and the tables it builds from its files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from _support import ROOT, benchmark_module
from autoencoders.anomaly import GLOBAL_SCORES, ensemble_scores

SCRIPT = ROOT / "benchmarks" / "one_class.py"


@pytest.fixture(scope="module")
def one_class():
    with benchmark_module("one_class") as module:
        yield module


@pytest.fixture(scope="module")
def labels(one_class) -> np.ndarray:
    return one_class.fashion()[3]


def _fake_setup(raw: Path, name: str, labels: np.ndarray, noise: float, seeds: list[int]) -> None:
    """Score files as a run writes them: test scores that separate each class by ``noise``."""
    folder = raw / name
    folder.mkdir(parents=True)
    for c in range(10):
        for s in seeds:
            rng = np.random.default_rng([c, s, len(name)])
            arrays = {}
            for score in GLOBAL_SCORES:
                arrays[f"{score}/train"] = rng.normal(size=600).astype(np.float32)
                test = (labels != c) + noise * rng.normal(size=len(labels))
                arrays[f"{score}/test"] = (3.0 * test + 5.0).astype(np.float32)  # other units
            arrays["seconds"] = np.array([1.0, 2.0])
            np.savez(folder / f"class{c}-seed{s}.npz", **arrays)
    (folder / "runs.json").write_text(json.dumps([{"command": f"run {name}", "date": "today",
        "threads": 1, "machine": "x", "model": name, "options": "{}"}]))  # fmt: skip


def test_a_run_keeps_every_scores_values_on_training_and_test_rows(tmp_path, labels):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "run", "--setup", "simple", "--classes", "3", "--seeds", "0",
         "--raw", str(tmp_path)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = np.load(tmp_path / "simple" / "class3-seed0.npz")
    assert {f"{s}/{part}" for s in GLOBAL_SCORES for part in ("train", "test")} <= set(data.files)
    assert data["recon-sse/train"].shape == (6000,) and data["recon-sse/test"].shape == (10000,)
    # a linear autoencoder of dresses tells dresses from the rest (measured 0.93)
    assert roc_auc_score(labels != 3, data["recon-sse/test"]) > 0.85
    assert json.loads((tmp_path / "simple" / "runs.json").read_text())[0]["model"] == "simple"


def test_tables_report_seeds_ensembles_and_the_verdict(one_class, labels, tmp_path):
    _fake_setup(tmp_path, "weak", labels, noise=2.0, seeds=[0, 1, 2])
    _fake_setup(tmp_path, "strong", labels, noise=0.3, seeds=[0, 1])
    (tmp_path / "half").mkdir()  # an unfinished set-up: left out
    (tmp_path / "half" / "runs.json").write_text("[]")
    out = tmp_path / "one-class.md"
    args = one_class.argparse.Namespace(
        raw=tmp_path, out=out, ensembles=["weak:density+strong:feature"]
    )
    assert one_class.table(args) == 0
    text = out.read_text()
    # the seed ensemble of "strong": both seeds' scores standardised on their training rows
    files = [
        np.load(tmp_path / "strong" / f"class{c}-seed{s}.npz") for c in range(10) for s in (0, 1)
    ]
    aucs = [roc_auc_score(labels != c, ensemble_scores(
        [files[2 * c + s]["combined/train"] for s in (0, 1)],
        [files[2 * c + s]["combined/test"] for s in (0, 1)])) for c in range(10)]  # fmt: skip
    (line,) = [x for x in text.splitlines() if x.startswith("| strong | combined |")]
    assert f"{np.mean(aucs):.3f} (2 seeds)" in line
    assert "| ensemble: weak density + strong feature | each its own |" in text
    assert "ensemble: weak density + strong feature, 2 seeds each" in text  # seeds both have
    assert "Per class" in text and "| T-shirt/top |" in text and "half" not in text
    assert "the target > 0.93 is **met**" in text
