"""``autoencoders train``: one training run from the command line's two configs."""

from __future__ import annotations

import argparse

from autoencoders.cli.train_options import add_train_options, resolve_options

HELP = "train a model and save its checkpoint"

#: the options are the configs' fields (see train_options)
add_arguments = add_train_options


def run(args: argparse.Namespace) -> int:
    """Trains the run ``args`` describe and prints its summary; returns the exit code."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from autoencoders.training.job import train_run

    run_cfg, model_cfg = resolve_options(args)
    result = train_run(run_cfg, model_cfg)
    if rank_zero_only.rank == 0:  # one summary, not one per process
        print(result.summary())
    return 0
