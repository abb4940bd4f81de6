"""The parser of ``autoencoders``: flags, config files, help, and complaints in one line.

Flags are generated from the config dataclasses; a config file's values become
arguments; the help shows each default once; the parser's complaints become one
line that names the flag and the fix.

Parsing is jsonargparse's: it reads each value as its option's annotated type
(``int | None``, lists, booleans with ``--no-`` forms). We chose it over
LightningCLI because our commands are not one Trainer call each (listings, a
bake-off, evaluation of a checkpoint), our run settings are our own
``TrainConfig`` rather than the Trainer's arguments, and LightningCLI imports
Lightning and torch to build its parser, which alone takes seconds; jsonargparse
is the parser LightningCLI is built on. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import textwrap
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, DefaultHelpFormatter

from autoencoders.errors import UsageError
from autoencoders.options import field_requirement
from autoencoders.registry import VARIANTS


class HelpFormatter(DefaultHelpFormatter):
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
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.argv = list(argv)
        #: arguments read from a config file, parsed before the command line's own
        self.prepend: list[str] = []
        #: dest -> (dataclass, field) of the generated options, for messages
        self.fields: dict[str, tuple[type, str]] = {}


# --------------------------------------------------------------- option tables
def flag(name: str) -> str:
    """The long option of field ``name``: ``latent_dim`` -> ``--latent-dim``."""
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
        group.add_argument(flag(f.name), **kwargs)
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


def list_flags(parser: CommandParser) -> set[str]:
    """The flags of ``parser`` that take a list (``nargs="+"``)."""
    return {
        s
        for a in parser._actions  # argparse keeps no public list of a parser's options
        if a.nargs == "+"
        for s in a.option_strings
    }


def split_lists(argv: Sequence[str], list_options: set[str]) -> list[str]:
    """``argv`` with comma-separated values of list options made separate values.

    ``--models simple,deep`` and ``--models=simple,deep`` become ``--models
    simple deep``, which is also accepted as it is.
    """
    out: list[str] = []
    in_list = False
    for token in argv:
        name, eq, value = token.partition("=")
        if token.startswith("--") and name in list_options:
            out.append(name)
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
        name, eq, value = token[2:].partition("=")
        name = name.replace("-", "_")
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


# ---------------------------------------------------------------- config files
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


def as_arguments(values: dict[str, Any]) -> list[str]:
    """Config-file values as command-line arguments (``--flag=value``, lists comma-joined)."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            out.append(flag(key) if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            out.append(f"{flag(key)}={','.join(map(str, value))}")
        else:
            out.append(f"{flag(key)}={'null' if value is None else value}")
    return out


def as_defaults(values: dict[str, Any], parser: CommandParser) -> dict[str, Any]:
    """Config-file values as parser defaults: lists for list options, split at commas."""
    lists = {name[2:].replace("-", "_") for name in list_flags(parser)}
    out = {}
    for key, value in values.items():
        if key in lists and isinstance(value, str):
            value = [v for v in value.split(",") if v]
        elif key in lists and isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


# ---------------------------------------------------------- parser complaints
def subparser(parser: CommandParser, command: str | None) -> CommandParser | None:
    """The parser of sub-command ``command`` of ``parser`` (None: no such command)."""
    for action in parser._actions:  # argparse has no public way to reach a sub-command's parser
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict) and command in choices:
            return choices[command]
    return None


def parser_message(
    text: str, parser: CommandParser, command: str | None, commands: Sequence[str]
) -> str:
    """The parser's complaint as one line that names the flag and the fix.

    ``commands`` are the sub-commands there are, for a command line that names none
    of them.
    """
    text = " ".join(text.split())
    sub = subparser(parser, command)
    help_hint = f"see `autoencoders {command} --help`" if sub else "see `autoencoders --help`"
    names = ", ".join(commands)
    if (m := re.match(r'Parser key "([\w.]+)"', text)) is not None:
        key = m.group(1).rsplit(".", 1)[-1]
        got = re.search(r"(?:Got|Given) value: (.*)$", text)
        value = got.group(1) if got else "?"
        return f"{flag(key)} must be {_wanted(sub, key)}, got {value!r}"
    if text.startswith("unrecognized arguments:"):
        return f"{text}; {help_hint}"
    if "invalid choice" in text and "COMMAND" in text:
        unknown = text.split(":", 2)[2].split("(")[0].strip()
        return f"unknown command {unknown}; choose one of: {names}"
    if "but it was not provided" in text:
        return f"give a command, one of: {names}; {help_hint}"
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
