"""The ``autoencoders`` command line.

Sub-commands register themselves in ``COMMANDS`` below; each is a pair of
functions: one adds its arguments to a parser, one runs it and returns an exit
code. Model options are generated from the config dataclasses, so a new field in
a config is a new flag with no CLI code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autoencoders.config import ModelConfig, TrainConfig

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A mistake in the command line or config file; printed without a traceback."""


# --------------------------------------------------------------- option tables
def _field_type(f: dataclasses.Field) -> tuple[Callable[[str], Any] | None, str | None]:
    """(argparse type, nargs) for a config field, read from its default value."""
    default = f.default
    if isinstance(default, bool):
        return None, None
    if isinstance(default, tuple):
        return (type(default[0]) if default else int), "+"
    if default is None:
        return (int if f.name in _INT_OPTIONAL else str), None
    return type(default), None


_INT_OPTIONAL = {"train_size", "exclude_class", "only_class", "threads"}


def model_fields() -> dict[str, tuple[dataclasses.Field, list[str]]]:
    """Every command-line model option across all variants, with the models that use it."""
    from autoencoders.models import VARIANTS

    found: dict[str, tuple[dataclasses.Field, list[str]]] = {}
    for name, var in VARIANTS.items():
        for f in dataclasses.fields(var.config_cls):
            if not f.metadata.get("cli", True):
                continue
            found.setdefault(f.name, (f, []))[1].append(name)
    return found


def _add_dataclass_options(
    parser: argparse.ArgumentParser, fields: Sequence[tuple[dataclasses.Field, str]]
) -> None:
    for f, extra in fields:
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')}{extra}"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {f.default})",
            )
            continue
        arg_type, nargs = _field_type(f)
        parser.add_argument(
            flag,
            type=arg_type,
            nargs=nargs,
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{help_text} (default: {f.default})",
        )


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``train`` (also used by commands that train, like ``bakeoff``)."""
    from autoencoders.models import VARIANTS

    parser.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"model variant, one of: {', '.join(VARIANTS)} (default: deep)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="YAML or JSON file of option values (keys as the long options, with _ for -); "
        "command-line options override it",
    )
    train = parser.add_argument_group("run options")
    _add_dataclass_options(train, [(f, "") for f in dataclasses.fields(TrainConfig)])
    model = parser.add_argument_group("model options")
    n_models = len(VARIANTS)
    _add_dataclass_options(
        model,
        [
            (f, "" if len(users) == n_models else f" [models: {', '.join(users)}]")
            for f, users in model_fields().values()
        ],
    )


def read_config_file(path: Path | None) -> dict[str, Any]:
    """Option values from a YAML or JSON file (empty without a file)."""
    if path is None:
        return {}
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:
        raise UsageError(f"cannot parse config file {path}: {err}") from err
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def resolve_options(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    """Merges defaults, the config file and command-line flags into the two configs.

    Raises:
        UsageError: for an unknown model, an unknown key, or an option the chosen
            model does not have.
    """
    from autoencoders.models import VARIANTS

    given = read_config_file(getattr(args, "config", None))
    given.update({k: v for k, v in vars(args).items() if k not in ("command", "config", "func")})
    model_name = str(given.pop("model", "deep"))
    if model_name not in VARIANTS:
        raise UsageError(f"unknown model {model_name!r}; choose one of: {', '.join(VARIANTS)}")
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    train_values = {k: v for k, v in given.items() if k in train_names}
    model_values = {k: v for k, v in given.items() if k not in train_names}
    config_cls = VARIANTS[model_name].config_cls
    model_names = {f.name for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True)}
    wrong = sorted(set(model_values) - model_names)
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise UsageError(
            f"option(s) {flags} do not apply to model {model_name!r}; "
            "see `autoencoders train --help` for which models use which options"
        )
    defaults = config_cls()
    for k, v in list(model_values.items()):
        if isinstance(getattr(defaults, k), tuple):
            model_values[k] = tuple(v)
    return TrainConfig(**train_values), dataclasses.replace(defaults, **model_values)


# ------------------------------------------------------------------- commands
def _train_parser(parser: argparse.ArgumentParser) -> None:
    add_train_options(parser)


def _train(args: argparse.Namespace) -> int:
    from autoencoders.runs import train_run

    run_cfg, model_cfg = resolve_options(args)
    result = train_run(run_cfg, model_cfg)
    print(result.summary())
    return 0


def _list_models_parser(parser: argparse.ArgumentParser) -> None:
    pass


def _list_models(args: argparse.Namespace) -> int:
    from autoencoders.models import VARIANTS

    width = max(len(n) for n in VARIANTS)
    for name, var in VARIANTS.items():
        print(f"{name:<{width}}  {var.description}")
    return 0


def _list_datasets_parser(parser: argparse.ArgumentParser) -> None:
    pass


def _list_datasets(args: argparse.Namespace) -> int:
    from autoencoders.data import DATASETS

    width = max(len(n) for n in DATASETS)
    for name, info in DATASETS.items():
        print(f"{name:<{width}}  {info.description}")
    print("\nor a path: a folder of IDX files, .npy/.npz, .csv/.parquet, or a folder of images")
    return 0


#: name -> (help, add-arguments, run)
COMMANDS: dict[
    str,
    tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]],
] = {
    "train": ("train a model and save its checkpoint", _train_parser, _train),
    "list-models": ("list the registered models", _list_models_parser, _list_models),
    "list-datasets": ("list the named data sets", _list_datasets_parser, _list_datasets),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoencoders",
        description="Train, evaluate and compare autoencoders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``autoencoders`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    func = args.func
    del args.verbose
    try:
        return func(args)
    except (UsageError, ValueError, FileNotFoundError) as err:
        print(f"autoencoders {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
