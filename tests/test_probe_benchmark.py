"""The probe benchmark: a real baseline run, and the table it writes from its JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _support import ROOT, benchmark_module

SCRIPT = ROOT / "benchmarks" / "probe.py"


@pytest.fixture(scope="module")
def probe():
    with benchmark_module("probe") as module:
        yield module


def test_the_pca_baseline_runs_and_is_tabulated(tmp_path):
    raw = tmp_path / "probe.jsonl"
    done = subprocess.run([sys.executable, str(SCRIPT), "--setups", "pca", "--seeds", "1",
                           "--threads", "1", "--raw", str(raw), "--out", str(tmp_path / "p.md")],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in raw.read_text().splitlines()]
    assert row["setup"] == "pca" and len(row["accuracy"]) == 3
    assert 0.70 < sum(row["accuracy"]) / 3 < 0.80  # PCA-20 on 550 labels: measured 0.753
    text = (tmp_path / "p.md").read_text()
    assert "| pca | linear baseline | – | 1 |" in text and "is **not met**" in text


def test_table_gives_mean_and_spread_over_seeds_and_the_verdict(probe, tmp_path):
    raw = tmp_path / "probe.jsonl"
    rows = [("conv", 42, [0.80, 0.81, 0.82]), ("conv", 43, [0.78, 0.79, 0.80]),
            ("pixels", 42, [0.76, 0.77, 0.78])]  # fmt: skip
    raw.write_text("".join(json.dumps({"setup": s, "seed": seed, "epochs": 20 if s == "conv" else 0,
        "accuracy": acc, "seconds": 10.0, "command": "c", "date": "d", "threads": 1,
        "machine": "m"}) + "\n" for s, seed, acc in rows))  # fmt: skip
    text = probe.table(raw)
    assert "| conv | {} | 20 | 42, 43 | 0.800 ± 0.010 | 10 |" in text
    assert "| pixels | linear baseline | – | 42 | 0.770 | 10 |" in text
    assert "Best: conv, 0.800; the target > 0.80 is **not met**." in text
    raw.write_text(raw.read_text().replace("0.78, 0.79, 0.8]", "0.80, 0.81, 0.82]"))
    assert "Best: conv, 0.810; the target > 0.80 is **met**." in probe.table(raw)
