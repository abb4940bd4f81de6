"""Fashion-MNIST linear probe on 550 labels: which autoencoder codes are the most linearly decodable.

The probe of ``../shared/PROTOCOL.md`` (latent 20): the encoder is frozen, a
logistic regression (:func:`autoencoders.evaluation.probe.linear_probe`) is
fitted on the codes of 550 class-stratified training images and scored on all
10,000 test images. Each set-up is an :class:`~autoencoders.AutoencoderTransformer`
trained for a fixed number of epochs on the bake-off's 55,000 training images
(padded to 32x32, pixels / 255, a seed-42 permutation of the 60,000); a model is
one ``--seed``, and each model is probed with three label subsets (their mean is
the model's number). ``PCA`` and ``pixels`` are the linear baselines of the same
probe.

Each finished model's numbers are appended to ``--raw`` (JSON lines), so a long
list of set-ups can be run in pieces; ``--table`` writes the markdown from it.

Run::

    python benchmarks/probe.py --setups conv denoising-conv --seeds 42 43 44 --raw probe.jsonl
    python benchmarks/probe.py --table --raw probe.jsonl --out benchmarks/results/probe.md
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

#: set-ups: (model, epochs, model options); all latent 20, batch 256, Adam lr 1e-3
SETUPS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "deep": ("deep", 20, {}),
    "conv": ("conv", 20, {}),
    "denoising-conv": ("conv", 20, {"noise": "salt_pepper", "noise_ratio": 0.25}),
    "denoising-conv-0.5": ("conv", 20, {"noise": "salt_pepper", "noise_ratio": 0.5}),
    "masked-conv": ("conv", 20, {"noise": "masking", "noise_ratio": 0.5}),
    "wide-denoising-conv": ("conv", 20, {"channels": (64, 128, 256), "noise": "salt_pepper",
                                         "noise_ratio": 0.25}),
}  # fmt: skip
BASELINES = ("pca", "pixels")
#: label subsets each model is probed with
SUBSETS = (0, 1, 2)
TARGET = 0.80


def fashion() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bake-off's 55,000 training images and the 10,000 test images, flat 32x32 in [0, 1]."""
    import torch

    from autoencoders.data import load_dataset

    data = load_dataset("fashion-mnist", download=False)

    def prep(x: torch.Tensor) -> np.ndarray:
        return torch.nn.functional.pad(x.float() / 255.0, (2, 2, 2, 2)).reshape(len(x), -1).numpy()

    train = np.random.default_rng(42).permutation(len(data.train_x))[:55_000]
    return (prep(data.train_x)[train], data.train_y.numpy()[train],
            prep(data.test_x), data.test_y.numpy())  # fmt: skip


def codes(setup: str, seed: int, x_train: np.ndarray, x_test: np.ndarray) -> tuple[Any, Any, int]:
    """Training and test codes of one set-up and seed, and its epochs."""
    from sklearn.decomposition import PCA

    from autoencoders.estimator import AutoencoderTransformer

    if setup == "pixels":
        return x_train, x_test, 0
    if setup == "pca":
        pca = PCA(20, random_state=seed).fit(x_train)
        return pca.transform(x_train), pca.transform(x_test), 0
    model, epochs, options = SETUPS[setup]
    est = AutoencoderTransformer(
        model=model, latent_dim=20, epochs=epochs, input_shape=(1, 32, 32), scale="none",
        model_options=options or None, random_state=seed,
    ).fit(x_train)  # fmt: skip
    return est.transform(x_train), est.transform(x_test), epochs


def run(args: argparse.Namespace) -> None:
    import torch

    from autoencoders.evaluation.probe import linear_probe

    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    command = "python benchmarks/probe.py " + shlex.join(sys.argv[1:])
    x_tr, y_tr, x_te, y_te = fashion()
    for setup in args.setups:
        for seed in args.seeds if setup not in BASELINES else args.seeds[:1]:
            start = time.perf_counter()
            z_tr, z_te, epochs = codes(setup, seed, x_tr, x_te)
            acc = [linear_probe(z_tr, y_tr, z_te, y_te, random_state=r)["accuracy"]
                   for r in SUBSETS]  # fmt: skip
            row = {"setup": setup, "seed": seed, "epochs": epochs, "accuracy": acc,
                   "seconds": time.perf_counter() - start, "command": command,
                   "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "threads": args.threads, "machine": platform.machine()}  # fmt: skip
            with args.raw.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{setup} seed {seed}: probe {np.mean(acc):.4f} ({row['seconds']:.0f} s)",
                  flush=True)  # fmt: skip


def table(raw: Path) -> str:
    rows = [json.loads(line) for line in raw.read_text().splitlines() if line.strip()]
    by_setup: dict[str, list[dict]] = {}
    for row in rows:
        by_setup.setdefault(row["setup"], []).append(row)
    lines = ["| set-up | model options | epochs | seeds | probe accuracy | train + probe (s, each) |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    best_name, best = "", 0.0
    for setup, runs in by_setup.items():
        per_model = [float(np.mean(r["accuracy"])) for r in runs]
        mean = float(np.mean(per_model))
        spread = f" ± {np.std(per_model):.3f}" if len(per_model) > 1 else ""
        what = "linear baseline" if setup in BASELINES else json.dumps(SETUPS[setup][2]) or "{}"
        seeds = ", ".join(str(r["seed"]) for r in runs)
        lines.append(f"| {setup} | {what} | {runs[0]['epochs'] or '–'} | {seeds} | "
                     f"{mean:.3f}{spread} | {np.mean([r['seconds'] for r in runs]):.0f} |")  # fmt: skip
        if mean > best:
            best_name, best = setup, mean
    verdict = "met" if best > TARGET else "not met"
    commands = sorted({f"`{r['command']}` ({r['threads']} thread(s))" for r in rows})
    dates = sorted(r["date"] for r in rows)
    return "\n".join([
        *lines, "",
        f"Best: {best_name}, {best:.3f}; the target > {TARGET:.2f} is **{verdict}**.",
        "",
        f"- runs: {'; '.join(commands)}; {dates[0]} to {dates[-1]}, {rows[0]['machine']}",
        "- a cell is the mean (± std over seeds) of each model's mean over label subsets "
        f"{', '.join(map(str, SUBSETS))}",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setups", nargs="+", default=["pca", "pixels", "conv"],
                        choices=[*BASELINES, *SETUPS])  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--raw", type=Path, default=Path("runs/probe.jsonl"))
    parser.add_argument("--table", action="store_true", help="only write the table of --raw")
    parser.add_argument("--out", type=Path, default=None, help="the table's markdown file")
    args = parser.parse_args(argv)
    if not args.table:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        run(args)
    text = table(args.raw)
    print(text)
    if args.out is not None:
        from autoencoders.files import atomic_write

        atomic_write(args.out, lambda f: f.write(text.encode() + b"\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
