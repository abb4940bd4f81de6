"""The outlier benchmark's parts: its synthetic signals and its honest verdict (no training here)."""

from __future__ import annotations

import numpy as np
import pytest

from _support import benchmark_module


@pytest.fixture(scope="module")
def outliers():
    with benchmark_module("outliers") as module:
        yield module


def test_signals_are_seeded_and_carry_each_anomaly_kind(outliers):
    x, kind = outliers.make_signals(50, 10, seed=3)
    again, _ = outliers.make_signals(50, 10, seed=3)
    np.testing.assert_array_equal(x, again)
    assert x.shape == (80, outliers.SIGNAL_LENGTH) and list(np.bincount(kind)) == [50, 10, 10, 10]
    normal = x[kind == 0]
    spikes, shifts = x[kind == 1], x[kind == 2]
    assert np.abs(spikes).max(1).min() > np.abs(normal).max(1).max() - 0.5  # a jump out of range
    assert np.abs(shifts.mean(1)).mean() > 3 * np.abs(normal.mean(1)).mean()  # level moved


def test_table_says_so_when_a_competitor_beats_our_detector(outliers):
    results = {
        "ours: simple, recon-sse": outliers.Result([0.90], [0.5], [1.0]),
        "IsolationForest": outliers.Result([0.95], [0.6], [0.1]),
    }
    lines = outliers.table(results)
    assert "| **0.950** |" in lines[3]
    assert lines[-1] == (
        "Best: IsolationForest, not our detector: our best (simple, recon-sse) is 0.050 ROC AUC "
        "behind."
    )
    results["ours: simple, recon-sse"].auc[0] = 0.99
    assert outliers.table(results)[-1] == "Best: our detector (simple, recon-sse)."
