"""``autoencoders generate``: samples of a checkpoint's model, and an interpolation.

A model of images writes a picture grid (and, with ``--interpolate``, a strip
and an animation between two test images); a model of tables or vectors writes
rows in the data's own units. Every run is seeded: the same command writes the
same samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autoencoders.cli.common import (
    CHECKPOINT_HELP,
    add_out_options,
    at_least,
    check_out,
    checkpoint_file,
    datamodule_for,
    refuse_existing,
    write_csv_columns,
)
from autoencoders.errors import UsageError

HELP = "write samples (and optionally an interpolation) of a checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_file, help=CHECKPOINT_HELP)
    parser.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    add_out_options(
        parser,
        "PNG grid of the samples; for a model of tables or vectors, a .csv or .npy of "
        "them in the data's own units",
        default=Path("samples.png"),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the samples: the same command writes the same picture; change it "
        "for others",
    )
    parser.add_argument(
        "--interpolate",
        action="store_true",
        help="also write a strip (PNG) and an animation (GIF) morphing between two test images",
    )
    parser.add_argument(
        "--steps", type=int, default=10, help="images in the interpolation (default: 10)"
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="data set of the interpolation's test images (default: the data the checkpoint "
        "was trained on, from run.json in its run folder)",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")


def interpolation_paths(out: Path) -> tuple[Path, Path]:
    """The strip (PNG) and the animation (GIF) written beside ``out``."""
    png = out.with_name(out.stem + "-interpolation.png")
    return png, png.with_suffix(".gif")


def run(args: argparse.Namespace) -> int:
    """Writes the samples (and the interpolation); returns 0."""
    import torch

    from autoencoders.checkpoint import load
    from autoencoders.generation import interpolation_pair, save_interpolation, save_sample_grid

    at_least(args.n, 1, "--n")
    at_least(args.steps, 2, "--steps", "the two end images")
    check_out(args.out, args.overwrite)
    if args.interpolate:
        for path in interpolation_paths(args.out):
            refuse_existing(path, args.overwrite, "the interpolation")
    model = load(args.checkpoint)
    # always seeded: a command run twice gives the same samples (a picture to compare)
    generator = torch.Generator().manual_seed(args.seed)
    if len(getattr(model.decoder, "output_shape", ())) != 3:
        return _generate_rows(args, model, generator)
    pair = None
    if args.interpolate:  # the data is read first: a command that fails writes nothing
        x, y = datamodule_for(args, model).full_arrays("test")
        first, other = interpolation_pair(y)
        pair = x[first], x[other]
    path = save_sample_grid(model, args.n, args.out, generator=generator)
    print(f"wrote {args.n} samples to {path}")
    if pair is not None:
        png, gif = interpolation_paths(args.out)
        save_interpolation(model, *pair, png, gif, steps=args.steps)
        print(f"wrote the interpolation to {png} and {gif}")
    return 0


def _generate_rows(args: argparse.Namespace, model: Any, generator: Any) -> int:
    """Samples of a model of vectors, as rows in the data's own units (its scaling undone)."""
    import numpy as np
    import torch

    from autoencoders.files import atomic_write

    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".npy") or args.interpolate:
        raise UsageError(
            "this model's samples are not pictures: give --out ending in .csv or .npy (and "
            "no --interpolate)"
        )
    if not hasattr(model, "sample"):
        raise UsageError(f"model {model.config.get('model')!r} cannot draw samples")
    with torch.no_grad():
        u = model.sample(args.n, generator=generator).float().cpu().numpy()
    scaler = getattr(model, "data_scaler", None)
    rows = scaler.invert(u) if scaler is not None else u
    rows = rows.reshape(len(rows), -1)
    if suffix == ".npy":
        atomic_write(args.out, lambda f: np.save(f, rows))
    else:
        columns = {f"x{i}": rows[:, i] for i in range(rows.shape[1])}
        atomic_write(args.out, lambda f: write_csv_columns(f, columns))
    units = "the data's own units" if scaler is not None else "the model's units"
    print(f"wrote {args.n} samples ({units}) to {args.out}")
    return 0
