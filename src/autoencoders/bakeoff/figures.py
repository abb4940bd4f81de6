"""The bake-off's figures of one model and its latent-space explorer page.

Reconstructions (pictures, or rows of numbers), the latent map, samples and an
interpolation, saved under ``figures/<model>/`` beside the report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autoencoders import evaluation as ev
from autoencoders.bakeoff.config import PCA
from autoencoders.codecs import interpolate_codes

if TYPE_CHECKING:
    from autoencoders.bakeoff.runner import Bakeoff

log = logging.getLogger("autoencoders.bakeoff")


def explorer_page(bo: Bakeoff, name: str, codec: Any, seed: int) -> str | None:
    """The model's latent-space explorer page (image models only), relative to the report."""
    if name == PCA or bo.data.x_test.ndim != 4:
        return None
    from autoencoders.errors import UserError
    from autoencoders.explore import write_explorer

    path = bo.out / "figures" / name / "explore.html"
    try:
        write_explorer(codec.model, bo.data.x_test, bo.data.y_test, path, seed=seed,
                       overwrite=True)  # fmt: skip
    except UserError as err:  # a model the explorer cannot show; the report goes on
        log.info("no explorer page for %s: %s", name, err)
        return None
    return str(path.relative_to(bo.out))


def model_figures(bo: Bakeoff, name: str, codec: Any, seed: int) -> dict[str, str]:
    data, figs = bo.data, {}
    fig_dir = bo.out / "figures" / name
    is_image = data.x_test.ndim == 4
    if is_image:
        figs["reconstructions"] = _save(
            bo,
            ev.reconstruction_figure(
                data.x_test, codec.reconstruct(data.x_test[:16]), n=8, title=name
            ),
            fig_dir / "reconstructions.png",
        )
    else:  # rows of numbers: their features and each sample's error, not pictures
        figs["reconstructions"] = _save(
            bo,
            sample_reconstruction_figure(
                data.x_test, codec.reconstruct(data.x_test), n=8, title=name
            ),
            fig_dir / "reconstructions.png",
        )
    z_test = codec.encode(data.x_test)
    figs["latent_map"] = _save(
        bo,
        ev.embedding_figure(
            z_test, data.y_test, max_samples=bo.cfg.embed_samples, random_state=seed
        ),
        fig_dir / "latent_map.png",
    )
    if not is_image:
        return figs
    samples = _samples(bo, name, codec, seed)
    if samples is not None:
        figs["samples"] = _save(
            bo, ev.image_grid(samples, nrow=8, title=f"{name}: samples"), fig_dir / "samples.png"
        )
    a, b = _pair(bo)
    strip = interpolate_codes(codec, data.x_test[a], data.x_test[b], steps=10)
    figs["interpolation"] = _save(
        bo,
        ev.interpolation_strip(strip, title=f"{name}: interpolation"),
        fig_dir / "interpolation.png",
    )
    # (T, C, H, W): grey frames stay grey, colour ones keep their three channels
    ev.save_gif(strip, fig_dir / "interpolation.gif")
    return figs


def _samples(bo: Bakeoff, name: str, codec: Any, seed: int) -> np.ndarray | None:
    if name == PCA:
        return codec.sample(32, codec.encode(bo.data.x_train[:2000]), seed=seed)
    import torch

    try:
        return codec.model.sample(32, generator=torch.Generator().manual_seed(seed)).cpu().numpy()
    except RuntimeError as err:
        log.info("no samples from %s: %s", name, err)
        return None


def _pair(bo: Bakeoff) -> tuple[int, int]:
    """Two test images of different classes, the same for every model."""
    from autoencoders.generation import interpolation_pair

    return interpolation_pair(bo.data.y_test)


def _save(bo: Bakeoff, fig: Any, path: Path) -> str:
    ev.save_figure(fig, path)
    return str(path.relative_to(bo.out))


def sample_reconstruction_figure(
    x: np.ndarray, x_hat: np.ndarray, n: int = 8, title: str | None = None
) -> Any:
    """Reconstructions of samples that are not images (table rows, feature vectors).

    Top: the first ``n`` samples' features, input beside reconstruction, as two
    heat maps on the one [0, 1] colour scale. Bottom: every sample's summed
    squared error, the number the table averages.
    """
    from matplotlib.figure import Figure

    x, x_hat = np.asarray(x).reshape(len(x), -1), np.asarray(x_hat).reshape(len(x_hat), -1)
    n = min(n, len(x))
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1))
    for col, (values, label) in enumerate(((x[:n], "input"), (x_hat[:n], "reconstruction"))):
        ax = fig.add_subplot(grid[0, col])
        image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                          interpolation="nearest")  # fmt: skip
        ax.set(title=f"{label}, first {n} samples", xlabel="feature", ylabel="sample")
    fig.colorbar(image, ax=fig.axes, shrink=0.8)
    ax = fig.add_subplot(grid[1, :])
    errors = ev.per_sample_errors(x, x_hat, kind="sse")
    ax.hist(errors, bins=min(40, max(5, len(errors) // 5)), color="tab:blue")
    ax.axvline(float(errors.mean()), color="black", linestyle="--", label="mean")
    ax.set(title=f"squared error per sample ({len(errors)} test samples)",
           xlabel="summed squared error", ylabel="samples")  # fmt: skip
    ax.legend()
    if title:
        fig.suptitle(f"{title}: reconstructions per sample")
    return fig
