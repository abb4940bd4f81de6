"""``autoencoders explore``: the page is written by the real command and used in a real browser.

A tiny digits VAE is trained through the CLI; the explorer page it writes is
opened in headless Chromium, where a point is clicked and a slider moved, and the
in-page decoder is checked against PyTorch's. Browser tests skip, saying why,
where Chromium, its driver or selenium is missing (CI installs them).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import autoencoders
from _browser import console_errors, headless_chromium
from _support import run_cli
from autoencoders.cli import main
from autoencoders.errors import ConfigError, DataError
from autoencoders.explore import explorer_data, write_explorer
from autoencoders.models import build_model, make_config

MAX_PAGE_BYTES = 10_000_000


autoencoders_cli = run_cli


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vae")
    done = autoencoders_cli(
        "train", "--model", "vae", "--dataset", "digits", "--epochs", "3", "--latent-dim", "4",
        "--batch-size", "64", "--threads", "1", "--output", str(folder / "runs"), cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / "runs" / "digits" / "vae" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def explorer_page(vae_checkpoint, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    out = folder / "explore.html"
    done = autoencoders_cli(
        "explore", str(vae_checkpoint), "--dataset", "digits", "--out", str(out), cwd=folder
    )
    assert done.returncode == 0, done.stderr
    assert "explore.html" in done.stdout
    return out


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


def canvas_pixels(driver, element_id: str) -> str:
    return driver.execute_script(f"return document.getElementById('{element_id}').toDataURL();")


def decode_in_page(driver, z: np.ndarray) -> np.ndarray:
    return np.array(driver.execute_script("return explorer.decode(arguments[0]);", z.tolist()))


def test_the_page_is_one_small_file_with_no_external_url(explorer_page):
    text = explorer_page.read_text("utf-8")
    assert explorer_page.stat().st_size < MAX_PAGE_BYTES
    assert "http://" not in text and "https://" not in text
    # nothing to fetch at all: no src= or href= other than inline data
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?!data:|#)[^"'\s>]+""", text) == []


def test_clicking_a_point_and_moving_a_slider_change_the_images(explorer_page, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(explorer_page.as_uri())
    assert browser.execute_script("return explorer.n;") > 100  # the digits test split
    assert console_errors(browser) == []
    before = {name: canvas_pixels(browser, name) for name in ("input", "recon", "decoded")}
    assert not browser.find_element(By.ID, "interp-strip").is_displayed()

    # click the point drawn farthest from the selected one: a different image, surely
    positions = browser.execute_script(
        "return Array.from({length: explorer.n}, (_, i) => explorer.position(i));"
    )
    far = int(np.argmax(np.linalg.norm(np.array(positions) - positions[0], axis=1)))
    canvas = browser.find_element(By.ID, "map")
    x, y = positions[far]
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x - canvas.size["width"] / 2), int(y - canvas.size["height"] / 2)
    ).perform()
    assert f"Hovered point {far}" in browser.find_element(By.ID, "point-title").text
    assert canvas_pixels(browser, "input") != before["input"]  # hovering previews the point
    ActionChains(browser).click().perform()
    assert browser.execute_script("return explorer.state.selected;") == far
    assert canvas_pixels(browser, "input") != before["input"]
    assert canvas_pixels(browser, "recon") != before["recon"]
    assert browser.find_element(By.ID, "interp-strip").is_displayed()  # from point 0 to it
    assert f"point {far}" in browser.find_element(By.ID, "point-title").text
    halfway = canvas_pixels(browser, "interp-image")
    browser.find_element(By.ID, "interp-t").send_keys(*[Keys.ARROW_RIGHT] * 30)
    assert canvas_pixels(browser, "interp-image") != halfway  # a step along the line

    clicked = canvas_pixels(browser, "decoded")
    slider = browser.find_elements(By.CSS_SELECTOR, "input.latent")[0]
    assert len(browser.find_elements(By.CSS_SELECTOR, "input.latent")) == 4  # one per unit
    slider.send_keys(*[Keys.ARROW_RIGHT] * 40)
    assert canvas_pixels(browser, "decoded") != clicked
    assert console_errors(browser) == []


def test_the_page_decodes_exactly_as_pytorch(explorer_page, vae_checkpoint, browser):
    browser.get(explorer_page.as_uri())
    model = autoencoders.load(vae_checkpoint).eval()
    z = torch.tensor(browser.execute_script("return explorer.code(3);"), dtype=torch.float32)
    with torch.no_grad():
        expected = model.decode(z[None])[0].numpy().ravel()
    assert np.abs(decode_in_page(browser, z.numpy()) - expected).max() < 1e-4


def test_a_conv_decoder_with_batch_norm_runs_in_the_page(tmp_path, browser):
    torch.manual_seed(0)
    model = build_model(make_config("conv", input_shape=(1, 16, 16), latent_dim=6)).eval()
    for module in model.decoder.modules():  # running statistics far from (0, 1)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(40, 1, 16, 16)
    page = write_explorer(model, x, torch.arange(40) % 3, tmp_path / "conv.html")
    browser.get(page.as_uri())
    z = torch.randn(6)
    with torch.no_grad():
        expected = model.decode(z[None])[0].numpy().ravel()
    assert np.abs(decode_in_page(browser, z.numpy()) - expected).max() < 1e-4
    assert console_errors(browser) == []


def test_a_large_code_gets_sliders_along_its_principal_directions():
    torch.manual_seed(0)
    model = build_model(make_config("deep", input_shape=(1, 8, 8), latent_dim=20)).eval()
    data = explorer_data(model, torch.rand(50, 1, 8, 8), None, max_sliders=5)
    assert data["sliders"]["names"] == ["PC1", "PC2", "PC3", "PC4", "PC5"]
    axes = np.frombuffer(base64.b64decode(data["sliders"]["axes"]), "<f4").reshape(5, 20)
    np.testing.assert_allclose(axes @ axes.T, np.eye(5), atol=1e-5)  # orthonormal directions
    small = build_model(make_config("deep", input_shape=(1, 8, 8), latent_dim=3)).eval()
    assert explorer_data(small, torch.rand(50, 1, 8, 8), None)["sliders"]["names"] == [
        "z0",
        "z1",
        "z2",
    ]


def test_models_the_page_cannot_draw_are_refused(tmp_path):
    signals = build_model(make_config("sequence", input_shape=(1, 32), latent_dim=4)).eval()
    with pytest.raises(ConfigError, match="images"):
        write_explorer(signals, torch.rand(10, 1, 32), None, tmp_path / "s.html")
    model = build_model(make_config("vae", input_shape=(1, 8, 8), latent_dim=2)).eval()
    with pytest.raises(DataError, match=r"\(1, 8, 8\)"):
        write_explorer(model, torch.rand(10, 1, 6, 6), None, tmp_path / "v.html")
    (tmp_path / "old.html").write_text("earlier work")
    with pytest.raises(FileExistsError):
        write_explorer(model, torch.rand(10, 1, 8, 8), None, tmp_path / "old.html")
    assert (tmp_path / "old.html").read_text() == "earlier work"


@pytest.mark.parametrize("case, expected", [("missing", "no checkpoint at"), ("shape", "shape")])
def test_explore_mistakes_end_in_one_line_and_exit_code_2(case, expected, vae_checkpoint, tmp_path):
    ckpt, dataset = str(vae_checkpoint), "digits"
    if case == "missing":
        ckpt = str(tmp_path / "nothing.ckpt")
    else:
        dataset = str(tmp_path / "small.npy")
        np.save(dataset, np.random.default_rng(0).random((30, 1, 4, 4), dtype=np.float32))
    out = tmp_path / "page.html"
    done = autoencoders_cli("explore", ckpt, "--dataset", dataset, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "out, expected",
    [("earlier.html", "--overwrite"), ("page.png", ".html"), ("pages.html", "is a folder")],
)
def test_explore_refuses_an_out_it_must_not_write(out, expected, vae_checkpoint, tmp_path, capsys):
    (tmp_path / "earlier.html").write_text("earlier work")
    (tmp_path / "pages.html").mkdir()
    args = ["explore", str(vae_checkpoint), "--out", str(tmp_path / out)]
    assert main(args) == 2
    assert expected in capsys.readouterr().err
    assert (tmp_path / "earlier.html").read_text() == "earlier work"
    assert main([*args, "--overwrite"]) == (0 if out == "earlier.html" else 2)
