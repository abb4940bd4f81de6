"""How fast the command line answers: help and listings, each in a fresh process.

Each command runs ``--repeats`` times as ``python -m autoencoders.cli ...`` (what
the ``autoencoders`` script does), interleaved so machine noise hits every
command alike; the table gives the median and the fastest wall time, and a
bare ``python -c pass`` for the interpreter's own start. The target of issue 16
is under 0.5 s for the help commands and listings, which import neither torch
nor Lightning; ``import torch`` and ``import lightning`` are timed as what they
would cost. Run::

    nice -n 10 python benchmarks/cli_startup.py --repeats 15 --out benchmarks/results/cli_startup.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

COMMANDS = [
    ["--help"],
    ["list-models"],
    ["list-datasets"],
    ["train", "--help"],
    ["train", "--model", "denoising", "--help"],
]
#: the interpreter alone, and the imports the fast commands avoid
REFERENCES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "python -c 'import lightning'": [sys.executable, "-c", "import lightning"],
}


def time_once(argv: list[str]) -> float:
    """Wall seconds of one run of ``argv``; raises if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def measure(repeats: int) -> dict[str, list[float]]:
    """``{label: [seconds of each run]}`` for every command and reference."""
    runs = {"autoencoders " + " ".join(c): [sys.executable, "-m", "autoencoders.cli", *c]
            for c in COMMANDS}  # fmt: skip
    runs.update(REFERENCES)
    for argv in runs.values():  # once untimed: byte-compiled files, a warm disk cache
        time_once(argv)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, argv in runs.items():
            times[label].append(time_once(argv))
    return times


def report(times: dict[str, list[float]], repeats: int, command: str) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Command-line start-up",
        "",
        f"`{command}` on {when}: Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"load average {load:.1f} at the end. Each command in a fresh process, "
        f"{repeats} runs interleaved; seconds of wall time.",
        "",
        "| command | median | fastest |",
        "|---|---:|---:|",
    ]
    for label, values in times.items():
        lines.append(f"| `{label}` | {statistics.median(values):.3f} | {min(values):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs of each command")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    command = "python benchmarks/cli_startup.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report(measure(args.repeats), args.repeats, command.strip())
    print(text)
    if args.out is not None:
        from autoencoders.files import atomic_write

        atomic_write(args.out, lambda f: f.write(text.encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
