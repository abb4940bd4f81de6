"""Training on data of 0.25x, 1x and 4x a memory limit: resident against memory-mapped.

Part 1 (data scale): for each size, a uint8 ``.npy`` of 28x28 images of that
many bytes is written, and ``train_run`` (what ``autoencoders train`` runs)
trains the deep model on it for ``--steps`` optimizer steps, once with the data
loaded whole (``--memory-map never``) and once memory-mapped (``always``). Each
run is a fresh process, put in a cgroup v1 memory group limited to ``--limit-mb``
where one can be made (else it runs unlimited and the table says so). Recorded:
training samples per second (steps x batch / the fit's wall time), the time to
read the data before the first step, the peak anonymous memory (what the
kernel cannot reclaim: the process's own arrays) and the peak resident set
(which also counts pages of the map, reclaimable), sampled every 20 ms, and
how the run ended (a run the kernel kills for memory ends with signal 9).

Part 2 (speed, warm page cache): Fashion-MNIST's 60,000 training images as a
``.npy``, one epoch of the deep model at batch 256, resident against mapped,
interleaved ``--repeats`` times in one process after a first read has warmed
the page cache; and one cold-cache mapped epoch where the page cache can be
dropped (``/proc/sys/vm/drop_caches``, root only).

Run::

    python benchmarks/data_scale.py --limit-mb 1024 --steps 300 --repeats 3 \\
        --out benchmarks/results/data-scale.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

FACTORS = (0.25, 1.0, 4.0)
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# ------------------------------------------------------------------ one run
class PeakMemory:
    """The highest RssAnon and VmRSS of this process, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.anon = self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            fields = dict(
                line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
            )
            self.anon = max(self.anon, int(fields["RssAnon"].split()[0]) * 1024)
            self.rss = max(self.rss, int(fields["VmRSS"].split()[0]) * 1024)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(args: argparse.Namespace) -> None:
    """One training run in this process; prints a JSON line of its figures."""
    from autoencoders.models import make_config
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run

    run = TrainConfig(
        dataset=args.data, max_steps=args.steps or None, min_steps=0, batch_size=args.batch_size,
        memory_map=args.memory_map, threads=args.threads, progress=False, output=args.run_dir,
        epochs=args.epochs, overwrite=True, compile=args.compile,
    )  # fmt: skip
    with PeakMemory() as peak:
        start = time.perf_counter()
        result = train_run(
            run, make_config("deep"), args.run_dir, tensorboard=False, validate=False
        )
        total = time.perf_counter() - start
    fit = result.train.wall_time_s
    samples = result.train.steps * args.batch_size
    figures = {
        "samples_per_s": samples / fit, "fit_s": fit, "setup_s": total - fit,
        "peak_anon": peak.anon, "peak_rss": peak.rss, "steps": result.train.steps,
    }  # fmt: skip
    print(json.dumps(figures))


def _own_memory_cgroup() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / group.lstrip("/")
            return folder if folder.is_dir() else None
    return None


def limited_group(limit: int) -> Path | None:
    """A new child memory cgroup limited to ``limit`` bytes, or None where none can be made."""
    parent = _own_memory_cgroup()
    if parent is None:
        return None
    group = parent / f"autoencoders-bench-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / "memory.limit_in_bytes").write_text(str(limit))
    except OSError:
        return None
    return group


def run_child(args: argparse.Namespace, data: Path, mode: str, group: Path | None) -> dict:
    """Runs :func:`child` in a fresh process (in ``group``), returning its figures or its end."""
    command = [
        sys.executable, __file__, "--child", "--data", str(data), "--memory-map", mode,
        "--steps", str(args.steps), "--batch-size", str(args.batch_size),
        "--threads", str(args.threads), "--run-dir", str(args.work / f"run-{mode}"),
        *(["--epochs", str(args.epochs)] if args.epochs else []),
        *(["--compile"] if args.compile else []),
    ]  # fmt: skip
    if group is not None:
        wrapper = f'echo $$ > "{group / "cgroup.procs"}" && exec "$@"'
        command = ["sh", "-c", wrapper, "sh", *command]
        (group / "memory.max_usage_in_bytes").write_text("0")
    drop_page_cache()  # the file's pages are read (and charged) anew by this run
    done = subprocess.run(command, capture_output=True, text=True)
    charged = int((group / "memory.max_usage_in_bytes").read_text()) if group else None
    if done.returncode != 0:
        killed = done.returncode in (-9, 137)
        ended = "killed for memory (signal 9)" if killed else f"exit {done.returncode}"
        return {"ended": ended, "charged": charged}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "ended": "trained", "charged": charged}


def drop_page_cache() -> bool:
    """Empties the kernel's page cache (root only); whether it could."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def write_images(path: Path, nbytes: int) -> None:
    """A uint8 ``.npy`` of 28x28 images taking ``nbytes``, written a block at a time."""
    n = nbytes // 784
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    block = np.random.default_rng(0).integers(0, 256, (8192, 28, 28), dtype=np.uint8)
    for start in range(0, n, len(block)):
        out[start : start + len(block)] = block[: n - start]
    out.flush()


# ------------------------------------------------------------------- parts
def data_scale(args: argparse.Namespace) -> list[str]:
    limit = args.limit_mb * 2**20
    group = None if args.no_cgroup else limited_group(limit)
    rows = []
    dropped = drop_page_cache()
    for factor in FACTORS:
        data = args.work / f"images-{factor}x.npy"
        write_images(data, int(factor * limit))
        for mode, label in (("never", "resident"), ("always", "memory-mapped")):
            r = run_child(args, data, mode, group)
            mb = 2**20
            charged = f"{r['charged'] / mb:,.0f}" if r["charged"] is not None else "-"
            figures = (
                f"{r['samples_per_s']:,.0f} | {r['setup_s']:.1f} | {r['peak_anon'] / mb:,.0f} | "
                f"{r['peak_rss'] / mb:,.0f} | {charged}"
                if "samples_per_s" in r
                else f"- | - | - | - | {charged}"
            )
            size = data.stat().st_size / mb
            rows.append(f"| {factor}x | {size:,.0f} | {label} | {figures} | {r['ended']} |")
            print(rows[-1], flush=True)
        data.unlink()
    if group is not None:
        group.rmdir()
    where = (
        f"each run in a cgroup v1 memory group limited to {args.limit_mb} MiB"
        if group is not None
        else f"no memory cgroup could be made: runs were not limited ({args.limit_mb} MiB is "
        "only the size unit)"
    )
    return [
        f"## Data scale: {args.steps} steps of the deep model at batch {args.batch_size}",
        "",
        f"Memory limit {args.limit_mb} MiB; {where}.",
        "",
        "| size | file (MiB) | data | samples/s | read before first step (s) | peak anon (MiB) "
        "| peak RSS (MiB) | cgroup peak (MiB) | ended |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        "Peak anon is the memory the process itself holds (arrays, index permutations,",
        "torch); peak RSS also counts the pages of the map it touched, which are page",
        "cache the kernel reclaims; cgroup peak is everything charged to the group,",
        "page cache included (memory.max_usage_in_bytes).",
        "The page cache was dropped before every run, so each run read its file from disk."
        if dropped
        else "The page cache could not be dropped (not root): files were read warm.",
        "",
    ]


def compile_cost(args: argparse.Namespace) -> list[str]:
    """The deep model on Fashion-MNIST for 1 and 3 epochs, with and without --compile."""
    path = args.work / "fashion-train.npy"
    rows = []
    for compiled in (False, True):
        walls = {}
        for epochs in (1, 3):
            sub = argparse.Namespace(**{**vars(args), "epochs": epochs, "steps": 0})
            sub.compile = compiled
            r = run_child(sub, path, "never", None)
            walls[epochs] = r["fit_s"]
        steady = (walls[3] - walls[1]) / 2
        rows.append(
            f"| {'yes' if compiled else 'no'} | {walls[1]:.1f} | {walls[3]:.1f} | {steady:.2f} "
            f"| {55000 / steady:,.0f} |"
        )
        print(rows[-1], flush=True)
    return [
        "## --compile: the deep model on Fashion-MNIST at batch 256",
        "",
        "Each a fresh process (torch's compile cache in /tmp kept from earlier runs, as a",
        "user's would be); fit wall time for 1 and for 3 epochs; a later epoch is their",
        "difference / 2.",
        "",
        "| --compile | 1 epoch (s) | 3 epochs (s) | a later epoch (s) | samples/s in it |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def fashion_speed(args: argparse.Namespace) -> list[str]:
    import torch

    from autoencoders.data.idx import read_idx

    path = args.work / "fashion-train.npy"
    np.save(path, read_idx(FASHION).astype(np.uint8))
    np.load(path).sum()  # warm the page cache
    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {"never": [], "always": []}
    for _ in range(args.repeats):
        for mode in times:
            times[mode].append(_epoch(args, path, mode))
            print(mode, f"{times[mode][-1]:.0f} samples/s", flush=True)
    ratios = [m / r for r, m in zip(times["never"], times["always"], strict=True)]
    alone = {mode: min(_batches_alone(path, mode) for _ in range(args.repeats)) for mode in times}
    cold = _cold_epoch(args, path)
    lines = [
        "## Fashion-MNIST, warm page cache: one epoch of the deep model at batch 256",
        "",
        f"60,000 images as a uint8 .npy; {args.repeats} interleaved repeats in one process.",
        "",
        "| data | samples/s (median) | all repeats |",
        "|---|---:|---|",
    ]
    for mode, label in (("never", "resident"), ("always", "memory-mapped")):
        runs = ", ".join(f"{t:,.0f}" for t in times[mode])
        lines.append(f"| {label} | {statistics.median(times[mode]):,.0f} | {runs} |")
    lines += [
        "",
        f"memory-mapped / resident samples/s: median {statistics.median(ratios):.3f} "
        f"(per repeat: {', '.join(f'{r:.3f}' for r in ratios)}).",
        "",
        "The data path alone (an epoch's batches of 256 drawn from the training loader, no",
        f"model; best of {args.repeats}): resident {alone['never']:.3f} s, memory-mapped "
        f"{alone['always']:.3f} s, {55000 / alone['never']:,.0f} against "
        f"{55000 / alone['always']:,.0f} samples/s.",
        "",
        cold,
        "",
    ]
    return lines


def _epoch(args: argparse.Namespace, path: Path, mode: str) -> float:
    from autoencoders.models import make_config
    from autoencoders.run_config import TrainConfig
    from autoencoders.training.job import train_run

    run = TrainConfig(
        dataset=str(path), epochs=1, batch_size=256, memory_map=mode, threads=args.threads,
        progress=False, overwrite=True,
    )  # fmt: skip
    result = train_run(
        run, make_config("deep"), args.work / f"fashion-{mode}", tensorboard=False, validate=False
    )
    return result.train.steps * 256 / result.train.wall_time_s


def _batches_alone(path: Path, mode: str) -> float:
    """Seconds to draw one epoch of training batches (uint8 -> float) from the loader."""
    from autoencoders.data import ArrayDataModule

    dm = ArrayDataModule(str(path), batch_size=256, memory_map=mode)
    dm.setup()
    loader = dm.train_dataloader()
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def _cold_epoch(args: argparse.Namespace, path: Path) -> str:
    if not drop_page_cache():
        return "Cold page cache: not measured (this process cannot drop the page cache)."
    speed = _epoch(args, path, "always")
    return (
        f"Cold page cache (dropped just before): memory-mapped {speed:,.0f} samples/s in its "
        "first epoch, the reads from disk included."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-mb", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-cgroup", action="store_true", help="never limit the runs' memory")
    parser.add_argument("--skip-fashion", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--out", type=Path)
    # the child process's own options
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--memory-map", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    start = time.perf_counter()
    args.work = Path(tempfile.mkdtemp(prefix="data-scale-"))
    try:
        lines = data_scale(args)
        if not args.skip_fashion:
            lines += fashion_speed(args)
            if not args.skip_compile:
                lines += compile_cost(args)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    import torch

    head = [
        "# Data larger than memory: resident against memory-mapped",
        "",
        f"- command: `python benchmarks/data_scale.py {' '.join(sys.argv[1:])}`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; took "
        f"{time.perf_counter() - start:.0f} s; seeds: data seed 0, training seed 42 (default)",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} torch "
        f"thread(s), torch {torch.__version__}, Python {platform.python_version()}",
        "",
    ]
    text = "\n".join(head + lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
