"""The ``autoencoders`` command line, one module per part.

- :mod:`~autoencoders.cli.app`: the sub-commands, the parse and ``main``'s error handling
- :mod:`~autoencoders.cli.parsing`: flags from the config dataclasses, config files,
  help formatting, the parser's complaints as one line
- :mod:`~autoencoders.cli.train_options`: ``train``'s options and ``--resume``, resolved
  into the run's and the model's configs
- :mod:`~autoencoders.cli.common`: what the commands that read a checkpoint share: data
  options and set-up, the input-shape check, the one ``--out``/``--overwrite`` rule
- one module per command: ``train``, ``evaluate``, ``embed``, ``generate``, ``explore``,
  ``score``, ``bakeoff``, ``listings`` (``list-models``, ``list-datasets``)

Nothing here imports torch or Lightning when it is imported: each command imports
what it needs when it runs, so ``--help`` and the listings start fast.
"""

from autoencoders.cli.app import COMMANDS, build_parser, main, parse_command
from autoencoders.cli.common import StageProgress
from autoencoders.cli.train_options import resolve_options
from autoencoders.errors import UsageError

__all__ = [
    "COMMANDS",
    "StageProgress",
    "UsageError",
    "build_parser",
    "main",
    "parse_command",
    "resolve_options",
]
