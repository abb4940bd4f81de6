"""The ``autoencoders`` command line.

Sub-commands are listed in ``COMMANDS`` below: a name, a help line, a function
that adds the command's arguments to its parser and one that runs it and
returns an exit code. Only the command being run gets its arguments, and the
modules a command needs are imported inside its functions (:func:`lazy` does
that for a function of another module), so ``autoencoders --help``, the
listings and ``train --help`` start without torch or Lightning.

Parsing is jsonargparse's: it reads each value as its option's annotated type
(``int | None``, lists, booleans with ``--no-`` forms). We chose it over
LightningCLI because our commands are not one Trainer call each (listings, a
bake-off, evaluation of a checkpoint), our run settings are our own
``TrainConfig`` rather than the Trainer's arguments, and LightningCLI imports
Lightning and torch to build its parser, which alone takes seconds; jsonargparse
is the parser LightningCLI is built on. The options of ``train`` and ``bakeoff``
are generated from the config dataclasses (:func:`add_dataclass_options`): a new
field with an ``option(...)`` help text is a new flag, and ``train --model M
--help`` shows model M's own options and defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import signal
import sys
import textwrap
import typing
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, DefaultHelpFormatter

from autoencoders.config import ModelConfig, TrainConfig
from autoencoders.errors import ConfigError, TrainingStopped, UserError
from autoencoders.options import field_requirement
from autoencoders.registry import DATASET_DESCRIPTIONS, DEFAULT_MODEL, VARIANTS, variant

log = logging.getLogger(__name__)


class UsageError(ConfigError):
    """A mistake in the command line or config file; printed without a traceback."""


class _HelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help layout, without breaking lines inside ``--flag-names``.

    Each option's help ends with its default once, and never with a Python type
    name (``type: <class 'Path'>``), which tells a user nothing the metavar does not.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.option_strings[0] in ("-h", "--version"):
            return text
        if action.required or not action.option_strings:
            return text
        default = action.default
        shown = re.search(r"\(default\b|default:", text) is not None
        if shown or default is None or default is False or default == argparse.SUPPRESS:
            return text
        if isinstance(default, (list, tuple)) and not default:
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {str(default).replace('%', '%%')})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )


class CommandParser(ArgumentParser):
    """jsonargparse's parser, raising ``argparse.ArgumentError`` instead of exiting.

    ``argv`` is the command line the parser is built for, so that a command's
    options may depend on one of them (``train`` offers the options of the
    ``--model`` it is given, with that model's defaults).
    """

    def __init__(self, *args: Any, argv: Sequence[str] = (), **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self.argv = list(argv)
        #: arguments read from a config file, parsed before the command line's own
        self.prepend: list[str] = []
        #: dest -> (dataclass, field) of the generated options, for messages
        self.fields: dict[str, tuple[type, str]] = {}


def lazy(module: str, name: str) -> Callable[..., Any]:
    """Function ``name`` of ``module``, imported when first called (keeps ``--help`` fast)."""

    def call(*args: Any) -> Any:
        return getattr(import_module(module), name)(*args)

    call.__name__ = name
    return call


# --------------------------------------------------------------- option tables
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) in (tuple, list)


def add_dataclass_options(
    parser: CommandParser,
    cls: type,
    defaults: Any,
    *,
    title: str | None = None,
    skip: Sequence[str] = (),
) -> None:
    """One flag per field of dataclass ``cls`` that the command line offers.

    The type comes from the field's annotation, the help text from its
    ``option(...)`` metadata and the default from ``defaults`` (an instance of
    ``cls``). Lists take one or more values, space- or comma-separated;
    booleans have a ``--no-`` form. Fields marked ``cli=False``, mappings and
    the names in ``skip`` are left out.
    """
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if not f.metadata.get("cli", True) or f.name in skip or typing.get_origin(hint) is dict:
            continue
        default = getattr(defaults, f.name)
        kwargs: dict[str, Any] = {"default": default, "help": f.metadata.get("help", "")}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif _is_list(hint):
            kwargs.update(type=typing.get_args(hint)[0], nargs="+", default=list(default))
            kwargs["metavar"] = f.name.upper()
        else:
            kwargs["type"] = hint
        group.add_argument(_flag(f.name), **kwargs)
        parser.fields[f.name] = (cls, f.name)


def cli_fields(cls: type) -> set[str]:
    """The fields of dataclass ``cls`` that are command-line options."""
    return {f.name for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}


def model_fields() -> dict[str, list[str]]:
    """Every command-line model option across all variants, with the models that use it."""
    found: dict[str, list[str]] = {}
    for name, var in VARIANTS.items():
        for f in sorted(cli_fields(var.config_cls)):
            found.setdefault(f, []).append(name)
    return found


def _list_flags(parser: CommandParser) -> set[str]:
    """The flags of ``parser`` that take a list (``nargs="+"``)."""
    return {
        s
        for a in parser._actions  # argparse keeps no public list of a parser's options
        if a.nargs == "+"
        for s in a.option_strings
    }


def split_lists(argv: Sequence[str], list_flags: set[str]) -> list[str]:
    """``argv`` with comma-separated values of list options made separate values.

    ``--models simple,deep`` and ``--models=simple,deep`` become ``--models
    simple deep``, which is also accepted as it is.
    """
    out: list[str] = []
    in_list = False
    for token in argv:
        flag, eq, value = token.partition("=")
        if token.startswith("--") and flag in list_flags:
            out.append(flag)
            in_list = True
            token = value if eq else ""
        elif token.startswith("-") and not _is_number(token):
            in_list = False
        if not token:
            continue
        out.extend([v for v in token.split(",") if v] if in_list else [token])
    return out


def _is_number(token: str) -> bool:
    return re.fullmatch(r"-\d[\d.e+-]*", token) is not None


def given_flags(argv: Sequence[str]) -> dict[str, str | None]:
    """The long options in ``argv`` as field names, each with the value after it (if any).

    A read of the command line before it is parsed, for the options that decide
    which others exist (``train``'s ``--model``, ``--config`` and ``--resume``).
    ``--no-ema`` counts as ``ema``.
    """
    found: dict[str, str | None] = {}
    for i, token in enumerate(argv):
        if token == "--":
            break
        if not token.startswith("--") or len(token) == 2:
            continue
        flag, eq, value = token[2:].partition("=")
        name = flag.replace("-", "_")
        if not eq:
            following = argv[i + 1] if i + 1 < len(argv) else None
            is_value = following is not None and (
                not following.startswith("-") or _is_number(following)
            )
            value = following if is_value else None  # type: ignore[assignment]
        found[name] = value
        if name.startswith("no_"):
            found.setdefault(name[3:], None)
    return found


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


# ------------------------------------------------------------------- train
def _train_parser(parser: CommandParser) -> None:
    """``train``'s options: the run's and those of the chosen model, with its defaults.

    The model is ``--model``, else the config file's ``model``, else the default
    (a resumed run keeps its own: see :func:`_resume_parser`). Options of other
    models are refused here, with a message that says so, before the parser
    would call them unknown.
    """
    given = given_flags(parser.argv)
    config_path = given.get("config")
    file_values = read_config_file(Path(config_path) if config_path else None)
    on_command_line = set(given) - {"help"}
    run_names = cli_fields(TrainConfig)
    model_options = model_fields()
    resume = given.get("resume") or file_values.get("resume")
    if resume:
        return _resume_parser(parser, str(resume), on_command_line, file_values)
    model = str(given.get("model") or file_values.get("model") or DEFAULT_MODEL)
    config_cls = variant(model).config_cls
    own = cli_fields(config_cls)
    unknown = sorted(set(file_values) - run_names - set(model_options) - {"model"})
    if unknown:
        raise UsageError(
            f"config file {config_path}: unknown option(s) {', '.join(unknown)}; "
            "see `autoencoders train --help`"
        )
    wrong = sorted((on_command_line | set(file_values)) & (set(model_options) - own))
    if wrong:
        raise UsageError(
            f"option(s) {', '.join(map(_flag, wrong))} do not apply to model {model!r}; "
            f"`autoencoders train --model {model} --help` lists its options"
        )
    parser.usage = "autoencoders train [--model NAME] [--config FILE] [options]"
    _add_model_choice(parser, model)
    add_dataclass_options(parser, TrainConfig, TrainConfig(), title="run options")
    add_dataclass_options(
        parser, config_cls, config_cls(), title=f"options of model {model!r} (its defaults)"
    )
    parser.epilog = _other_models_note(own, model_options)
    # The file's values are parsed as arguments in front of the command line's, so they
    # are read as the options' types and a flag given on the command line wins; as
    # defaults too, so that `--help` shows them.
    parser.prepend = _as_arguments(file_values)
    parser.set_defaults(**_as_defaults(file_values, parser))


def _add_model_choice(parser: CommandParser, model: str) -> None:
    parser.add_argument(
        "--model",
        default=model,
        metavar="NAME",
        help=f"model variant, one of: {', '.join(VARIANTS)}; `train --model NAME --help` "
        "shows its options and defaults",
    )
    parser.add_argument(
        "--config",
        type=Path | None,
        default=None,
        metavar="FILE",
        help="YAML or JSON file of option values (keys as the long options, with _ for -); "
        "command-line options override it",
    )


def _other_models_note(own: set[str], model_options: dict[str, list[str]]) -> str:
    others = {k: v for k, v in model_options.items() if k not in own}
    listed = "; ".join(f"{_flag(k)} ({', '.join(users)})" for k, users in sorted(others.items()))
    return f"Options of other models (`train --model NAME --help` shows them): {listed}."


def _as_arguments(values: dict[str, Any]) -> list[str]:
    """Config-file values as command-line arguments (``--flag=value``, lists comma-joined)."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            out.append(_flag(key) if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            out.append(f"{_flag(key)}={','.join(map(str, value))}")
        else:
            out.append(f"{_flag(key)}={'null' if value is None else value}")
    return out


def _as_defaults(values: dict[str, Any], parser: CommandParser) -> dict[str, Any]:
    """Config-file values as parser defaults: lists for list options, split at commas."""
    lists = {flag[2:].replace("-", "_") for flag in _list_flags(parser)}
    out = {}
    for key, value in values.items():
        if key in lists and isinstance(value, str):
            value = [v for v in value.split(",") if v]
        elif key in lists and isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


#: run options that define what a run trains on; the others (budget, machine) may change
#: when it is resumed
RUN_IDENTITY = ("dataset", "batch_size", "train_size", "exclude_class", "only_class", "seed",
                "data_kind", "scale", "label_column", "header")  # fmt: skip


def _resume_parser(
    parser: CommandParser, resume: str, flags: set[str], file_values: dict[str, Any]
) -> None:
    """Options of a resumed run: its run's and its model's, defaulting to the stored values.

    A user continues a stopped run by repeating its command with ``--resume RUN``
    added, so every option of that command is accepted here; :func:`_resumed_options`
    refuses those whose value differs from the run's own (model options and the
    run's :data:`RUN_IDENTITY`), while the budget and machine options may change.
    """
    from autoencoders.runs import checkpoint_in

    run_dir, ckpt = checkpoint_in(resume)
    stored = _stored_json(run_dir / "run.json")
    model_config = _stored_model_config(run_dir, ckpt)
    model = str(model_config.get("model", DEFAULT_MODEL))
    if model not in VARIANTS:
        raise UsageError(f"{ckpt} is a run of model {model!r}, which this version does not know")
    config_cls = variant(model).config_cls
    own = cli_fields(config_cls)
    wrong = sorted((flags | set(file_values)) & (set(model_fields()) - own))
    if wrong:
        raise UsageError(
            f"option(s) {', '.join(map(_flag, wrong))} do not apply to model {model!r}, the "
            f"model of the run in {run_dir}; leave them out, or start a new run"
        )
    _add_model_choice(parser, model)
    add_dataclass_options(parser, TrainConfig, TrainConfig(), title="run options")
    add_dataclass_options(
        parser, config_cls, config_cls(), title=f"options of model {model!r} (the run's values)"
    )
    # how this command shows progress is not the run's to keep
    keep = cli_fields(TrainConfig) - {"resume", "overwrite", "progress"}
    parser.set_defaults(**{k: v for k, v in stored.items() if k in keep})
    parser.set_defaults(**_as_defaults({k: v for k, v in model_config.items() if k in own}, parser))
    parser.prepend = _as_arguments(file_values)


def _stored_json(path: Path) -> dict[str, Any]:
    """A run's stored settings (``run.json``, ``config.json``); empty if the file is missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise UsageError(f"{path} is not valid JSON ({err}); fix or remove it") from None
    return data if isinstance(data, dict) else {}


def _stored_model_config(run_dir: Path, ckpt: Path) -> dict[str, Any]:
    """The model config of the run being resumed: the checkpoint's own (it is what resumes)."""
    from autoencoders.checkpoint import read_checkpoint

    config = read_checkpoint(ckpt).get("autoencoder_config")
    if not isinstance(config, dict):
        raise UsageError(f"{ckpt} holds no model config, so it cannot be resumed from the CLI")
    return dict(config)


def resolve_options(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    """The two configs of a ``train`` command line (defaults, config file and flags merged).

    With ``--resume``, the model's config comes from the run being resumed and
    its run settings from that run's ``run.json``; flags may change run settings
    (``--epochs`` to train longer, ``--threads``, ...) but not the model.
    """
    values = {k: v for k, v in vars(args).items() if k not in ("config", "verbose")}
    model = str(values.pop("model"))
    if values.get("resume"):
        return _resumed_options(values, model)
    run_names = {f.name for f in dataclasses.fields(TrainConfig)}
    run = TrainConfig(**{k: v for k, v in values.items() if k in run_names})
    model_values = {
        k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k not in run_names
    }
    return run, variant(model).config_cls(**model_values)


def _resumed_options(values: dict[str, Any], model: str) -> tuple[TrainConfig, ModelConfig]:
    """The configs of ``--resume``: the stored model's, and the run settings as given.

    Raises:
        UsageError: naming every option whose given value differs from the run's stored
            one, where that value may not change (see :func:`_resume_parser`).
    """
    from autoencoders.registry import make_config
    from autoencoders.runs import checkpoint_in

    run_dir, ckpt = checkpoint_in(values["resume"])
    config = _stored_model_config(run_dir, ckpt)
    stored_run = _stored_json(run_dir / "run.json")
    stored_model = str(config.pop("model"))
    differ = [("model", stored_model, model)] if model != stored_model else []
    own = cli_fields(variant(stored_model).config_cls) if stored_model in VARIANTS else set()
    for key in sorted(own & set(config) & set(values)):
        if _plain(values[key]) != _plain(config[key]):
            differ.append((key, config[key], values[key]))
    for key in RUN_IDENTITY:
        if key in stored_run and key in values:
            if not _same_setting(key, stored_run[key], values[key]):
                differ.append((key, stored_run[key], values[key]))
    if differ:
        listed = "; ".join(
            f"{_flag(k)} {_shown(given)} (the run has {_shown(kept)})" for k, kept, given in differ
        )
        raise UsageError(
            f"--resume {values['resume']}: a resumed run keeps these options, but they differ: "
            f"{listed}; leave them out or give the run's values, or start a new run"
        )
    run_names = {f.name for f in dataclasses.fields(TrainConfig)}
    # `--overwrite` from the repeated command means nothing here: the run is continued
    run = TrainConfig(**{**{k: v for k, v in values.items() if k in run_names}, "overwrite": False})
    return run, make_config(stored_model, **config)


def _plain(value: Any) -> Any:
    """A value as JSON stores it, for comparing a parsed option with a stored one."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _same_setting(key: str, stored: Any, given: Any) -> bool:
    if _plain(stored) == _plain(given):
        return True
    # a data file named from another folder, or by another spelling of the same path
    return key == "dataset" and Path(str(stored)).resolve() == Path(str(given)).resolve()


def _shown(value: Any) -> str:
    """An option's value as it is typed on the command line."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "null" if value is None else str(value)


def _train(args: argparse.Namespace) -> int:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from autoencoders.runs import train_run

    run_cfg, model_cfg = resolve_options(args)
    result = train_run(run_cfg, model_cfg)
    if rank_zero_only.rank == 0:  # one summary, not one per process
        print(result.summary())
    return 0


# ---------------------------------------------------------------- listings
def _no_arguments(parser: CommandParser) -> None:
    pass


def _list_models(args: argparse.Namespace) -> int:
    width = max(len(n) for n in VARIANTS)
    for name, var in VARIANTS.items():
        print(f"{name:<{width}}  {var.description}")
    return 0


def _list_datasets(args: argparse.Namespace) -> int:
    width = max(len(n) for n in DATASET_DESCRIPTIONS)
    for name, description in DATASET_DESCRIPTIONS.items():
        print(f"{name:<{width}}  {description}")
    print("\nor a path: a folder of IDX files, .npy/.npz, .csv/.parquet, or a folder of images")
    return 0


# ----------------------------------------------------------------- bake-off
def _bakeoff_parser(parser: CommandParser) -> None:
    from autoencoders.bakeoff import BakeoffConfig

    parser.usage = "autoencoders bakeoff [options]"
    add_dataclass_options(parser, BakeoffConfig, BakeoffConfig(), skip=("verbose",))


def _bakeoff(args: argparse.Namespace) -> int:
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


#: what --split may name; "all" is every row of the data, in its own order
SPLITS = ("all", "train", "val", "test")


def _checkpoint_data_options(
    parser: argparse.ArgumentParser, split: str | None = None, split_help: str = ""
) -> None:
    """The checkpoint and the data options of a command that reads data for a model."""
    parser.add_argument(
        "checkpoint", type=Path, help="a .ckpt file written by `autoencoders train`"
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="data set name or path (default: the data the checkpoint was trained on, from "
        "run.json in its run folder)",
    )
    parser.add_argument("--data-dir", default=None, help="folder holding or receiving data files")
    parser.add_argument(
        "--label-column",
        default=None,
        metavar="NAME",
        help="a table's label column (default: the run's, else the first named label, "
        "target, class or y; none: no labels)",
    )
    parser.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a CSV's first row names its columns (default: the run's setting; detected)",
    )
    if split is not None:
        parser.add_argument("--split", choices=SPLITS, default=split, help=split_help)


def _datamodule_for(args: argparse.Namespace, model: Any):
    """The data the command reads (the run's own by default), checked against ``model``."""
    from autoencoders.checkpoint import checkpoint_datamodule
    from autoencoders.errors import CheckpointError

    config = getattr(model, "config", None) or {}
    dm = checkpoint_datamodule(
        args.checkpoint,
        config,
        getattr(model, "data_scaler", None),
        args.dataset,
        args.data_dir,
        label_column=getattr(args, "label_column", None),
        header=getattr(args, "header", None),
    )
    expected = tuple(config.get("input_shape") or getattr(model.decoder, "output_shape", ()))
    if expected and tuple(dm.sample_shape) != expected:
        raise CheckpointError(
            f"{args.checkpoint} takes samples of shape {expected} but {args.dataset or dm.name} "
            f"has {tuple(dm.sample_shape)}: pass the --dataset the model was trained on"
        )
    return dm


def _positive(value: int, flag: str) -> int:
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return value


def _evaluate_parser(parser: argparse.ArgumentParser) -> None:
    _checkpoint_data_options(
        parser, "test", "rows the metrics are taken on (the probe trains on the train split)"
    )
    parser.add_argument(
        "--n-labels", type=int, default=550, help="labelled codes for the linear probe"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the metrics as JSON here"
    )


class StageProgress:
    """The stages of a long command on stderr: a bar on a terminal, else a line per stage.

    stdout keeps the results alone, so that they can be piped or redirected; a
    log file (stderr not a terminal) gets plain lines, not bar redraws.
    """

    def __init__(self, command: str, total: int) -> None:
        self.command, self.total, self.started = command, total, 0
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} stages [{elapsed}]",
            )

    def __call__(self, stage: str) -> None:
        """Says that ``stage`` begins (and so that the one before it is done)."""
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.bar.set_description_str(f"{self.command}: {stage}")
        else:
            print(f"{self.command}: {stage}...", file=sys.stderr, flush=True)
        self.started += 1

    def prefixed(self, prefix: str) -> Callable[[str], None]:
        """The same progress, each stage named after ``prefix`` (which model it is about)."""
        return lambda stage: self(f"{prefix}: {stage}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _evaluate(args: argparse.Namespace) -> int:
    from autoencoders.assess import (
        EvalData,
        ModelCodec,
        PCACodec,
        evaluate_codec,
        evaluation_stages,
        metrics_for_samples,
    )
    from autoencoders.checkpoint import load

    _positive(args.n_labels, "--n-labels")
    if args.out is not None:
        _refuse_folder(args.out)
    model = load(args.checkpoint)
    dm = _datamodule_for(args, model)
    data = EvalData.from_datamodule(dm, split=args.split)
    image = len(dm.sample_shape) == 3
    pca_name = f"PCA-{model.latent_dim}"
    # the model and PCA go through the same stages, and PCA is fitted first
    progress = StageProgress("evaluate", 2 * evaluation_stages(data) + 1)
    try:
        ours = metrics_for_samples(
            evaluate_codec(
                ModelCodec(model),
                data,
                n_labels=args.n_labels,
                progress=progress.prefixed("model"),
            ),
            image,
        )
        progress(f"{pca_name}: fitting on {len(data.x_train):,} training samples")
        pca_codec = PCACodec(model.latent_dim).fit(data.x_train)
        pca = metrics_for_samples(
            evaluate_codec(
                pca_codec, data, n_labels=args.n_labels, progress=progress.prefixed(pca_name)
            ),
            image,
        )
    finally:
        progress.close()
    keys = [k for k in ours if isinstance(ours[k], float)]
    width = max(len(k) for k in keys)
    print(f"{'metric':<{width}}  {'model':>10}  {'PCA-' + str(model.latent_dim):>10}")
    for k in keys:
        print(f"{k:<{width}}  {ours[k]:>10.4f}  {pca[k]:>10.4f}")
    if "note" in ours:
        print(f"note: {ours['note']}")
    if args.out:
        from autoencoders.files import write_json

        write_json(args.out, {"model": ours, "pca": pca, "checkpoint": str(args.checkpoint)})
    return 0


def _embed_parser(parser: argparse.ArgumentParser) -> None:
    _checkpoint_data_options(
        parser, "all", "rows to embed (default: all, in the order of the data's rows)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="codes.npy (the codes, one row per sample) or codes.csv (index: the row number "
        "in the data; file, for image folders; z0, z1, ...; label, where there are labels)",
    )


def _embed(args: argparse.Namespace) -> int:
    import numpy as np

    from autoencoders.assess import ModelCodec
    from autoencoders.checkpoint import load
    from autoencoders.files import atomic_write

    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise UsageError(f"--out must end in .npy or .csv, got {args.out.name}")
    _refuse_folder(args.out)
    model = load(args.checkpoint)
    dm = _datamodule_for(args, model)
    x, y, rows = dm.rows(args.split)
    z = ModelCodec(model).encode(x.numpy())
    if suffix == ".npy":
        atomic_write(args.out, lambda f: np.save(f, z))
    else:
        columns = {"index": rows.numpy()}
        if dm.files is not None:
            columns["file"] = np.asarray(dm.files, dtype=object)[rows.numpy()]
        columns.update({f"z{i}": z[:, i] for i in range(z.shape[1])})
        labels = label_values(y.numpy(), dm.classes)
        if labels is not None:
            columns["label"] = labels
        atomic_write(args.out, lambda f: write_csv_columns(f, columns))
    print(f"wrote {z.shape[0]} codes of size {z.shape[1]} ({args.split} rows) to {args.out}")
    return 0


def label_values(y: Any, classes: Sequence[str] | None) -> Any:
    """Labels as the data had them: class names where it has them; None where it has none."""
    import numpy as np

    y = np.asarray(y)
    if not len(y) or (y < 0).all():
        return None
    if classes is None:
        return y
    names = np.asarray([*classes, ""], dtype=object)
    return names[np.where(y >= 0, y, len(classes))]


def write_csv_columns(f: Any, columns: dict[str, Any], float_format: str = ".6g") -> None:
    """Writes named columns of equal length to binary file ``f`` as a CSV.

    Floats are written with ``float_format``; text is quoted where needed.
    """
    import csv
    import io

    import numpy as np

    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(list(columns))
    cells = []
    for values in columns.values():
        values = np.asarray(values)
        if values.dtype.kind == "f":
            cells.append([format(v, float_format) for v in values])
        else:
            cells.append([str(v) for v in values])
    writer.writerows(zip(*cells, strict=True))
    text.flush()
    text.detach()


def _generate_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", type=Path, help="a .ckpt file written by `autoencoders train`"
    )
    parser.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("samples.png"),
        help="PNG grid of the samples; for a model of tables or vectors, a .csv or .npy of "
        "them in the data's own units",
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


def _generate(args: argparse.Namespace) -> int:
    import torch

    from autoencoders.checkpoint import load
    from autoencoders.generation import interpolation_pair, save_interpolation, save_sample_grid

    _positive(args.n, "--n")
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2 (the two end images), got {args.steps}")
    _refuse_folder(args.out)
    model = load(args.checkpoint)
    # always seeded: a command run twice gives the same samples (a picture to compare)
    generator = torch.Generator().manual_seed(args.seed)
    if len(getattr(model.decoder, "output_shape", ())) != 3:
        return _generate_rows(args, model, generator)
    pair = None
    if args.interpolate:  # the data is read first: a command that fails writes nothing
        x, y = _datamodule_for(args, model).full_arrays("test")
        first, other = interpolation_pair(y)
        pair = x[first], x[other]
    path = save_sample_grid(model, args.n, args.out, generator=generator)
    print(f"wrote {args.n} samples to {path}")
    if pair is not None:
        png = args.out.with_name(args.out.stem + "-interpolation.png")
        gif = png.with_suffix(".gif")
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


def _refuse_folder(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name, e.g. {path / 'out.png'}")


#: name -> (help, add-arguments, run). Import a command's own module inside its
#: functions (see :func:`lazy`): ``autoencoders --help`` then stays free of torch.
COMMANDS: dict[
    str,
    tuple[str, Callable[[CommandParser], None], Callable[[argparse.Namespace], int]],
] = {
    "train": ("train a model and save its checkpoint", _train_parser, _train),
    "list-models": ("list the registered models", _no_arguments, _list_models),
    "list-datasets": ("list the named data sets", _no_arguments, _list_datasets),
    "evaluate": (
        "score a checkpoint beside PCA on a data set's test split",
        _evaluate_parser,
        _evaluate,
    ),
    "embed": ("write the codes of a data set's images to .npy or .csv", _embed_parser, _embed),
    "bakeoff": ("train and compare models beside PCA; write a report", _bakeoff_parser, _bakeoff),
    "generate": (
        "write samples (and optionally an interpolation) of a checkpoint",
        _generate_parser,
        _generate,
    ),
    "explore": (
        "write an offline HTML page to explore a checkpoint's latent space",
        lazy("autoencoders.explore", "add_arguments"),
        lazy("autoencoders.explore", "run"),
    ),
    "score": (
        "write one anomaly score per sample of a data set, flagged at a threshold",
        lazy("autoencoders.scoring", "add_arguments"),
        lazy("autoencoders.scoring", "run"),
    ),
}


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> CommandParser:
    """The parser of ``autoencoders`` for the command line ``argv``.

    Every command is listed, but only the one ``argv`` names gets its options:
    building them may import what that command needs, or read its files.
    """
    parser = CommandParser(
        prog="autoencoders", description="Train, evaluate and compare autoencoders."
    )
    _add_verbose(parser)
    parser.add_argument(
        "--version",
        action="version",
        version=f"autoencoders {_version()}",
        help="print the version",
    )
    sub = parser.add_subcommands(dest="command", metavar="COMMAND")
    chosen = _command_in(argv)
    own = list(argv)[list(argv).index(chosen) + 1 :] if chosen in COMMANDS else []
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        command = CommandParser(description=help_text, argv=own)
        if name == chosen:
            add_arguments(command)
            _add_verbose(command)  # `-v` works after the command as well as before it
        sub.add_subcommand(name, command, help=help_text)
    return parser


def _add_verbose(parser: CommandParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autoencoder-lab")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``autoencoders`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    name = f"autoencoders {command}" if command in COMMANDS else "autoencoders"
    try:
        args = parse_command(argv)
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        if args.verbose:
            # our own debug messages and Lightning's banners; other libraries' debug
            # chatter (matplotlib's font search: 100+ KB a run) stays off
            logging.getLogger("autoencoders").setLevel(logging.DEBUG)
        else:
            _quiet_libraries()
        return COMMANDS[str(command)][2](args)
    except TrainingStopped as err:
        _say(f"{name}: {err}")
        return err.exit_code
    except KeyboardInterrupt:
        # outputs are written atomically, so an unfinished one is simply absent
        _say(f"{name}: interrupted; files not yet finished were not written")
        return 128 + signal.SIGINT
    except UserError as err:
        _say(f"{name}: error: {err}")
        return err.exit_code
    except OSError as err:
        if err.filename is None:  # not about a path the user gave: a bug, keep its traceback
            raise
        _say(f"{name}: error: {err.filename}: {err.strerror or err}")
        return 2


def parse_command(argv: Sequence[str]) -> argparse.Namespace:
    """The options of the command ``argv`` runs, with ``verbose``, as a plain namespace.

    Raises:
        UsageError: for anything the parser refuses, in one line.
        SystemExit: after printing ``--help``.
    """
    argv = list(argv)
    command = _command_in(argv)
    parser = build_parser(argv)
    sub = _subparser(parser, command)
    if sub is not None and sub.prepend:
        at = argv.index(str(command)) + 1
        argv = [*argv[:at], *sub.prepend, *argv[at:]]
    try:
        ns = parser.parse_args(split_lists(argv, _list_flags(sub) if sub is not None else set()))
    except argparse.ArgumentError as err:
        raise UsageError(_parser_message(str(err), parser, command)) from None
    own = ns.get(str(ns.command))
    values = own.as_dict() if own is not None else {}
    verbose = bool(values.pop("verbose", False)) or bool(ns.verbose)
    return argparse.Namespace(**values, verbose=verbose)


def _subparser(parser: CommandParser, command: str | None) -> CommandParser | None:
    for action in parser._actions:  # argparse has no public way to reach a sub-command's parser
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict) and command in choices:
            return choices[command]
    return None


def _parser_message(text: str, parser: CommandParser, command: str | None) -> str:
    """The parser's complaint as one line that names the flag and the fix."""
    text = " ".join(text.split())
    sub = _subparser(parser, command)
    help_hint = f"see `autoencoders {command} --help`" if sub else "see `autoencoders --help`"
    if (m := re.match(r'Parser key "([\w.]+)"', text)) is not None:
        key = m.group(1).rsplit(".", 1)[-1]
        got = re.search(r"(?:Got|Given) value: (.*)$", text)
        value = got.group(1) if got else "?"
        return f"{_flag(key)} must be {_wanted(sub, key)}, got {value!r}"
    if text.startswith("unrecognized arguments:"):
        return f"{text}; {help_hint}"
    if "invalid choice" in text and "COMMAND" in text:
        return f"unknown command {text.split(':', 2)[2].split('(')[0].strip()}; choose one of: {', '.join(COMMANDS)}"
    if "but it was not provided" in text:
        return f"give a command, one of: {', '.join(COMMANDS)}; {help_hint}"
    if text.startswith("the following arguments are required:"):
        missing = text.split(":", 1)[1].replace(f"{command}.", "")
        return f"missing {missing.strip()}; {help_hint}"
    return f"{text}; {help_hint}"


def _wanted(parser: CommandParser | None, key: str) -> str:
    """What option ``key`` accepts, in words, for a value the parser could not read."""
    if parser is not None and key in parser.fields:
        try:
            return field_requirement(*parser.fields[key])
        except TypeError:  # a field type the validator does not describe
            pass
    action = next((a for a in (parser._actions if parser else []) if a.dest == key), None)
    kind = getattr(action, "_typehint", None) or getattr(action, "type", None)
    return {int: "an integer", float: "a number"}.get(kind, f"a value of type {kind}")


def _quiet_libraries() -> None:
    """Keeps Lightning's banners and tips and known third-party notes off stderr."""
    from autoencoders.quiet import hush

    hush()  # for the whole process: the command is all it runs


def _say(message: str) -> None:
    """One line on stderr, whatever line breaks the message holds."""
    print(" ".join(message.split()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
