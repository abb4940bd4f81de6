"""Anomaly maps in the score registry: what each map is, its smoothing, size and image score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _mvtec import real_images

from autoencoders.anomaly import SCORES, make_score
from autoencoders.anomaly.defects import paste_defects
from autoencoders.anomaly.maps import AnomalyMapper, blur, gaussian_kernel
from autoencoders.codecs import ModelCodec, PCACodec
from autoencoders.errors import ConfigError
from autoencoders.models import build_model


@pytest.fixture(scope="module")
def conv_codec() -> ModelCodec:
    """An untrained conv autoencoder of 32x32 grey images (its maps need no training to exist)."""
    torch.manual_seed(0)
    model = build_model({"model": "conv", "input_shape": [1, 32, 32], "latent_dim": 8})
    return ModelCodec(model.eval(), batch_size=7)


@pytest.fixture(scope="module")
def shirts() -> np.ndarray:
    return real_images(20)


def test_the_registry_holds_the_three_maps():
    assert {"map-sse", "map-ssim", "map-feature"} <= set(SCORES)
    score = make_score("map-ssim", sigma=2.0, reduce="topk", top_k=0.05)
    assert score.name == "map-ssim" and score.options() == {
        "sigma": 2.0, "reduce": "topk", "top_k": 0.05}  # fmt: skip
    with pytest.raises(ConfigError, match="--top-k must lie in"):
        make_score("map-sse", top_k=0.0)


def test_the_sse_map_is_the_squared_error_per_pixel_smoothed(conv_codec, shirts):
    x = shirts[:5]
    recon = conv_codec.reconstruct(x)
    raw = ((x - recon) ** 2).sum(1)
    unsmoothed = make_score("map-sse", sigma=0).maps(conv_codec, x)
    np.testing.assert_allclose(unsmoothed, raw, rtol=1e-5, atol=1e-7)
    scores, maps = make_score("map-sse", sigma=1.5).score_and_maps(conv_codec, x)
    expected = blur(torch.from_numpy(raw)[:, None].float(), gaussian_kernel(1.5))[:, 0].numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    assert maps.shape == (5, 32, 32)
    np.testing.assert_allclose(scores, maps.reshape(5, -1).max(1), rtol=1e-6)  # max by default


def test_topk_is_the_mean_of_the_highest_pixels(conv_codec, shirts):
    scores, maps = make_score("map-ssim", reduce="topk", top_k=0.1).score_and_maps(
        conv_codec, shirts[:4]
    )
    k = round(0.1 * 32 * 32)
    top = np.sort(maps.reshape(4, -1), axis=1)[:, -k:].mean(1)
    np.testing.assert_allclose(scores, top, rtol=1e-5)
    assert ((maps >= 0) & (maps <= 1)).all()


def test_the_feature_map_is_fitted_on_normal_images_and_has_the_input_size(conv_codec, shirts):
    score = make_score("map-feature")
    with pytest.raises(RuntimeError, match="fitted"):
        score.maps(conv_codec, shirts[:2])
    score.fit(conv_codec, shirts[:12])
    normal = score.mapper(conv_codec)
    assert len(score.layer_scales_) == len(conv_codec.model.encoder.convs)
    # each layer divided by its mean on normal images: the unsmoothed map averages to 1 there
    raw = AnomalyMapper(conv_codec.model, "feature", sigma=0, layer_scales=score.layer_scales_)
    with torch.no_grad():
        mean = raw.maps(torch.from_numpy(shirts[:12])).mean().item()
    assert mean == pytest.approx(1.0, rel=1e-4)
    maps = score.maps(conv_codec, shirts[12:])
    assert maps.shape == (8, 32, 32) and normal.kind == "feature"


def test_batches_score_as_the_whole(conv_codec, shirts):
    score = make_score("map-sse")
    whole = score.score(conv_codec, shirts)  # the codec's batches are 7 images
    parts = np.concatenate([score.score(conv_codec, shirts[i : i + 3]) for i in range(0, 20, 3)])
    np.testing.assert_allclose(parts, whole, rtol=1e-5)


def test_pca_has_the_pixel_maps_but_not_the_feature_map(shirts):
    pca = PCACodec(5).fit(shirts[:15])
    x = shirts[15:]
    maps = make_score("map-sse", sigma=0).maps(pca, x)
    np.testing.assert_allclose(maps, ((x - pca.reconstruct(x)) ** 2).sum(1), rtol=1e-5, atol=1e-7)
    assert make_score("map-ssim").maps(pca, x).shape == (5, 32, 32)
    with pytest.raises(ConfigError, match="choose map-sse or map-ssim"):
        make_score("map-feature").fit(pca, shirts[:15])


def test_a_map_refuses_samples_that_are_not_images(conv_codec):
    with pytest.raises(ConfigError, match="choose a global score"):
        make_score("map-sse").score(conv_codec, np.zeros((3, 64), dtype=np.float32))


def test_pasted_defects_are_marked_exactly(shirts):
    rng = np.random.default_rng(0)
    bad, masks = paste_defects(shirts, rng, ("bright", "dark", "patch", "scratch"))
    changed = np.abs(bad - shirts).max(1) > 1 / 255
    np.testing.assert_array_equal(masks, changed)
    assert masks.any(axis=(1, 2)).mean() > 0.8  # a defect drawn where it changes nothing is rare
    again, _ = paste_defects(
        shirts, np.random.default_rng(0), ("bright", "dark", "patch", "scratch")
    )
    np.testing.assert_array_equal(again, bad)  # seeded
    with pytest.raises(ValueError, match="unknown defect kinds"):
        paste_defects(shirts, rng, ("hole",))
