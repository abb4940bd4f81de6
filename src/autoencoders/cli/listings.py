"""``autoencoders list-models`` and ``list-datasets``: the registry's names, torch-free."""

from __future__ import annotations

import argparse

from autoencoders.registry import DATASET_DESCRIPTIONS, VARIANTS

MODELS_HELP = "list the registered models"
DATASETS_HELP = "list the named data sets"


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """A listing takes no options."""


def list_models(args: argparse.Namespace) -> int:
    width = max(len(n) for n in VARIANTS)
    for name, var in VARIANTS.items():
        print(f"{name:<{width}}  {var.description}")
    return 0


def list_datasets(args: argparse.Namespace) -> int:
    width = max(len(n) for n in DATASET_DESCRIPTIONS)
    for name, description in DATASET_DESCRIPTIONS.items():
        print(f"{name:<{width}}  {description}")
    print("\nor a path: a folder of IDX files, .npy/.npz, .csv/.parquet, or a folder of images")
    return 0
