"""The house: modules stay small, and the README's layout table matches the tree."""

from __future__ import annotations

import re
from pathlib import Path

import autoencoders

PACKAGE = Path(autoencoders.__file__).parent
README = Path(__file__).resolve().parents[1] / "README.md"
#: the most lines a module may have; past it, a module is doing more than one thing
MOST_LINES = 500


def test_no_module_is_over_500_lines():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MOST_LINES
    }
    assert long == {}, f"modules over {MOST_LINES} lines: {long}"


def layout_names(readme: str) -> set[str]:
    """The module and package names in the first column of the README's layout table."""
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names.update(re.findall(r"`([^`]+)`", first_column))
    return names


def test_the_layout_table_names_exactly_the_packages_modules():
    named = layout_names(README.read_text())
    # every name in the table exists (a bare name like `deep.py` in models/ counts too)
    missing = sorted(n for n in named if not any(PACKAGE.rglob(n.rstrip("/"))))
    assert missing == [], f"the layout table names what the tree lacks: {missing}"
    # every top-level module and package of the tree is in the table
    top = {
        p.name + ("/" if p.is_dir() else "")
        for p in PACKAGE.iterdir()
        if not p.name.startswith("__") and (p.suffix == ".py" or p.is_dir())
    }
    unlisted = sorted(top - named)
    assert unlisted == [], f"modules the layout table leaves out: {unlisted}"


def test_the_table_reader_sees_a_planted_table():
    text = "## Layout\n| module | what |\n|---|---|\n| `a.py`, `b/` | x `c.py` |\n\n## Next\n| `d.py` |"
    assert layout_names(text) == {"a.py", "b/"}
