"""``autoencoders bakeoff``: options from ``BakeoffConfig``; the run and its report."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from autoencoders.cli.parsing import CommandParser, add_dataclass_options
from autoencoders.registry import VARIANTS

HELP = "train and compare models beside PCA; write a report"


def add_arguments(parser: CommandParser) -> None:
    """One option per field of ``BakeoffConfig`` (its own module is torch-free)."""
    from autoencoders.bakeoff import BakeoffConfig

    parser.usage = "autoencoders bakeoff [options]"
    add_dataclass_options(parser, BakeoffConfig, BakeoffConfig(), skip=("verbose",))


def run(args: argparse.Namespace) -> int:
    """Runs the bake-off; exit code 1 where a model failed (the report says why)."""
    from autoencoders.bakeoff import Bakeoff, BakeoffConfig

    values = {k: v for k, v in vars(args).items() if k != "verbose"}
    names = values.pop("models")
    values["models"] = tuple(VARIANTS) if "all" in names else tuple(names)
    if "verbose" in {f.name for f in dataclasses.fields(BakeoffConfig)}:
        values["verbose"] = args.verbose  # the overall progress line, or every run's own bar
    bakeoff = Bakeoff(BakeoffConfig(**values))
    results = bakeoff.run()
    failed = [
        n
        for n, e in results["models"].items()
        if any(s.get("status") == "failed" for s in e.values())
    ]
    print(f"report: {Path(args.out) / 'report.md'}  and  {Path(args.out) / 'report.html'}")
    if failed:
        print(f"failed: {', '.join(failed)} (see the report)")
    return 1 if failed else 0
