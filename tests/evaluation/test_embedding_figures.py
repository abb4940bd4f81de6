from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from sklearn.datasets import make_blobs

from autoencoders.evaluation import (
    embedding_figure,
    image_grid,
    interpolation_strip,
    project_2d,
    reconstruction_figure,
    roc_curve_points,
    roc_figure,
    save_figure,
)


@pytest.fixture(scope="module")
def codes() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=400, centers=3, n_features=5, random_state=0)


def test_project_2d_pca_uses_every_code(codes):
    z, _ = codes
    coords, idx = project_2d(z, "pca", max_samples=50)
    assert coords.shape == (400, 2)
    np.testing.assert_array_equal(idx, np.arange(400))


def test_project_2d_keeps_two_dimensional_codes():
    z = np.random.default_rng(0).normal(size=(30, 2))
    coords, idx = project_2d(z, "pca")
    np.testing.assert_allclose(coords, z)
    assert len(idx) == 30


class _FakeUMAP:
    """Stands in for umap.UMAP, whose first call spends most of a minute compiling."""

    made: ClassVar[list[_FakeUMAP]] = []

    def __init__(
        self, n_components: int, n_neighbors: int, random_state: int, precomputed_knn: tuple
    ) -> None:
        self.random_state = random_state
        self.n_neighbors = n_neighbors
        self.knn = precomputed_knn
        _FakeUMAP.made.append(self)

    def fit_transform(self, z: np.ndarray) -> np.ndarray:
        self.fitted = z
        return z[:, :2] + self.random_state


def test_project_2d_umap_gets_the_seeded_subsample(codes, monkeypatch):
    import umap

    monkeypatch.setattr(umap, "UMAP", _FakeUMAP)
    z, _ = codes
    coords, idx = project_2d(z, "umap", max_samples=100, random_state=2)
    assert coords.shape == (100, 2)
    np.testing.assert_allclose(coords, z[idx, :2] + 2)
    np.testing.assert_array_equal(idx, project_2d(z, "umap", max_samples=100, random_state=2)[1])
    _, all_idx = project_2d(z, "umap", max_samples=1000)
    np.testing.assert_array_equal(all_idx, np.arange(len(z)))


def test_project_2d_umap_is_handed_exact_neighbours(codes, monkeypatch):
    """umap's own NN-descent compiles for ~40 s per process: we give it exact neighbours."""
    import umap

    monkeypatch.setattr(umap, "UMAP", _FakeUMAP)
    z, _ = codes
    project_2d(z, "umap", max_samples=100, random_state=2)
    fake = _FakeUMAP.made[-1]
    nbr, dist, index = fake.knn
    assert nbr.shape == dist.shape == (100, fake.n_neighbors) and index is None
    sub = fake.fitted
    # each row starts with the point itself, and lists the truly nearest codes in order
    np.testing.assert_array_equal(nbr[:, 0], np.arange(100))
    brute = np.linalg.norm(sub[:, None] - sub[None], axis=-1)
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, : fake.n_neighbors], atol=1e-9)


@pytest.mark.parametrize("method", ["tsne", pytest.param("umap", marks=pytest.mark.slow)])
def test_project_2d_subsamples_deterministically(codes, method):
    z, _ = codes
    coords, idx = project_2d(z, method, max_samples=120, random_state=3)
    assert coords.shape == (120, 2)
    assert len(np.unique(idx)) == 120
    assert np.all(np.diff(idx) > 0)
    assert idx.min() >= 0
    assert idx.max() < len(z)
    coords2, idx2 = project_2d(z, method, max_samples=120, random_state=3)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_allclose(coords, coords2)
    _, idx_other = project_2d(z, method, max_samples=120, random_state=4)
    assert not np.array_equal(idx, idx_other)


def test_project_2d_rejects_unknown_method(codes):
    with pytest.raises(ValueError, match="isomap"):
        project_2d(codes[0], "isomap")


def test_embedding_figure_has_a_titled_panel_per_method(codes):
    z, y = codes
    fig = embedding_figure(z, y, methods=("pca", "tsne"), max_samples=150)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["PCA (150 of 400 points)", "t-SNE (150 of 400 points)"]
    assert len(fig.legends) == 1
    assert len(fig.legends[0].get_texts()) == 3


def _images(n: int = 12) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 8, 8))


def test_image_figures_have_the_expected_axes():
    x = _images()
    grid = image_grid(x, nrow=4, title="grid")
    assert isinstance(grid, Figure)
    assert len(grid.axes) == 1
    assert not grid.axes[0].axison
    assert len(image_grid(x[:, 0], nrow=5).axes) == 1
    recon = reconstruction_figure(x, 1 - x, n=6)
    assert len(recon.axes) == 2
    assert [ax.get_title() for ax in recon.axes] == ["input", "reconstruction"]
    # the input row above the reconstruction row
    top, bottom = (ax.get_position().y0 for ax in recon.axes)
    assert top > bottom
    strip = interpolation_strip(x[:10])
    assert len(strip.axes) == 1


def test_roc_figure_has_a_curve_per_model_and_chance():
    rng = np.random.default_rng(0)
    is_anomaly = rng.random(100) < 0.5
    curves = {
        "good": roc_curve_points(rng.random(100) + is_anomaly, is_anomaly),
        "random": roc_curve_points(rng.random(100), is_anomaly),
    }
    fig = roc_figure(curves, title="test")
    assert len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 3
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("good (AUC ")


def test_save_figure_writes_a_png_atomically(tmp_path):
    fig = image_grid(_images(), nrow=4)
    out = save_figure(fig, tmp_path / "sub" / "grid.png")
    assert out.exists()
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.width > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]
