"""The ``autoencoders`` command: its sub-commands, the parse, and ``main``'s error handling.

Each command is a module of this package with a help line, a function that adds
its arguments to its parser and one that runs it and returns an exit code
(:data:`COMMANDS`). Only the command being run gets its arguments, and each
command imports what it needs inside its functions, so ``autoencoders --help``,
the listings and ``train --help`` start without torch or Lightning.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from autoencoders.cli import (
    bakeoff,
    embed,
    evaluate,
    explore,
    export,
    generate,
    listings,
    score,
    train,
    tune,
)
from autoencoders.cli.parsing import (
    CommandParser,
    list_flags,
    parser_message,
    split_lists,
    subparser,
)
from autoencoders.errors import TrainingStopped, UsageError, UserError


class Command(NamedTuple):
    """A sub-command: its help line, what adds its arguments, and what runs it."""

    help: str
    add_arguments: Callable[[CommandParser], None]
    run: Callable[[argparse.Namespace], int]
    #: whether it runs library code whose chatter is hushed; a listing does not, and
    #: hushing would import the training package (torch) for nothing
    hushed: bool = True


#: name -> command, in the order ``autoencoders --help`` lists them
COMMANDS: dict[str, Command] = {
    "train": Command(train.HELP, train.add_arguments, train.run),
    "list-models": Command(
        listings.MODELS_HELP, listings.no_arguments, listings.list_models, hushed=False
    ),
    "list-datasets": Command(
        listings.DATASETS_HELP, listings.no_arguments, listings.list_datasets, hushed=False
    ),
    "evaluate": Command(evaluate.HELP, evaluate.add_arguments, evaluate.run),
    "embed": Command(embed.HELP, embed.add_arguments, embed.run),
    "bakeoff": Command(bakeoff.HELP, bakeoff.add_arguments, bakeoff.run),
    "generate": Command(generate.HELP, generate.add_arguments, generate.run),
    "explore": Command(explore.HELP, explore.add_arguments, explore.run),
    "score": Command(score.HELP, score.add_arguments, score.run),
    "export": Command(export.HELP, export.add_arguments, export.run),
    "tune": Command(tune.HELP, tune.add_arguments, tune.run),
}


def command_in(argv: Sequence[str]) -> str | None:
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
    chosen = command_in(argv)
    own = list(argv)[list(argv).index(chosen) + 1 :] if chosen in COMMANDS else []
    for name, command in COMMANDS.items():
        command_parser = CommandParser(description=command.help, argv=own)
        if name == chosen:
            command.add_arguments(command_parser)
            _add_verbose(command_parser)  # `-v` works after the command as well as before it
        sub.add_subcommand(name, command_parser, help=command.help)
    return parser


def _add_verbose(parser: CommandParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autoencoder-lab")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def parse_command(argv: Sequence[str]) -> argparse.Namespace:
    """The options of the command ``argv`` runs, with ``verbose``, as a plain namespace.

    Raises:
        UsageError: for anything the parser refuses, in one line.
        SystemExit: after printing ``--help``.
    """
    argv = list(argv)
    command = command_in(argv)
    parser = build_parser(argv)
    sub = subparser(parser, command)
    if sub is not None and sub.prepend:
        at = argv.index(str(command)) + 1
        argv = [*argv[:at], *sub.prepend, *argv[at:]]
    try:
        ns = parser.parse_args(split_lists(argv, list_flags(sub) if sub is not None else set()))
    except argparse.ArgumentError as err:
        raise UsageError(parser_message(str(err), parser, command, list(COMMANDS))) from None
    own = ns.get(str(ns.command))
    values = own.as_dict() if own is not None else {}
    verbose = bool(values.pop("verbose", False)) or bool(ns.verbose)
    return argparse.Namespace(**values, verbose=verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``autoencoders`` console script; returns the exit code.

    A mistake the user can fix is one line on stderr (exit 2), a stop on purpose
    says where to go on (its own code); anything else is a bug and keeps its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_in(argv)
    name = f"autoencoders {command}" if command in COMMANDS else "autoencoders"
    try:
        args = parse_command(argv)
        chosen = COMMANDS[str(command)]
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        if args.verbose:
            # our own debug messages and Lightning's banners; other libraries' debug
            # chatter (matplotlib's font search: 100+ KB a run) stays off
            logging.getLogger("autoencoders").setLevel(logging.DEBUG)
        elif chosen.hushed:
            _quiet_libraries()
        return chosen.run(args)
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


def _quiet_libraries() -> None:
    """Keeps Lightning's banners and tips and known third-party notes off stderr."""
    from autoencoders.quiet import hush

    hush()  # for the whole process: the command is all it runs


def _say(message: str) -> None:
    """One line on stderr, whatever line breaks the message holds."""
    print(" ".join(message.split()), file=sys.stderr)
