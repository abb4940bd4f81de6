"""``train``'s options and how they resolve into the run's and the model's configs.

The model is ``--model``, else the config file's ``model``, else the default, and
only its own options are offered, with its defaults (``train --model M --help``
shows them). ``--resume RUN`` instead offers the stored run's model and settings
as defaults, and refuses a flag that would change what the run trains (its model
options and :data:`RUN_IDENTITY`), while the budget and machine options may change.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from autoencoders.cli.parsing import (
    CommandParser,
    add_dataclass_options,
    as_arguments,
    as_defaults,
    cli_fields,
    flag,
    given_flags,
    model_fields,
    read_config_file,
)
from autoencoders.config import ModelConfig
from autoencoders.errors import UsageError
from autoencoders.registry import DEFAULT_MODEL, VARIANTS, variant
from autoencoders.run_config import TrainConfig

#: run options that define what a run trains on; the others (budget, machine) may change
#: when it is resumed
RUN_IDENTITY = ("dataset", "batch_size", "train_size", "exclude_class", "only_class", "seed",
                "data_kind", "scale", "label_column", "header", "image_size", "channels_mode",
                "patch_size")  # fmt: skip


# ------------------------------------------------------------------ parser
def add_train_options(parser: CommandParser) -> None:
    """``train``'s options: the run's and those of the chosen model, with its defaults.

    Options of other models are refused here, with a message that says so,
    before the parser would call them unknown.
    """
    given = given_flags(parser.argv)
    config_path = given.get("config")
    file_values = read_config_file(Path(config_path) if config_path else None)
    on_command_line = set(given) - {"help"}
    run_names = cli_fields(TrainConfig)
    model_options = model_fields()
    resume = given.get("resume") or file_values.get("resume")
    if resume:
        return add_resume_options(parser, str(resume), on_command_line, file_values)
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
            f"option(s) {', '.join(map(flag, wrong))} do not apply to model {model!r}; "
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
    parser.prepend = as_arguments(file_values)
    parser.set_defaults(**as_defaults(file_values, parser))


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
    listed = "; ".join(f"{flag(k)} ({', '.join(users)})" for k, users in sorted(others.items()))
    return f"Options of other models (`train --model NAME --help` shows them): {listed}."


def add_resume_options(
    parser: CommandParser, resume: str, flags: set[str], file_values: dict[str, Any]
) -> None:
    """Options of a resumed run: its run's and its model's, defaulting to the stored values.

    A user continues a stopped run by repeating its command with ``--resume RUN``
    added, so every option of that command is accepted here; :func:`resolve_options`
    refuses those whose value differs from the run's own.
    """
    from autoencoders.checkpoint import checkpoint_in

    run_dir, ckpt = checkpoint_in(resume)
    stored = stored_json(run_dir / "run.json")
    model_config = stored_model_config(run_dir, ckpt)
    model = str(model_config.get("model", DEFAULT_MODEL))
    if model not in VARIANTS:
        raise UsageError(f"{ckpt} is a run of model {model!r}, which this version does not know")
    config_cls = variant(model).config_cls
    own = cli_fields(config_cls)
    wrong = sorted((flags | set(file_values)) & (set(model_fields()) - own))
    if wrong:
        raise UsageError(
            f"option(s) {', '.join(map(flag, wrong))} do not apply to model {model!r}, the "
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
    parser.set_defaults(**as_defaults({k: v for k, v in model_config.items() if k in own}, parser))
    parser.prepend = as_arguments(file_values)


def stored_json(path: Path) -> dict[str, Any]:
    """A run's stored settings (``run.json``, ``config.json``); empty if the file is missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise UsageError(f"{path} is not valid JSON ({err}); fix or remove it") from None
    return data if isinstance(data, dict) else {}


def stored_model_config(run_dir: Path, ckpt: Path) -> dict[str, Any]:
    """The model config of the run being resumed: the checkpoint's own (it is what resumes)."""
    from autoencoders.checkpoint import read_checkpoint

    config = read_checkpoint(ckpt).get("autoencoder_config")
    if not isinstance(config, dict):
        raise UsageError(f"{ckpt} holds no model config, so it cannot be resumed from the CLI")
    return dict(config)


# --------------------------------------------------------------- resolution
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
            one, where that value may not change (model options and :data:`RUN_IDENTITY`).
    """
    from autoencoders.checkpoint import checkpoint_in
    from autoencoders.registry import make_config

    run_dir, ckpt = checkpoint_in(values["resume"])
    config = stored_model_config(run_dir, ckpt)
    stored_run = stored_json(run_dir / "run.json")
    stored_model = str(config.pop("model"))
    differ = [("model", stored_model, model)] if model != stored_model else []
    own = cli_fields(variant(stored_model).config_cls) if stored_model in VARIANTS else set()
    for key in sorted(own & set(config) & set(values)):
        if key == "lr" and values[key] == "auto" and stored_run.get("lr_found") == config[key]:
            continue  # the repeated command's `--lr auto`: the run keeps the rate it found
        if _plain(values[key]) != _plain(config[key]):
            differ.append((key, config[key], values[key]))
    for key in RUN_IDENTITY:
        if key in stored_run and key in values:
            if not _same_setting(key, stored_run[key], values[key]):
                differ.append((key, stored_run[key], values[key]))
    if differ:
        listed = "; ".join(
            f"{flag(k)} {_shown(given)} (the run has {_shown(kept)})" for k, kept, given in differ
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
