"""Image grids, PNG and GIF files."""

import numpy as np
import pytest
import torch
from PIL import Image

from autoencoders.images import image_rows, save_gif, save_grid_image, tile, to_pixels


def test_tile_lays_images_out_in_rows_with_blank_gaps_and_border():
    images = torch.zeros(5, 1, 4, 3)  # black images
    grid = tile(images, columns=2, gap=1, border=2)
    # 3 rows of 4 pixels and 2 columns of 3, one-pixel gaps, a 2-pixel frame
    assert grid.shape == (1, 3 * 4 + 2 + 4, 2 * 3 + 1 + 4)
    assert grid[0, :2].eq(1).all() and grid[0, 2:6, 2:5].eq(0).all()
    assert grid[0, 12:16, 6:9].eq(1).all()  # the sixth place is blank
    torch.testing.assert_close(tile(images, 5), image_rows([images]))


def test_png_pixels_and_scale(tmp_path):
    grid = torch.tensor([[[0.0, 1.0], [0.5, 2.0]]])
    assert to_pixels(grid).tolist() == [[0, 255], [128, 255]]  # clipped to [0, 1]
    path = save_grid_image(grid, tmp_path / "g.png", scale=3)
    with Image.open(path) as image:
        assert image.size == (6, 6) and image.getpixel((5, 0)) == 255
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]


def test_save_gif_keeps_every_frame_and_leaves_no_temp_files(tmp_path):
    t = np.linspace(0, 1, 7)[:, None, None]
    frames = np.broadcast_to(t, (7, 8, 8)).copy()
    out = save_gif(frames, tmp_path / "walk.gif", frame_ms=50)
    with Image.open(out) as img:
        assert img.format == "GIF"
        assert img.n_frames == 7
        assert img.size == (8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["walk.gif"]


def test_progress_bar_keeps_identical_frames_apart(tmp_path):
    frames = torch.full((4, 1, 4, 4), 0.5)
    plain = save_gif(frames, tmp_path / "plain.gif")
    barred = save_gif(frames, tmp_path / "bar.gif", scale=2, progress_bar=True)
    with Image.open(plain) as a, Image.open(barred) as b:
        assert a.n_frames == 1  # the writer merged identical frames
        assert b.n_frames == 4 and b.size == (8, 8 + 2)


def test_failed_save_leaves_nothing_behind(tmp_path):
    with pytest.raises(ValueError, match="a GIF needs frames"):
        save_gif(np.zeros((2, 3, 4, 4, 4)), tmp_path / "bad.gif")
    assert list(tmp_path.iterdir()) == []
