from __future__ import annotations

import numpy as np
import pytest

from autoencoders import evaluation as ev
from autoencoders.anomaly import ensemble_scores, latent_density_scores


def test_auc_separable_random_and_inverted(rng):
    is_anomaly = np.r_[np.zeros(200, bool), np.ones(200, bool)]
    separable = is_anomaly + 0.1 * rng.random(400)
    assert ev.roc_auc(separable, is_anomaly) == pytest.approx(1.0)
    assert ev.roc_auc(rng.random(400), is_anomaly) == pytest.approx(0.5, abs=0.08)
    # an inverted score is reported as is, not flipped or clipped to 0.5
    assert ev.roc_auc(-separable, is_anomaly) == pytest.approx(0.0)


def test_roc_curve_points(rng):
    is_anomaly = rng.random(300) < 0.3
    scores = is_anomaly + rng.standard_normal(300)
    fpr, tpr, auc = ev.roc_curve_points(scores, is_anomaly)
    assert fpr[0] == 0 and tpr[-1] == 1 and fpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert auc == pytest.approx(np.trapezoid(tpr, fpr))
    assert auc == pytest.approx(ev.roc_auc(scores, is_anomaly))


def test_auc_needs_both_kinds():
    with pytest.raises(ValueError):
        ev.roc_auc(np.arange(4.0), np.zeros(4, bool))


def test_one_class_and_held_out(rng):
    y = np.repeat(np.arange(3), 50)
    # model of class c scores its own class low, others high; class 2's model is inverted
    scores = {c: (y != c) + 0.1 * rng.random(len(y)) for c in (0, 1)}
    scores[2] = -((y != 2) + 0.1 * rng.random(len(y)))
    out = ev.one_class_auc(scores, y)
    assert out["per_class"][0] == pytest.approx(1.0)
    assert out["per_class"][1] == pytest.approx(1.0)
    assert out["per_class"][2] == pytest.approx(ev.roc_auc(scores[2], y != 2))
    assert out["per_class"][2] == pytest.approx(0.0)
    assert out["mean"] == pytest.approx(np.mean(list(out["per_class"].values())))
    held = ev.held_out_class_auc((y == 1) + 0.1 * rng.random(len(y)), y, anomaly_class=1)
    assert held == pytest.approx(1.0)


def test_latent_density_flags_outlier_cluster(rng):
    z_train = rng.standard_normal((500, 4))
    z_test = np.vstack([rng.standard_normal((100, 4)), rng.standard_normal((20, 4)) + 8.0])
    is_anomaly = np.r_[np.zeros(100, bool), np.ones(20, bool)]
    scores = latent_density_scores(z_train, z_test, n_components=3)
    assert scores.shape == (120,)
    assert ev.roc_auc(scores, is_anomaly) > 0.99
    np.testing.assert_array_equal(scores, latent_density_scores(z_train, z_test, n_components=3))


def test_ensemble_scores_weigh_members_equally_whatever_their_units(rng):
    reference = rng.normal(size=200)
    scores = rng.normal(size=50)
    # a member in other units (x100, shifted) counts the same as the first after standardising
    both = ensemble_scores([reference, 100 * reference + 7], [scores, 100 * scores + 7])
    np.testing.assert_allclose(both, (scores - reference.mean()) / reference.std())
    # two members that disagree: the mean of their z-scores
    other_ref, other = rng.normal(size=200), rng.normal(size=50)
    mixed = ensemble_scores([reference, other_ref], [scores, other])
    z = [(s - r.mean()) / r.std() for r, s in ((reference, scores), (other_ref, other))]
    np.testing.assert_allclose(mixed, (z[0] + z[1]) / 2)
    with pytest.raises(ValueError, match="one reference per member"):
        ensemble_scores([reference], [scores, scores])
