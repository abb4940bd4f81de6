from __future__ import annotations

import numpy as np
import pytest

from autoencoders import evaluation as ev
from autoencoders.evaluation.probe import stratified_subset


def test_probe_separable_blobs_near_perfect(blobs):
    z, y = blobs
    out = ev.linear_probe(z[:1000], y[:1000], z[1000:], y[1000:], n_labels=200)
    assert out["accuracy"] > 0.98
    assert out["n_labels"] == 200
    assert out["probe"] == "logistic-regression"


def test_probe_shuffled_labels_near_chance(blobs, rng):
    z, y = blobs
    y_shuffled = rng.permutation(y)
    out = ev.linear_probe(z[:1000], y_shuffled[:1000], z[1000:], y_shuffled[1000:], n_labels=550)
    assert out["accuracy"] < 0.35


def test_probe_caps_labels_at_training_size(blobs):
    z, y = blobs
    out = ev.linear_probe(z[:100], y[:100], z[100:], y[100:], n_labels=550)
    assert out["n_labels"] == 100


def test_stratified_subset_is_seeded_and_proportional():
    y = np.repeat(np.arange(4), [100, 200, 300, 400])
    a = stratified_subset(y, 100, random_state=3)
    assert np.array_equal(a, stratified_subset(y, 100, random_state=3))
    assert not np.array_equal(a, stratified_subset(y, 100, random_state=4))
    assert len(np.unique(a)) == 100
    np.testing.assert_array_equal(np.bincount(y[a]), [10, 20, 30, 40])


def test_clustering_recovers_separated_blobs(blobs):
    z, y = blobs
    out = ev.cluster_scores(z, y, n_clusters=10)
    assert set(out) == {"kmeans", "hdbscan"}
    for method, scores in out.items():
        assert scores["nmi"] > 0.9, method
        assert scores["n_samples"] == len(z)
        assert scores["noise_fraction"] < 0.2, method
    assert out["hdbscan"]["n_clusters_found"] == 10


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_density_clustering_works_at_any_scale(blobs, scale):
    z, y = blobs
    out = ev.cluster_scores(z * scale, y, methods=("hdbscan",))
    assert out["hdbscan"]["nmi"] > 0.9
    assert out["hdbscan"]["n_clusters_found"] == 10


def test_clustering_separates_trained_codes_from_random_codes():
    """The columns measure the codes: a trained encoder's codes score far above noise codes."""
    from sklearn.datasets import load_digits

    from autoencoders import AutoencoderTransformer

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    fit, val, test = order[:1200], order[1200:1500], order[1500:]
    ae = AutoencoderTransformer("deep", latent_dim=10, epochs=60, batch_size=64, random_state=0)
    ae.fit(x[fit])
    trained = ev.cluster_scores(
        ae.transform(x[test]), y[test], z_val=ae.transform(x[val]), random_state=0
    )
    noise = rng.normal(size=(len(x), 10))
    random = ev.cluster_scores(noise[test], y[test], z_val=noise[val], random_state=0)
    for method in ("kmeans", "hdbscan"):
        assert trained[method]["nmi"] > random[method]["nmi"] + 0.3, method
        assert random[method]["nmi"] < 0.2, method


def test_clustering_subsamples_deterministically(blobs):
    z, y = blobs
    a = ev.cluster_scores(z, y, methods=("hdbscan",), max_samples=500, random_state=1)
    b = ev.cluster_scores(z, y, methods=("hdbscan",), max_samples=500, random_state=1)
    assert a == b
    assert a["hdbscan"]["n_samples"] == 500


def test_clustering_rejects_unknown_method(blobs):
    z, y = blobs
    with pytest.raises(ValueError, match="spectral"):
        ev.cluster_scores(z, y, methods=("spectral",))


def test_hdbscan_is_left_out_of_a_handful_of_codes_and_kmeans_still_scores():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(6, 3)), np.array([0, 0, 0, 1, 1, 1])
    scores = ev.cluster_scores(z, y)
    assert set(scores) == {"kmeans"}
    assert scores["kmeans"]["n_samples"] == 6
    # validation codes too few to choose a cluster size on: left out as well
    big = rng.normal(size=(200, 3))
    assert set(ev.cluster_scores(big, np.arange(200) % 2, z_val=z)) == {"kmeans"}
