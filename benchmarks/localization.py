"""Where is the defect? Anomaly maps on real images with pasted defects, beside PCA's.

Normal images are one Fashion-MNIST class (default 0, T-shirts), padded to
32x32. A conv autoencoder and PCA are fitted on the class's training images;
the test set is the class's test images, half of them left normal and half
given one synthetic defect with an exact mask
(:func:`autoencoders.anomaly.defects.paste_defects`): bright or dark squares
(4-7 px), a patch cut from another image, or a scratch. Each map
(:mod:`autoencoders.anomaly.maps`: ``sse``, ``ssim``, ``feature``; PCA has the
first two) is scored by image AUROC (the map's maximum as the image score),
pixel AUROC and AUPRO (up to a false-positive rate of 0.3), over seeds (the
defects, the model's initialisation and batch order). The calibration point:
PCA-20's smoothed residual map on T-shirts with squares gave pixel AUROC 0.924
and image AUROC 0.844 when this benchmark was planned.

Run (full size, every training image of the class)::

    python benchmarks/localization.py --threads 1 --out benchmarks/results/localization.md

and small, for a few CPU minutes::

    python benchmarks/localization.py --train 2000 --test 400 --epochs 15 --seeds 2 \
        --threads 1 --out benchmarks/results/localization.md
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

#: defect groups: name -> the kinds paste_defects draws from
DEFECTS: dict[str, tuple[str, ...]] = {
    "squares": ("bright", "dark"),
    "patch": ("patch",),
    "scratch": ("scratch",),
}
#: the maps each method has
AE_MAPS = ("map-sse", "map-ssim", "map-feature")
PCA_MAPS = ("map-sse", "map-ssim")
METRICS = ("image_auroc", "pixel_auroc", "aupro")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def class_images(data_dir: Path, label: int) -> tuple[np.ndarray, np.ndarray]:
    """The class's training and test images as ``(N, 1, 32, 32)`` float32 in [0, 1]."""
    from autoencoders.data.sources import load_dataset

    data = load_dataset("fashion-mnist", data_dir, download=False)

    def pick(x: Any, y: Any) -> np.ndarray:
        chosen = x[y == label].numpy().astype(np.float32) / 255.0
        return np.pad(chosen, ((0, 0), (0, 0), (2, 2), (2, 2)))

    return pick(data.train_x, data.train_y), pick(data.test_x, data.test_y)


def test_set(
    test: np.ndarray, n: int, kinds: tuple[str, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` normal and ``n`` defective test images (different ones), labels and masks."""
    from autoencoders.anomaly.defects import paste_defects

    order = rng.permutation(len(test))[: 2 * n]
    normal, base = test[order[:n]], test[order[n:]]
    bad, bad_masks = paste_defects(base, rng, kinds, size=(4, 7), donors=normal)
    x = np.concatenate([normal, bad])
    labels = np.r_[np.zeros(len(normal), bool), np.ones(len(bad), bool)]
    masks = np.concatenate([np.zeros((len(normal), *bad_masks.shape[1:]), bool), bad_masks])
    return x, labels, masks


def evaluate_maps(
    codec: Any, names: tuple[str, ...], x_train: np.ndarray, x: np.ndarray, labels: np.ndarray,
    masks: np.ndarray, sigma: float,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Every map's three metrics on one test set."""
    from autoencoders.anomaly import make_score
    from autoencoders.anomaly.metrics import aupro, image_auroc, pixel_auroc

    out = {}
    for name in names:
        score = make_score(name, sigma=sigma).fit(codec, x_train[:2000])
        scores, maps = score.score_and_maps(codec, x)
        out[name] = {
            "image_auroc": image_auroc(scores, labels),
            "pixel_auroc": pixel_auroc(maps, masks),
            "aupro": aupro(maps, masks),
        }
    return out


def run_seed(
    args: argparse.Namespace, train: np.ndarray, test: np.ndarray, seed: int
) -> list[dict[str, Any]]:
    """One seed: the conv model and PCA fitted, every defect group and map scored."""
    from autoencoders.codecs import ModelCodec, PCACodec
    from autoencoders.estimator import AutoencoderTransformer

    rng = np.random.default_rng(seed)
    x_train = train[rng.permutation(len(train))[: args.train]]
    started = time.perf_counter()
    est = AutoencoderTransformer(
        "conv", args.latent_dim, epochs=args.epochs, batch_size=64, lr=1e-3,
        input_shape=(1, 32, 32), scale="none", random_state=seed,
    ).fit(x_train.reshape(len(x_train), -1))  # fmt: skip
    fit_s = time.perf_counter() - started
    methods = {
        f"conv (latent {args.latent_dim})": (ModelCodec(est.model_), AE_MAPS),
        f"PCA-{args.pca}": (PCACodec(args.pca, random_state=seed).fit(x_train), PCA_MAPS),
    }
    rows = []
    for group, kinds in DEFECTS.items():
        if group not in args.defects:
            continue
        x, labels, masks = test_set(test, args.test // 2, kinds, rng)
        for method, (codec, names) in methods.items():
            found = evaluate_maps(codec, names, x_train, x, labels, masks, args.sigma)
            for name, metrics in found.items():
                rows.append({"seed": seed, "defects": group, "method": method, "map": name,
                             **metrics})  # fmt: skip
    print(f"seed {seed}: conv trained in {fit_s:.0f} s; {len(rows)} rows", file=sys.stderr)
    return rows


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, wall_s: float) -> str:
    """The results table (mean and spread over seeds), where PCA wins, and how it was run."""
    keys = sorted({(r["defects"], r["method"], r["map"]) for r in rows},
                  key=lambda k: (list(DEFECTS).index(k[0]), k[1], k[2]))  # fmt: skip
    lines = [
        "# Localisation: anomaly maps on Fashion-MNIST with pasted defects, beside PCA",
        "",
        f"Class {args.label} of Fashion-MNIST at 32x32; {args.train} training images; "
        f"{args.test} test images per defect group, half normal, half with one pasted defect "
        f"(exact masks). Maps smoothed with a Gaussian of sigma {args.sigma:g} px; the image "
        "score is the map's maximum. Mean over seeds (± the standard deviation where there "
        "are several seeds); higher is better for all three.",
        "",
        "| defects | method | map | image AUROC | pixel AUROC | AUPRO |",
        "|---|---|---|---|---|---|",
    ]
    summary: dict[tuple[str, str, str], dict[str, float]] = {}
    for key in keys:
        chosen = [r for r in rows if (r["defects"], r["method"], r["map"]) == key]
        cells = []
        for metric in METRICS:
            values = np.array([r[metric] for r in chosen])
            summary.setdefault(key, {})[metric] = float(values.mean())
            spread = f" ± {values.std():.3f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.3f}{spread}")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    lines += ["", "## Where PCA wins", ""]
    for group in DEFECTS:
        ours = {k: v for k, v in summary.items() if k[0] == group and k[1].startswith("conv")}
        pca = {k: v for k, v in summary.items() if k[0] == group and k[1].startswith("PCA")}
        if not ours:
            continue
        notes = []
        for metric in METRICS:
            best_ours = max(ours.items(), key=lambda kv: kv[1][metric])
            best_pca = max(pca.items(), key=lambda kv: kv[1][metric])
            won = "PCA" if best_pca[1][metric] > best_ours[1][metric] else "conv"
            notes.append(f"{metric}: {won} (conv {best_ours[0][2]} {best_ours[1][metric]:.3f}, "
                         f"PCA {best_pca[0][2]} {best_pca[1][metric]:.3f})")  # fmt: skip
        lines.append(f"- {group}: " + "; ".join(notes))
    command = "python " + shlex.join(["benchmarks/localization.py", *sys.argv[1:]])
    lines += [
        "",
        "## How it was run",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wall time {wall_s:.0f} s "
        f"({args.threads} torch thread(s), {platform.machine()}, Python {platform.python_version()})",
        f"- seeds {', '.join(str(s) for s in range(args.seeds))} (defects and their places, "
        f"training subset, initialisation, batch order); conv: {args.epochs} epochs, batch 64, "
        "Adam lr 1e-3, the conv model's defaults otherwise; feature map fitted on up to 2000 "
        "training images",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=FASHION_DIR)
    parser.add_argument("--label", type=int, default=0, help="the normal class (0: T-shirts)")
    parser.add_argument("--train", type=int, default=6000, help="training images (at most)")
    parser.add_argument("--test", type=int, default=1000, help="test images per defect group")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--pca", type=int, default=20, help="PCA components")
    parser.add_argument("--sigma", type=float, default=1.0, help="map smoothing, in pixels")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--defects", nargs="+", default=list(DEFECTS), choices=list(DEFECTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    train, test = class_images(args.data_dir, args.label)
    rows = [row for seed in range(args.seeds) for row in run_seed(args, train, test, seed)]
    text = markdown(rows, args, time.perf_counter() - started)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
