"""The bake-off: every chosen model beside a PCA baseline, on one data set, in one report.

``config`` (what to compare; imports neither torch nor Lightning, so the CLI's
help stays fast), ``runner`` (the stages, resumable), ``progress`` (the one
status line), ``report`` (one data structure, rendered to Markdown and HTML by
the templates in ``templates/``).
"""

from typing import Any

from autoencoders.bakeoff.config import PCA, STAGES, BakeoffConfig

__all__ = ["PCA", "STAGES", "Bakeoff", "BakeoffConfig"]


def __getattr__(name: str) -> Any:
    # The runner imports torch; loading it on first use keeps `--help` fast.
    if name == "Bakeoff":
        from autoencoders.bakeoff.runner import Bakeoff

        return Bakeoff
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
