"""The registered anomaly scores: each one tells digits from obvious anomalies, batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from autoencoders.anomaly import scores as an
from autoencoders.codecs import ModelCodec, PCACodec
from autoencoders.errors import ConfigError
from autoencoders.estimator import AutoencoderTransformer
from autoencoders.evaluation import roc_auc
from autoencoders.models import build_model, make_config


@pytest.fixture(scope="module")
def digits_split() -> dict[str, np.ndarray]:
    """Digits in [0, 1]: training and held-out normal rows, and a test set half anomalies.

    The anomalies are the test digits with their ink inverted (1 - x): the same
    strokes, but not a digit image any model of digits has seen.
    """
    x = load_digits().data.astype(np.float32) / 16.0
    rng = np.random.default_rng(0)
    x = x[rng.permutation(len(x))]
    normal_test = x[1400:1600]
    return {
        "train": x[:1200],
        "holdout": x[1200:1400],
        "test": np.vstack([normal_test, 1.0 - x[-200:]]),
        "is_anomaly": np.r_[np.zeros(200, bool), np.ones(200, bool)],
    }


@pytest.fixture(scope="module")
def codec(digits_split) -> ModelCodec:
    est = AutoencoderTransformer(
        "deep", latent_dim=8, epochs=15, batch_size=64, lr=3e-3, scale="none"
    ).fit(digits_split["train"])
    return ModelCodec(est.model_)


def test_the_registry_holds_the_documented_scores():
    assert set(an.SCORES) >= {"recon-sse", "recon-bce", "density", "combined", "feature"}
    for name in an.SCORES:
        assert isinstance(an.make_score(name), an.AnomalyScore)


@pytest.mark.parametrize("name", ["recon-sse", "recon-bce", "density", "combined", "feature"])
def test_each_score_separates_inverted_digits_from_digits(digits_split, codec, name):
    d = digits_split
    scores = an.anomaly_scores(name, codec, d["train"], d["test"], x_holdout=d["holdout"])
    assert scores.shape == (len(d["test"]),) and np.isfinite(scores).all()
    assert roc_auc(scores, d["is_anomaly"]) > 0.95, name


@pytest.mark.parametrize("name", ["recon-bce", "density", "combined", "feature"])
def test_a_fitted_score_scores_batches_like_the_whole(digits_split, codec, name):
    d = digits_split
    score = an.make_score(name).fit(codec, d["train"], d["holdout"])
    whole = score.score(codec, d["test"])
    batches = np.concatenate([score.score(codec, d["test"][i : i + 64]) for i in range(0, 400, 64)])
    np.testing.assert_allclose(batches, whole, rtol=1e-4, atol=1e-4)
    again = an.make_score(name).fit(codec, d["train"], d["holdout"]).score(codec, d["test"])
    np.testing.assert_array_equal(again, whole)  # seeded: the same fit twice


def test_reconstruction_scores_are_the_per_sample_errors(digits_split, codec):
    x = digits_split["test"]
    x_hat = codec.reconstruct(x)
    sse = an.make_score("recon-sse").score(codec, x)
    np.testing.assert_allclose(sse, ((x - x_hat) ** 2).sum(1), rtol=1e-5)
    bce = an.make_score("recon-bce").score(codec, x)
    assert (bce > sse).all()  # cross-entropy of [0, 1] values exceeds their squared error


def test_combined_is_the_sum_of_its_parts_standardised_on_held_out_data(digits_split, codec):
    d = digits_split
    combined = an.make_score("combined").fit(codec, d["train"], d["holdout"])
    on_holdout = combined.score(codec, d["holdout"])
    # each of the two parts has mean 0 and std 1 on the held-out rows
    assert on_holdout.mean() == pytest.approx(0.0, abs=1e-6)
    density = an.make_score("density").fit(codec, d["train"]).score(codec, d["test"])
    sse = an.make_score("recon-sse").score(codec, d["test"])
    (m1, s1), (m2, s2) = combined.stats_
    np.testing.assert_allclose(
        combined.score(codec, d["test"]), (density - m1) / s1 + (sse - m2) / s2, rtol=1e-6
    )


def test_feature_score_reads_every_hidden_layer(digits_split, codec):
    x = digits_split["test"][:10]
    d = an.pathway_differences(codec, x)
    widths = codec.model.encoder.widths  # input, hidden layers, encoder output
    assert d.shape == (10, sum(widths))
    # the input block of the differences is the plain reconstruction error
    np.testing.assert_allclose(d[:, :64], x - codec.reconstruct(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "shape"), [("conv", (1, 8, 8)), ("sequence", (1, 64)), ("simple", (64,))]
)
def test_feature_score_works_for_conv_signal_and_linear_encoders(digits_split, name, shape):
    torch.manual_seed(0)
    model = build_model(make_config(name, input_shape=shape, latent_dim=4)).eval()
    codec = ModelCodec(model)
    x = digits_split["train"][:100].reshape(100, *shape)
    # the input block of the pathway differences is the reconstruction error, for every family
    d = an.pathway_differences(codec, x[:10])
    flat = (x[:10] - codec.reconstruct(x[:10])).reshape(10, -1)
    assert d.shape[1] > flat.shape[1], "hidden layers are read too"
    np.testing.assert_allclose(d[:, : flat.shape[1]], flat, rtol=1e-5, atol=1e-6)
    # whitened on the normal rows, uniform noise lies far outside them
    score = an.make_score("feature").fit(codec, x)
    normal = score.score(codec, x[:20])
    noise = score.score(codec, np.random.default_rng(0).random(x[:20].shape, dtype=np.float32))
    assert normal.shape == (20,) and np.isfinite(normal).all()
    assert noise.min() > np.median(normal), name


def test_scores_that_need_no_hidden_layers_work_for_pca(digits_split):
    d = digits_split
    pca = PCACodec(8).fit(d["train"])
    for name in ("recon-sse", "density", "combined"):
        auc = roc_auc(an.anomaly_scores(name, pca, d["train"], d["test"]), d["is_anomaly"])
        assert auc > 0.9, name
    with pytest.raises(ConfigError, match="'feature' score looks inside an autoencoder"):
        an.make_score("feature").fit(pca, d["train"])


def test_unknown_score_names_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown anomaly score 'mahalanobis'.*recon-sse"):
        an.make_score("mahalanobis")
