"""Imports: the help commands start without torch, and no module imports itself in a circle."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import autoencoders

HEAVY = ("torch", "lightning", "pytorch_lightning", "sklearn")
HELP_COMMANDS = [
    ["--help"],
    ["list-models"],
    ["list-datasets"],
    ["train", "--help"],
    ["train", "--model", "denoising", "--help"],
    ["train", "--model", "sequence", "--help"],
]

# Runs one command the way the console script does, then reports what it imported.
PROBE = """
import json, sys
from autoencoders.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
"""


@pytest.mark.parametrize("argv", HELP_COMMANDS, ids=" ".join)
def test_help_and_listings_import_neither_torch_nor_lightning(argv):
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    *printed, report = done.stdout.strip().splitlines()
    result = json.loads(report)
    assert result == {"code": 0, "heavy": []}, (argv, result)
    assert printed, "the command printed nothing"


# ------------------------------------------------------------- import cycles
def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(body: list[ast.stmt]):
    """Every statement that can import, inside functions too (a function-level import
    closes a cycle as surely as one at the top, only later); not those under
    ``if TYPE_CHECKING:``, which never run."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _import_nodes(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _import_nodes(inner)


def module_names(root: Path, package: str) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package in folder ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Which modules of the package each module imports, at import time or in a function."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{anchor}.{base}" if base else anchor
                targets.add(base)
                # `from pkg import sub` imports the module pkg.sub where there is one
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        edges = set()
        for target in targets:
            # importing a.b.c also imports the packages a.b and a, unless they
            # already hold the importing module (then they are being imported)
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                dotted = ".".join(parts[:i])
                if dotted in modules and dotted != name and not name.startswith(dotted + "."):
                    edges.add(dotted)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first == last), or ``None``."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


def test_the_cycle_finder_finds_a_planted_cycle_and_nothing_else(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.a import A\n",
        "a.py": "from pkg import b\nA = 1\n",
        "b.py": "import pkg.sub.c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import A\n",  # relative, two levels up: closes a -> b -> c -> a
        # not a cycle: an import under TYPE_CHECKING, which never runs
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "e.py": "import pkg.d\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg, "pkg")
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"pkg.a", "pkg.b", "pkg.sub.c"}, cycle
    assert graph["pkg.sub.c"] == {"pkg.a"}  # the relative import resolved, its parent skipped
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}
    # an import inside a function still closes the cycle
    (pkg / "sub" / "c.py").write_text("def late():\n    from ..a import A\n")
    assert set(find_cycle(import_graph(pkg, "pkg")) or ()) == {"pkg.a", "pkg.b", "pkg.sub.c"}
    (pkg / "sub" / "c.py").write_text("def late():\n    from pkg.d import D\n")
    assert find_cycle(import_graph(pkg, "pkg")) is None


def test_no_module_of_the_package_imports_itself_in_a_circle():
    root = Path(autoencoders.__file__).parent
    graph = import_graph(root, "autoencoders")
    assert len(graph) > 30 and graph["autoencoders.models"]  # the whole package was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# ------------------------------------------------------------- private names
def private_imports(root: Path, package: str) -> list[str]:
    """``importer: name`` for each private name one module takes from another.

    Private: a name with a leading underscore, or any name from a private module
    (``evaluation.arrays``) outside that module's own package.
    """
    modules = module_names(root, package)
    found = []
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _import_nodes(ast.parse(path.read_text()).body):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{anchor}.{base}" if base else anchor
                bases = [base]
                taken = [a.name for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Import):
                bases, taken = [a.name for a in node.names], []
            else:
                continue
            for base in bases:
                if not base.startswith(package) or base == name:
                    continue
                found += [f"{name}: {base}.{n}" for n in taken]
                owner, _, last = base.rpartition(".")
                if _private(last) and not here.startswith(owner):
                    found.append(f"{name}: {base}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_private_name_finder_finds_planted_ones(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from pkg.b import _hidden, shown\ndef f():\n    from pkg.sub import _tools\n",
        "b.py": "_hidden = shown = 1\n",
        "sub/__init__.py": "from pkg.sub._tools import T\n",  # its own package: fine
        "sub/_tools.py": "T = 1\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert private_imports(pkg, "pkg") == ["pkg.a: pkg.b._hidden", "pkg.a: pkg.sub._tools"]


def test_no_module_takes_a_private_name_from_another():
    found = private_imports(Path(autoencoders.__file__).parent, "autoencoders")
    assert found == [], "private names imported across modules: " + "; ".join(found)
