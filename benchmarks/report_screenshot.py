"""Opens a bake-off's report.html in headless Chromium and saves a screenshot.

Also checks that every image on the page decoded (no broken images), using
Chromium's own DOM dump: each <img> must report a natural width above zero.
Needs Debian's chromium (``apt-get install chromium``). Run::

    python benchmarks/report_screenshot.py runs/demo/report.html docs/report.png
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Runs in the page after load: writes the count of broken images into the DOM dump.
PROBE = (
    "<script>window.addEventListener('load',()=>{const b=[...document.images]"
    ".filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
    "document.body.insertAdjacentHTML('beforeend','<p id=broken>BROKEN='+b+' OF '+document.images.length+'</p>')})</script>"
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no chromium found: apt-get install chromium")


def main(html: str, png: str, width: int = 1300, height: int = 2400) -> int:
    page = Path(html).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        probe_page = Path(tmp) / "probe.html"
        probe_page.write_text(
            page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
        )
        base = [chromium(), *FLAGS, f"--user-data-dir={tmp}/profile"]
        dom = subprocess.run(
            [*base, "--virtual-time-budget=5000", "--dump-dom", probe_page.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
        subprocess.run(
            [*base, f"--window-size={width},{height}", f"--screenshot={Path(png).resolve()}", page.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    found = re.search(r'id="broken">BROKEN=(\d+) OF (\d+)<', dom)
    if found is None:
        print(f"{png}: screenshot written, but the broken-image probe did not run")
        return 1
    broken, total = int(found[1]), int(found[2])
    print(f"{png}: screenshot written; {total} images, {broken} broken")
    return 0 if broken == 0 and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
