"""``autoencoders explore``: the explorer page of a checkpoint, on its run's own data.

The page itself is built by :mod:`autoencoders.explore`; this module reads the
options, checks ``--out`` and sets up the data.
"""

from __future__ import annotations

import argparse

from autoencoders.cli.common import (
    add_checkpoint_data_options,
    add_out_options,
    at_least,
    check_out,
    datamodule_for,
)

HELP = "write an offline HTML page to explore a checkpoint's latent space"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from autoencoders.explore import MAP_METHODS, MAX_POINTS, MAX_SLIDERS

    add_checkpoint_data_options(parser)
    add_out_options(parser, "the HTML file to write", required=True)
    parser.add_argument(
        "--split", choices=("train", "val", "test"), default="test", help="the images mapped"
    )
    parser.add_argument("--map", choices=MAP_METHODS, default="pca", help="2-D map of the codes")
    parser.add_argument(
        "--max-points",
        type=int,
        default=MAX_POINTS,
        help="most points on the map (a seeded subsample beyond that)",
    )
    parser.add_argument(
        "--max-sliders",
        type=int,
        default=MAX_SLIDERS,
        help="a code with more units gets this many sliders along its principal directions",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsample and map")


def run(args: argparse.Namespace) -> int:
    """Writes the explorer page to ``--out``; returns 0."""
    from autoencoders.checkpoint import load
    from autoencoders.explore import image_shape, write_explorer

    at_least(args.max_sliders, 1, "--max-sliders")
    at_least(args.max_points, 2, "--max-points")
    check_out(args.out, args.overwrite, suffixes=(".html", ".htm"), example="explore.html")
    model = load(args.checkpoint)
    image_shape(model)  # refuse a model of signals before loading any data
    dm = datamodule_for(args, model)
    x, y = dm.full_arrays(args.split)
    # the legend names the classes as the data does (Fashion-MNIST's, a folder's sub-folders)
    classes = dm.classes
    path = write_explorer(
        model,
        x,
        y,
        args.out,
        method=args.map,
        max_points=args.max_points,
        max_sliders=args.max_sliders,
        seed=args.seed,
        class_names=list(classes) if classes is not None else None,
        overwrite=args.overwrite,
    )
    size = path.stat().st_size
    print(f"wrote the explorer of {args.checkpoint} to {path} ({size / 1e6:.2f} MB)")
    return 0
