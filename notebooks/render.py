"""Renders a notebook to one self-contained, offline HTML page (nbconvert + KaTeX).

    python notebooks/render.py notebooks/introduction.ipynb --out introduction.html --execute

nbconvert's lab template loads MathJax and require.js from a CDN, so a page opened
without a network shows raw TeX. This script keeps the lab template but replaces
those scripts with KaTeX inlined into the page: its JavaScript, its auto-render
extension and its stylesheet, with every font as a ``data:`` URI. Figures are
already inlined by nbconvert as base64 PNGs, so the page is one file that needs
nothing else.

Why KaTeX and where it comes from: KaTeX is one script and one stylesheet with a
fixed set of fonts, so it inlines into a single file (about 1.5 MB); MathJax loads
its components on demand, which a single offline file cannot serve. The files come
from Debian's ``libjs-katex`` package (``/usr/share/javascript/katex``, installed
by ``.ci/run`` beside Chromium), or from any KaTeX ``dist`` folder given with
``--katex`` or ``$KATEX_DIR``, e.g. ``node_modules/katex/dist`` after
``npm install katex``.

Error outputs get the extra class ``cell-error`` (and a red frame), so readers and
tests find them at a glance.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time
from pathlib import Path

DEBIAN_KATEX = Path("/usr/share/javascript/katex")
#: the math delimiters of Jupyter's markdown
DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]

TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<style type="text/css">{{ resources.katex_css }}</style>
<style type="text/css">.cell-error { outline: 2px solid #d00; }</style>
<script>{{ resources.katex_js }}</script>
<script>{{ resources.katex_auto_render_js }}</script>
<script>
document.addEventListener("DOMContentLoaded", function () {
  renderMathInElement(document.body, {
    delimiters: {{ resources.katex_delimiters }},
    throwOnError: false,
    ignoredClasses: ["jp-OutputArea"]
  });
  document.body.dataset.mathRendered = "true";
});
</script>
{%- endblock html_head_js_mathjax -%}
{% block error -%}
<div class="jp-RenderedText jp-OutputArea-output cell-error" data-mime-type="application/vnd.jupyter.stderr">
<pre>
{{- super() -}}
</pre>
</div>
{%- endblock error %}
"""


class KatexNotFound(FileNotFoundError):
    """No KaTeX files where this script looks; the message says how to get them."""


def find_katex(katex_dir: str | Path | None = None) -> Path:
    """The folder holding ``katex.min.js``, ``katex.min.css``, ``contrib/`` and ``fonts/``."""
    candidates = [katex_dir, os.environ.get("KATEX_DIR"), DEBIAN_KATEX]
    for folder in (Path(c) for c in candidates if c):
        if (folder / "katex.min.js").is_file() and (folder / "katex.min.css").is_file():
            return folder
    raise KatexNotFound(
        "no KaTeX found: install Debian's libjs-katex (apt-get install libjs-katex), or pass "
        "--katex / set KATEX_DIR to a KaTeX dist folder (npm install katex: node_modules/katex/dist)"
    )


def katex_resources(katex_dir: str | Path | None = None) -> dict[str, str]:
    """KaTeX's script, auto-render script and stylesheet, the fonts inlined as woff2 data URIs."""
    import json

    folder = find_katex(katex_dir)
    css = (folder / "katex.min.css").read_text("utf-8")

    def inline_font(match: re.Match[str]) -> str:
        font = folder / "fonts" / f"{match.group(1)}.woff2"
        data = base64.b64encode(font.read_bytes()).decode("ascii")
        return f"src:url(data:font/woff2;base64,{data}) format('woff2')"

    # each @font-face lists woff2, woff and ttf; every browser that runs KaTeX reads woff2
    css = re.sub(r"src:url\(fonts/([\w-]+)\.woff2\)[^;}]*", inline_font, css)
    if "url(fonts/" in css:
        raise KatexNotFound(f"{folder / 'katex.min.css'} names fonts this script cannot inline")
    auto_render = folder / "contrib" / "auto-render.min.js"
    if not auto_render.is_file():
        auto_render = folder / "contrib" / "auto-render.js"
    return {
        "katex_css": css,
        "katex_js": _script_text(folder / "katex.min.js"),
        "katex_auto_render_js": _script_text(auto_render),
        "katex_delimiters": json.dumps(DELIMITERS),
    }


def _script_text(path: Path) -> str:
    # a literal "</script" inside inlined code would end the script element early
    return path.read_text("utf-8").replace("</script", "<\\/script")


def execute(nb, workdir: str | Path, timeout: int = 600, allow_errors: bool = True):
    """Runs every cell of ``nb`` in a fresh python3 kernel, in ``workdir``; returns ``nb``.

    With ``allow_errors`` a failing cell leaves its error in the outputs (and the
    page shows it) instead of stopping the run.
    """
    import nbclient

    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def render_html(nb, out: str | Path, katex_dir: str | Path | None = None) -> Path:
    """Writes ``nb`` (a notebook node, executed or not) to ``out`` as one offline HTML page."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": TEMPLATE})],
        template_file="offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb, resources=katex_resources(katex_dir))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(out)  # atomic: a reader never sees half a page
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--execute", action="store_true", help="run the notebook first")
    parser.add_argument("--katex", type=Path, default=None, help="a KaTeX dist folder")
    args = parser.parse_args(argv)
    import nbformat

    try:
        find_katex(args.katex)
    except KatexNotFound as err:
        print(f"render.py: error: {err}", file=sys.stderr)
        return 2
    nb = nbformat.read(args.notebook, as_version=4)
    if args.execute:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            execute(nb, workdir)
        print(f"executed {args.notebook} in {time.perf_counter() - start:.1f} s")
    print(f"wrote {render_html(nb, args.out, args.katex)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
