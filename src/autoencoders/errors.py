"""The errors a user can cause and fix, each printed by the CLI as one line with exit code 2.

Everything else that goes wrong is a bug and keeps its traceback. Each class
also derives from ``ValueError`` where Python code has long caught that.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message names the problem and the fix."""

    #: the command line's exit status for this error
    exit_code = 2


class ConfigError(UserError, ValueError):
    """An option or config value out of its valid range (the message names both)."""


class UsageError(ConfigError):
    """A mistake in the command line or a config file: a flag's value, or a file it names.

    The one class for a command-line mistake, whichever command makes it.
    """


class DataError(UserError, ValueError):
    """Data that is missing, corrupt or of the wrong shape; the message says how to fix it."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is unreadable, or does not fit the model or data it is used with."""


class RunFolderError(UserError):
    """A run folder that cannot be used: not writable, or holding another run."""


class TrainingStopped(UserError):
    """Training ended early on purpose: a signal, or a loss that stopped being finite.

    The message says where the last good checkpoint is and how to go on.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NonFiniteLoss(TrainingStopped):
    """The training loss became NaN or infinite; training stopped before saving it."""
