from __future__ import annotations

import base64
import io

from PIL import Image

from autoencoders import evaluation as ev


def test_embedding_figure_uses_class_names_and_full_count_title(rng):
    z = rng.standard_normal((60, 4))
    y = rng.integers(0, 3, 60)
    fig = ev.embedding_figure(z, y, methods=("pca",), max_samples=100, class_names=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["PCA (60 points)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "c"]


def test_reconstruction_figure_takes_the_first_n_of_unequal_arrays(rng):
    # the bake-off passes the whole test set with reconstructions of only its head
    x = rng.random((40, 1, 8, 8))
    fig = ev.reconstruction_figure(x, x[:16], n=8)
    widths = [ax.get_images()[0].get_array().shape[1] for ax in fig.axes]
    assert widths[0] == widths[1] == 8 * (8 + 1) + 1
    assert all(not ax.axison for ax in fig.axes)


def test_figure_to_base64_png_decodes_to_a_png(rng):
    fig = ev.image_grid(rng.random((4, 8, 8)), nrow=2)
    data = base64.b64decode(ev.figure_to_base64_png(fig))
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        assert img.width > 0
