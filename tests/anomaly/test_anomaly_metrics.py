"""Image and pixel metrics against cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from autoencoders.anomaly.metrics import (
    aupro,
    detection_metrics,
    f1_threshold,
    image_auroc,
    image_f1max,
    pixel_auroc,
    pro_curve,
)


def two_regions() -> tuple[np.ndarray, np.ndarray]:
    """One 1x6 image: a 2-pixel defect (columns 0-1), a 1-pixel defect (column 5), 3 normal pixels.

    Map values fall from left to right except the lone defect pixel, which is lowest.
    """
    masks = np.array([[[True, True, False, False, False, True]]])
    maps = np.array([[[0.9, 0.5, 0.8, 0.3, 0.2, 0.1]]])
    return maps, masks


def test_the_pro_curve_steps_region_by_region():
    maps, masks = two_regions()
    fpr, pro = pro_curve(maps, masks)
    # thresholds in falling order: 0.9 (half of region A), 0.8 (a normal pixel), 0.5 (all of A),
    # 0.3, 0.2 (normal pixels), 0.1 (region B). Each region weighs 1/2.
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(pro, [0, 0.25, 0.25, 0.5, 0.5, 0.5, 1.0])


def test_aupro_integrates_up_to_a_false_positive_rate_of_03_by_hand():
    maps, masks = two_regions()
    # PRO is 0.25 from fpr 0 (a vertical step) to 0.3: area 0.25 * 0.3, normalised by 0.3
    assert aupro(maps, masks) == pytest.approx(0.25)
    # up to fpr 1/2: 0.25 on [0, 1/3], 0.5 on [1/3, 1/2] -> (1/12 + 1/12) / (1/2)
    assert aupro(maps, masks, limit=0.5) == pytest.approx(1 / 3)


def test_a_perfect_map_has_aupro_and_pixel_auroc_1():
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[0, 2:4, 2:4] = True
    masks[1, 5:8, 0:2] = True
    maps = masks.astype(float) + 0.01 * np.random.default_rng(0).random(masks.shape)
    assert aupro(maps, masks) == pytest.approx(1.0)
    assert pixel_auroc(maps, masks) == pytest.approx(1.0)


def test_a_small_region_weighs_as_much_as_a_large_one():
    """A map that finds only the large defect scores half the PRO: regions, not pixels, count."""
    masks = np.zeros((1, 10, 10), dtype=bool)
    masks[0, :5, :5] = True  # 25 pixels
    masks[0, 8, 8] = True  # 1 pixel, another region
    maps = np.full((1, 10, 10), 0.5)
    maps[0, :5, :5] = 1.0
    maps[0, 8, 8] = 0.0  # below every normal pixel: found only at a false-positive rate of 1
    assert aupro(maps, masks) == pytest.approx(0.5, abs=1e-9)
    assert pixel_auroc(maps, masks) > 0.95  # pixel AUROC barely notices the missed region


def test_image_metrics_and_the_f1_threshold():
    scores = np.array([0.1, 0.2, 0.35, 0.4, 0.8])
    labels = np.array([0, 0, 1, 0, 1], dtype=bool)
    # pairs (anomaly, normal) ranked right: 0.35 beats 0.1, 0.2 but not 0.4; 0.8 beats all: 5 of 6
    assert image_auroc(scores, labels) == pytest.approx(5 / 6)
    threshold, f1 = f1_threshold(scores, labels)
    # flagging >= 0.35 catches both anomalies and one normal image: F1 = 2 * (2/3 * 1) / (5/3)
    assert threshold == pytest.approx(0.35) and f1 == pytest.approx(0.8)
    assert image_f1max(scores, labels) == pytest.approx(0.8)


def test_tied_values_are_one_step_of_the_curve_interpolated_linearly():
    """A map constant over the small region and the normal pixels rises linearly across them."""
    masks = np.zeros((1, 10, 10), dtype=bool)
    masks[0, :5, :5] = True
    masks[0, 8, 8] = True
    maps = np.zeros((1, 10, 10))
    maps[0, :5, :5] = 1.0
    # from (fpr 0, pro 0.5) straight to (1, 1): mean of 0.5 and 0.65 over [0, 0.3]
    assert aupro(maps, masks) == pytest.approx(0.575)


def test_metrics_that_the_data_cannot_give_are_none():
    scores = np.array([0.1, 0.2])
    out = detection_metrics(scores, np.array([False, False]))
    assert out == {"image_auroc": None, "image_f1max": None, "pixel_auroc": None, "aupro": None}
    with pytest.raises(ValueError, match="defect pixels"):
        pro_curve(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), dtype=bool))
