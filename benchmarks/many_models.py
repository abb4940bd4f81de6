"""Many small models at once: batched training against one model after another.

Two workloads, each timed both ways in the same run (same seeds, same data):

* ``one-class``: the bake-off's one-class protocol on scikit-learn's digits, one
  model per class (10), trained as ``make demo`` trains them: batch 64, latent
  10, early stopping (patience 10, at least 500 optimizer steps, at most 500
  epochs). One after another is the package's normal path
  (``fit_many(..., batched=False)``: a Lightning trainer per model, as
  ``training.fit`` builds it, writing no files); batched is
  :func:`autoencoders.batched.fit_many`.
* ``ensemble``: ``AutoencoderOutlierDetector(n_models=8)`` against
  ``n_models=1`` on the digits rows (the detector's defaults, early stopping):
  the goal is an ensemble of 8 in at most 3x one model's time.

Run::

    python benchmarks/many_models.py --out benchmarks/results/many-models.md
    python benchmarks/many_models.py --classes 0 1 --max-epochs 30 --min-steps 0  # quick
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch


def one_class(args: argparse.Namespace) -> dict[str, Any]:
    """Trains one model per class both ways; times and how the two agree."""
    from autoencoders.batched import fit_many
    from autoencoders.data import ArrayDataModule
    from autoencoders.models import make_config
    from autoencoders.training.stopping import StopRule

    modules = [
        ArrayDataModule("digits", batch_size=args.batch_size, only_class=c, seed=args.seed)
        for c in args.classes
    ]
    for dm in modules:
        dm.setup("fit")
    cfg = make_config(
        args.model, input_shape=modules[0].sample_shape, latent_dim=args.latent_dim, lr=1e-3
    )
    rule = StopRule(max_epochs=args.max_epochs, patience=args.patience, min_steps=args.min_steps)
    seeds = [args.seed] * len(modules)  # the bake-off trains every class with the run's seed
    times = {}
    fits = {}
    for way, batched in (("one by one", False), ("batched", True)):
        start = time.perf_counter()
        fits[way] = fit_many(cfg, modules, seeds, rule, batched=batched)
        times[way] = time.perf_counter() - start
    one, many = fits["one by one"], fits["batched"]
    if args.bakeoff_path:
        times["bake-off path"] = _bakeoff_path(args, modules)
    return {
        "models": len(modules),
        "times": times,
        "same_epochs": sum(a.epochs == b.epochs for a, b in zip(one, many, strict=True)),
        "steps": [f.steps for f in many],
        "val_gap": max(abs(a.val_loss - b.val_loss) / abs(a.val_loss) for a, b in zip(one, many, strict=True)),
    }  # fmt: skip


def _bakeoff_path(args: argparse.Namespace, modules: list[Any]) -> float:
    """The bake-off's one-class models as it trains them today: ``train_run``, with its files."""
    import tempfile

    from autoencoders.models import make_config
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for c, dm in zip(args.classes, modules, strict=True):
            run = TrainConfig(dataset="digits", epochs=None, max_epochs=args.max_epochs,
                              patience=args.patience, min_steps=args.min_steps,
                              batch_size=args.batch_size, seed=args.seed, only_class=c)  # fmt: skip
            cfg = make_config(args.model, latent_dim=args.latent_dim, lr=1e-3)
            train_run(run, cfg, run_dir=Path(tmp) / str(c), tensorboard=False, validate=False,
                      progress_bar=False, data=dm.array_dataset(), resume_existing=True)  # fmt: skip
    return time.perf_counter() - start


def ensemble(args: argparse.Namespace) -> dict[str, Any]:
    """Fits the detector with one model and with ``--ensemble`` models."""
    from sklearn.datasets import load_digits

    from autoencoders.detector import AutoencoderOutlierDetector

    x = load_digits().data
    times = {}
    for n in (1, args.ensemble):
        det = AutoencoderOutlierDetector(
            args.model, n_models=n, random_state=args.seed, epochs=args.detector_epochs
        )
        start = time.perf_counter()
        det.fit(x)
        times[n] = time.perf_counter() - start
    return {"models": args.ensemble, "times": times}


def markdown(oc: dict[str, Any] | None, ens: dict[str, Any] | None, args: argparse.Namespace,
             command: str) -> str:  # fmt: skip
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Many small models at once",
        "",
        f"`{command}` on {when}: Python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPU(s), {args.threads} torch thread(s), load average {load:.1f} at "
        f"the end. Model `{args.model}`, seed {args.seed}. Wall time in seconds; both ways run "
        "in the same process, one after the other.",
        "",
    ]
    if oc is not None:
        t = oc["times"]
        lines += [
            f"## One-class: {oc['models']} per-class models of digits",
            "",
            f"Batch {args.batch_size}, latent {args.latent_dim}, early stopping (patience "
            f"{args.patience}, min steps {args.min_steps}, max epochs {args.max_epochs}); "
            f"classes {' '.join(map(str, args.classes))}, every model with seed {args.seed}.",
            "",
            "| one after another | batched | speed-up |",
            "|---:|---:|---:|",
            f"| {t['one by one']:.1f} | {t['batched']:.1f} | {t['one by one'] / t['batched']:.1f}x |",
            "",
            *([f"The bake-off's own path today (`train_run` per class, checkpoints and run "
               f"files written) took {t['bake-off path']:.1f} s: "
               f"{t['bake-off path'] / t['batched']:.1f}x the batched time.", ""]
              if "bake-off path" in t else []),
            f"Optimizer steps per model (batched): {', '.join(map(str, oc['steps']))}. "
            f"{oc['same_epochs']} of {oc['models']} models stopped at the same epoch both ways; "
            f"the largest relative gap of the last validation loss was {oc['val_gap']:.2g} "
            "(float rounding: batched matrix products sum in another order, and batch norm over "
            "a short last batch amplifies it over hundreds of steps).",
            "",
        ]  # fmt: skip
    if ens is not None:
        t = ens["times"]
        n = ens["models"]
        lines += [
            f"## Seed ensemble: `AutoencoderOutlierDetector(n_models={n})`",
            "",
            "On the 1,797 rows of `load_digits().data`, the detector's defaults ("
            + (
                "early stopping on a 10% validation split"
                if args.detector_epochs is None
                else f"epochs={args.detector_epochs}"
            )
            + "); fit time, scores included. Member i of the ensemble is the "
            "`n_models=1` model of seed + i.",
            "",
            f"| n_models=1 | n_models={n} | ratio |",
            "|---:|---:|---:|",
            f"| {t[1]:.1f} | {t[n]:.1f} | {t[n] / t[1]:.1f}x |",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deep", help="variant (the bake-off's deep or simple)")
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--min-steps", type=int, default=500)
    parser.add_argument("--max-epochs", type=int, default=500)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ensemble", type=int, default=8, help="models of the seed ensemble")
    parser.add_argument("--detector-epochs", type=int, default=None,
                        help="the detector's fixed epochs (default: it stops early)")  # fmt: skip
    parser.add_argument("--parts", nargs="+", default=["one-class", "ensemble"],
                        choices=["one-class", "ensemble"])  # fmt: skip
    parser.add_argument(
        "--bakeoff-path",
        action="store_true",
        help="also time the bake-off's train_run path (writes files to a temp dir)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    oc = one_class(args) if "one-class" in args.parts else None
    ens = ensemble(args) if "ensemble" in args.parts else None
    command = shlex.join(["python", "benchmarks/many_models.py", *(argv or sys.argv[1:])])
    text = markdown(oc, ens, args, command)
    sys.stdout.write(text + "\n")
    if args.out is not None:
        from autoencoders.files import write_bytes

        write_bytes(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
