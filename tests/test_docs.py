"""The documentation site: it builds strictly, and its references cover the package and the CLI.

The site is built once, as ``make docs`` builds it (``mkdocs build --strict``), into a
temporary folder; the checks read the built HTML.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import autoencoders
from autoencoders.cli.app import COMMANDS, build_parser
from autoencoders.cli.parsing import subparser

pytest.importorskip("mkdocs", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
#: the classes whose methods users call, each documented with its inherited public names
CLASSES = ("AutoEncoder", "AutoencoderTransformer", "AutoencoderOutlierDetector", "OutlierEnsemble")


def make_docs_arguments() -> list[str]:
    """The arguments ``make docs`` gives mkdocs, read from the Makefile: the tests build
    the site as it does (a ``--quiet`` there would hide every warning from ``--strict``)."""
    found = re.search(r"^\t.*/mkdocs (build\b.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None, "the Makefile has no mkdocs build line"
    return found.group(1).split()


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *make_docs_arguments(), "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT, out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def anchors(page: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page.read_text()))


def public_names() -> set[str]:
    """``autoencoders.X`` for X in ``__all__``, and every public method and attribute
    the user-facing classes define or inherit from this package."""
    names = {f"autoencoders.{name}" for name in autoencoders.__all__}
    for class_name in CLASSES:
        cls = getattr(autoencoders, class_name)
        ours = [k for k in cls.__mro__ if k.__module__.startswith("autoencoders.")]
        names |= {
            f"autoencoders.{class_name}.{attr}"
            for k in ours
            for attr in vars(k)
            if not attr.startswith("_")
        }
    return names


def test_every_public_name_is_in_the_api_reference(site):
    documented = anchors(site / "reference" / "api" / "index.html")
    expected = public_names()
    assert len(expected) > 40  # the classes' methods were found, not only __all__
    assert sorted(expected - documented) == []


def test_every_module_on_the_modules_page_shows_its_whole_all(site):
    page = ROOT / "docs" / "reference" / "modules.md"
    modules = re.findall(r"^::: ([\w.]+)$", page.read_text(), flags=re.MULTILINE)
    assert "autoencoders.training" in modules
    documented = anchors(site / "reference" / "modules" / "index.html")
    missing = [
        f"{module}.{name}"
        for module in modules
        for name in getattr(importlib.import_module(module), "__all__", [])
        if f"{module}.{name}" not in documented
    ]
    assert missing == []


def cli_sections(site: Path) -> dict[str, str]:
    """Command name -> the HTML of its section of the command-line reference."""
    text = (site / "reference" / "cli" / "index.html").read_text()
    parts = re.split(r'<h2 id="autoencoders-([\w-]+)"', text)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_and_its_every_option_is_in_the_cli_reference(site):
    sections = cli_sections(site)
    assert list(sections) == list(COMMANDS)
    for name in COMMANDS:
        parser = subparser(build_parser([name]), name)
        flags = {s for action in parser._actions for s in action.option_strings}
        assert "--help" in flags
        missing = sorted(f for f in flags if f"<code>{f}" not in sections[name])
        assert missing == [], (name, missing)


def test_the_cli_reference_shows_each_models_own_options(site):
    train = cli_sections(site)["train"]
    own = [("vq", "--num-codes"), ("sparse", "--sparsity"), ("stacked", "--pretrain-epochs")]
    for model, option in own:
        folded = re.search(rf"<summary>{re.escape(model)}: .*?</details>", train, flags=re.DOTALL)
        assert folded is not None, model
        assert f"<code>{option} " in folded.group(0), (model, option)


def test_every_results_file_is_a_page(site):
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    assert results
    for path in results:
        page = site / "results" / path.stem / "index.html"
        first_line = path.read_text().splitlines()[0].lstrip("# ")
        assert page.is_file(), path.name
        assert first_line.split("`")[0].strip()[:20] in page.read_text(), path.name


def test_make_docs_builds_strictly():
    assert "--strict" in make_docs_arguments()


def test_a_broken_link_fails_the_build(tmp_path):
    # the project's settings (validation, theme, extensions) on two pages, one of which
    # links to nothing; the API pages, the generated pages and their imports are left
    # out, so that this second build takes a second, not the whole site's time
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the planted page](planted.md).\n")
    (tmp_path / "docs" / "planted.md").write_text("# Planted\n\nSee [a page](no-such-page.md).\n")
    (tmp_path / "mkdocs.yml").write_text(
        f"INHERIT: {ROOT / 'mkdocs.yml'}\n"
        "docs_dir: docs\nhooks: []\nextra_css: []\nplugins: [search]\n"
        "nav: [index.md, planted.md]\n"
    )
    done = build(tmp_path, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr
    # and it is that link: the same two pages with the link mended build
    (tmp_path / "docs" / "planted.md").write_text("# Planted\n\nSee [home](index.md).\n")
    mended = build(tmp_path, tmp_path / "site")
    assert mended.returncode == 0, mended.stdout + mended.stderr
