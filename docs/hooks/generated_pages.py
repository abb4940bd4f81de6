"""MkDocs hook: the pages that are made, not written.

* ``reference/cli.md``, the command-line reference, rendered from the parser the
  ``autoencoders`` command itself uses (``autoencoders.cli.app.build_parser`` and
  ``COMMANDS``), so a new command or option appears here without a word written twice;
* ``results/<name>.md``, one page per ``benchmarks/results/*.md``, read where the
  benchmarks write them, and listed under "Results" in the navigation.
"""

from __future__ import annotations

import argparse
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from autoencoders.cli.app import COMMANDS, build_parser
from autoencoders.cli.parsing import HelpFormatter, subparser
from autoencoders.registry import VARIANTS

CLI_PAGE = "reference/cli.md"
RESULTS_SECTION = "Results"
#: the hand-written overview that opens the results section
RESULTS_OVERVIEW = "results/index.md"


def results_dir(config: MkDocsConfig) -> Path:
    """Where the benchmarks write their results, beside ``mkdocs.yml``."""
    return Path(config.config_file_path).parent / "benchmarks" / "results"


def results_pages(config: MkDocsConfig) -> dict[str, Path]:
    """Page path in the site -> results file, in name order."""
    return {f"results/{p.name}": p for p in sorted(results_dir(config).glob("*.md"))}


# ----------------------------------------------------------------- mkdocs events
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Lists every results file under the nav's "Results" section, after its overview."""
    for item in config.nav or []:
        if isinstance(item, dict) and RESULTS_SECTION in item:
            item[RESULTS_SECTION] = [RESULTS_OVERVIEW, *results_pages(config)]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Adds the command-line reference and the results pages to the site's files."""
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    for uri, path in results_pages(config).items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


# ------------------------------------------------------- the command-line reference
def cli_reference() -> str:
    """The whole command-line reference as Markdown: the program, then each command."""
    top = build_parser()
    lines = [
        "# Command line",
        "",
        "Made from the parser `autoencoders` itself runs, so it says what "
        "`autoencoders COMMAND --help` says. A list option takes its values "
        "separated by spaces or commas; a boolean option has a `--no-` form.",
        "",
        "```text",
        top.format_usage().strip(),
        "```",
        "",
        "| command | what it does |",
        "|---|---|",
        *(
            f"| [`{name}`](#autoencoders-{name}) | {_cell(cmd.help)} |"
            for name, cmd in COMMANDS.items()
        ),
        "",
        *_option_tables(top, level=2, before="Options of autoencoders itself"),
    ]
    for name in COMMANDS:
        lines += _command(name)
    return "\n".join(lines) + "\n"


def _command(name: str) -> list[str]:
    parser = subparser(build_parser([name]), name)
    assert parser is not None, f"{name} is in COMMANDS but not in the parser"
    lines = [
        f"## autoencoders {name}",
        "",
        _sentence(parser.description or ""),
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        *_option_tables(parser, level=3, fold_models=name == "train"),
    ]
    if name == "train":
        lines += _model_options()
    return lines


def _model_options() -> list[str]:
    """``train``'s options for each model, with that model's defaults, folded away."""
    lines = [
        "### Options of each model",
        "",
        "`train --model NAME` adds the options of model NAME, with its defaults:",
        "",
    ]
    for model in VARIANTS:
        parser = subparser(build_parser(["train", "--model", model]), "train")
        assert parser is not None
        groups = [g for g in _groups(parser) if g[0].startswith("options of model")]
        for _, actions in groups:
            summary = _cell(VARIANTS[model].description).replace('"', "'")
            lines += [f'??? note "{model}: {summary}"', ""]
            lines += ["    " + row for row in _table(parser, actions)]
            lines.append("")
    return lines


def _groups(parser: argparse.ArgumentParser) -> list[tuple[str, list[argparse.Action]]]:
    """The parser's option groups that hold options, as ``--help`` lists them."""
    # argparse offers no public view of its groups; ``--help`` reads the same fields
    out = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if not isinstance(a, argparse._SubParsersAction)]
        if actions:
            out.append((str(group.title), actions))
    return out


def _option_tables(
    parser: argparse.ArgumentParser,
    level: int,
    before: str | None = None,
    fold_models: bool = False,
) -> list[str]:
    """A table per option group; ``before`` titles the program's own options.

    ``fold_models``: leave out the model's options, shown one folded table per model.
    """
    lines: list[str] = []
    for title, actions in _groups(parser):
        if fold_models and title.startswith("options of model"):
            continue
        heading = before if before and title == "options" else title.capitalize()
        lines += ["#" * level + " " + heading, "", *_table(parser, actions), ""]
    if parser.epilog:
        lines += [_cell(parser.epilog), ""]
    return lines


def _table(parser: argparse.ArgumentParser, actions: Iterable[argparse.Action]) -> list[str]:
    # the parser's own formatter, so that each default is shown as `--help` shows it;
    # argparse's, for the flags (jsonargparse's needs a parse in progress)
    formatter = HelpFormatter(prog=parser.prog)
    flags = argparse.HelpFormatter(prog=parser.prog)
    rows = ["| option | meaning |", "|---|---|"]
    for action in actions:
        # "-h, --help" as `-h`, `--help`: each spelling its own code span
        spellings = flags._format_action_invocation(action).split(", ")
        meaning = formatter._expand_help(action) if action.help else ""
        rows.append(f"| {', '.join(f'`{s}`' for s in spellings)} | {_cell(meaning)} |")
    return rows


def _cell(text: Any) -> str:
    """Help text as one Markdown table cell: one line, no HTML, no stray column bars.

    Text outside `code spans` is HTML-escaped (``0 < R < 1`` is no tag); inside them
    Markdown shows every character as it is.
    """
    parts = " ".join(str(text).split()).split("`")
    parts[::2] = [html.escape(part, quote=False) for part in parts[::2]]
    return "`".join(parts).replace("|", r"\|")


def _sentence(text: str) -> str:
    """A help line as a sentence: a capital first letter and a full stop."""
    text = _cell(text)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
