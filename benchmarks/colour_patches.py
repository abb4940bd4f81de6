"""Colour photo patches at 64x64 and 128x128: the default conv model beside PCA.

Patches are cut from scikit-learn's two sample photos (``china.jpg`` and
``flower.jpg``, 427x640 each, shipped with scikit-learn: no download). Training
patches come from the left three quarters of each photo and test patches from
the right quarter, so no test pixel was seen in training. Each size trains the
default conv model (its channels chosen from the image size: 4 stride-2 layers
at 64x64, 5 at 128x128) for a fixed number of epochs, and PCA with the same code
size is fitted on the same patches. Both are scored on the test patches with
PSNR, SSIM and binary cross-entropy per image
(:func:`autoencoders.evaluation.reconstruction_metrics`).

Run::

    python benchmarks/colour_patches.py --threads 1 --out benchmarks/results/colour-patches.md
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

#: the right quarter of each photo is kept for testing
TEST_FRACTION = 0.25
#: patch side -> (training patches, test patches, epochs); sized for a few CPU minutes
SIZES: dict[int, tuple[int, int, int]] = {64: (1200, 200, 20), 128: (400, 80, 20)}


def photos() -> list[np.ndarray]:
    """The two sample photos as ``(3, H, W)`` float32 in [0, 1]."""
    from sklearn.datasets import load_sample_images

    return [
        np.ascontiguousarray(im.transpose(2, 0, 1), dtype=np.float32) / 255
        for im in load_sample_images().images
    ]


def cut_patches(
    images: list[np.ndarray], side: int, n: int, part: str, rng: np.random.Generator
) -> np.ndarray:
    """``n`` random ``side`` x ``side`` patches from the training or test part of the photos.

    Training patches are flipped left-right half the time (more variety from two photos).
    """
    out = np.empty((n, 3, side, side), np.float32)
    for i in range(n):
        image = images[i % len(images)]
        _, h, w = image.shape
        split = int(w * (1 - TEST_FRACTION))
        # a test strip narrower than a patch starts earlier (then it overlaps training)
        lo, hi = (0, split - side) if part == "train" else (min(split, w - side), w - side)
        x0 = int(rng.integers(lo, hi + 1))
        y0 = int(rng.integers(0, h - side + 1))
        patch = image[:, y0 : y0 + side, x0 : x0 + side]
        out[i] = patch[:, :, ::-1] if part == "train" and rng.random() < 0.5 else patch
    return out


def run_size(
    side: int, latent_dim: int, seed: int, batch_size: int, figure: Path | None = None
) -> dict[str, Any]:
    """Trains the conv model and fits PCA on one patch size; their test metrics and times."""
    import torch

    from autoencoders.batched import train_many
    from autoencoders.codecs import ModelCodec, PCACodec
    from autoencoders.evaluation import reconstruction_metrics
    from autoencoders.models import make_config

    n_train, n_test, epochs = SIZES[side]
    rng = np.random.default_rng(seed)
    images = photos()
    train = cut_patches(images, side, n_train, "train", rng)
    test = cut_patches(images, side, n_test, "test", rng)
    cfg = make_config("conv", input_shape=(3, side, side), latent_dim=latent_dim)
    start = time.perf_counter()
    [model] = train_many(
        cfg, torch.from_numpy(train), [seed], epochs, batch_size=batch_size, validate=False
    )
    conv_s = time.perf_counter() - start
    conv_hat = ModelCodec(model.eval()).reconstruct(test)
    conv = reconstruction_metrics(test, conv_hat)
    start = time.perf_counter()
    pca_codec = PCACodec(latent_dim, random_state=seed).fit(train.reshape(n_train, -1))
    pca_hat = pca_codec.reconstruct(test.reshape(n_test, -1)).reshape(test.shape)
    pca = reconstruction_metrics(test, np.clip(pca_hat, 0.0, 1.0))
    pca_s = time.perf_counter() - start
    if figure is not None:  # test patches above the conv model's and PCA's reconstructions
        from autoencoders.images import image_rows, save_grid_image

        rows = [torch.from_numpy(a[:8]) for a in (test, conv_hat, np.clip(pca_hat, 0, 1))]
        save_grid_image(image_rows(rows, gap=2), figure.with_name(f"{figure.stem}-{side}.png"), 1)
    return {
        "side": side,
        "channels": list(model.encoder.channels),
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "conv": conv,
        "pca": pca,
        "conv_s": conv_s,
        "pca_s": pca_s,
    }


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, wall_s: float) -> str:
    latent = args.latent_dim
    lines = [
        "# Colour photo patches: the default conv model beside PCA",
        "",
        f"Code size {latent} for both; test patches from the right quarter of each photo "
        "(never seen in training). PSNR and SSIM: higher is better; BCE per image "
        "(summed over the 3 x H x W values): lower is better. PCA's reconstructions are "
        "clipped to [0, 1] before scoring.",
        "",
        "| patch | model | channels | train / test patches | epochs | PSNR (dB) | SSIM "
        "| BCE per image | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        size = f"{r['side']}x{r['side']}x3"
        counts = f"{r['n_train']} / {r['n_test']}"
        for name, metrics, secs, channels, epochs in (
            ("conv", r["conv"], r["conv_s"], ", ".join(map(str, r["channels"])), r["epochs"]),
            (f"PCA-{latent}", r["pca"], r["pca_s"], "-", "-"),
        ):
            lines.append(
                f"| {size} | {name} | {channels} | {counts} | {epochs} | {metrics['psnr']:.2f} "
                f"| {metrics['ssim']:.3f} | {metrics['bce_per_image']:.1f} | {secs:.0f} |"
            )
    lines += ["", "## Where PCA wins", ""]
    for r in rows:
        wins = [
            m
            for m, better in (("PSNR", "high"), ("SSIM", "high"), ("BCE", "low"))
            if _pca_better(r, m, better)
        ]
        side = f"{r['side']}x{r['side']}"
        lines.append(
            f"- {side}: PCA wins on {', '.join(wins)}." if wins else f"- {side}: PCA wins on none."
        )
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines += [
        "",
        "## How it was run",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wall time {wall_s:.0f} s "
        f"({args.threads} torch thread(s), {platform.machine()}, Python "
        f"{platform.python_version()})",
        f"- seed {args.seed} (patch positions, flips, initialisation, batch order); batch size "
        f"{args.batch_size}, Adam lr 1e-3, BCE loss, the conv model's defaults otherwise",
    ]
    return "\n".join(lines) + "\n"


def _pca_better(row: dict[str, Any], metric: str, better: str) -> bool:
    key = {"PSNR": "psnr", "SSIM": "ssim", "BCE": "bce_per_image"}[metric]
    pca, conv = row["pca"][key], row["conv"][key]
    return pca > conv if better == "high" else pca < conv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SIZES), choices=SIZES)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print)")
    parser.add_argument(
        "--figure", type=Path, default=None,
        help="also write test patches over both reconstructions, as NAME-64.png and NAME-128.png",
    )  # fmt: skip
    args = parser.parse_args(argv)

    import torch

    from autoencoders.quiet import quiet

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    with quiet():
        rows = [
            run_size(s, args.latent_dim, args.seed, args.batch_size, args.figure)
            for s in args.sizes
        ]
    text = markdown(rows, args, time.perf_counter() - start)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
