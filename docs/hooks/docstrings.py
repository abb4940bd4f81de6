"""Griffe extension: the package's docstrings as the API pages show them.

The docstrings are written for ``help()`` and an editor: they name other objects the
Sphinx way (``:class:`~autoencoders.data.ArrayDataModule```) and head doctests with
Google style's ``Example:`` as often as ``Examples:``. In the site each role becomes a
code span that links to the object's entry where the reference documents it, and stays
plain code where it does not (a module-private helper), without a warning: the link is
optional. ``Example:`` is read as ``Examples:``, so its doctest shows as code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

#: ``:role:`target``` or ``:role:`~target``` (``~``: show the last part of the name only)
ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`(~?)([\w.]+)(?:\(\))?`")
#: Google style's singular section title, which griffe takes for an admonition
EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


def linked(docstring: str, module: str) -> str:
    """``docstring`` with every Sphinx role made an optional cross-reference.

    A name without the package's prefix is taken as one of ``module``'s own.
    """

    def link(match: re.Match[str]) -> str:
        short, target = match.group(1) == "~", match.group(2)
        shown = target.rsplit(".", 1)[-1] if short else target
        identifier = target if target.startswith("autoencoders") else f"{module}.{target}"
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(link, docstring)


class SiteDocstrings(griffe.Extension):
    """Rewrites every docstring once the package's tree is loaded, before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = linked(text, obj.module.path)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # the package itself is no member of anything, so on_object never sees it
        self.on_object(obj=pkg)
