from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from autoencoders.codecs import PCACodec
from autoencoders.evaluation import reconstruction_metrics


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data / 16.0


def test_more_components_reconstruct_better(digits):
    train, test = digits[:1400], digits[1400:]
    sse, bce = [], []
    for k in (2, 8, 32):
        pca = PCACodec(k).fit(train)
        m = reconstruction_metrics(test, pca.decode(pca.encode(test)))
        sse.append(m["sse_per_image"])
        bce.append(m["bce_per_image"])
    assert sse[0] > sse[1] > sse[2]
    assert bce[0] > bce[1] > bce[2]


def test_reconstruction_matches_sklearn_inverse_transform(digits):
    pca = PCACodec(10, random_state=0).fit(digits)
    z = pca.encode(digits)
    assert z.shape == (len(digits), 10)
    reference = PCA(n_components=10, random_state=0).fit(digits)
    expected = np.clip(reference.inverse_transform(reference.transform(digits)), 0, 1)
    x_hat = pca.decode(z)
    np.testing.assert_allclose(x_hat, expected, atol=1e-5)
    assert x_hat.min() >= 0.0
    assert x_hat.max() <= 1.0


def test_unclipped_pca_leaves_the_unit_interval(digits):
    # the reason decode() clips: a linear reconstruction is not a valid intensity
    raw = PCA(n_components=5).fit(digits)
    recon = raw.inverse_transform(raw.transform(digits))
    assert recon.min() < 0.0 or recon.max() > 1.0


def test_components_are_capped_and_unfitted_use_raises(digits):
    with pytest.raises(RuntimeError, match="fit"):
        PCACodec(3).encode(digits)
    pca = PCACodec(100).fit(digits[:20])
    assert pca.encode(digits[:5]).shape == (5, 20)
