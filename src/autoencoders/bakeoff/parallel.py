"""Several models of a bake-off at once, each in a process of its own.

Small models leave most of a CPU core idle between tiny kernels, and torch's
threads help them little; two processes of one thread each train two models in
about the time of one. Each worker runs every stage of one model and seed (they
build on each other), saving each stage's result as the one-process run does,
so the report, the reuse of finished stages and resuming are the same. The
costliest models are handed out first, so no worker is left with a long one at
the end.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from autoencoders.bakeoff.config import PCA, BakeoffConfig
from autoencoders.errors import TrainingStopped

if TYPE_CHECKING:
    from autoencoders.bakeoff.progress import Progress
    from autoencoders.bakeoff.runner import Bakeoff

log = logging.getLogger("autoencoders.bakeoff")

#: rough cost of a model's stages relative to an mlp's: conv nets on CPU are slower
ARCHITECTURE_COST = {"conv": 3.0}


def run_in_workers(bakeoff: Bakeoff, todo: list[tuple[str, int, str]], progress: Progress) -> None:
    """Runs the stages ``todo`` in ``bakeoff.cfg.workers`` processes, model by model.

    Raises:
        TrainingStopped: on SIGINT or SIGTERM (the workers' runs are saved, the rest
            stays to do; the same command resumes).
    """
    groups: dict[tuple[str, int], list[str]] = {}
    for name, seed, stage in todo:
        groups.setdefault((name, seed), []).append(stage)
    order = sorted(groups, key=lambda key: -_cost(bakeoff, key[0], groups[key]))
    workers = min(bakeoff.cfg.workers, len(order))
    threads = max(1, (os.cpu_count() or 1) // workers)
    tasks = [(type(bakeoff), bakeoff.cfg, name, seed, groups[name, seed]) for name, seed in order]
    log.info("%d models in %d processes of %d thread(s) each", len(order), workers, threads)
    context = multiprocessing.get_context("spawn")  # no forked copy of torch's thread pools
    with (
        _stop_on_term(),
        _thread_limits(threads),
        context.Pool(
            workers, initializer=_start_worker, initargs=(threads, logging.getLogger().level)
        ) as pool,
    ):
        try:
            for label, outcomes, left_out in pool.imap_unordered(_run_group, tasks):
                for stage, status, seconds in outcomes:
                    if status == "stopped":
                        raise TrainingStopped(stage, exit_code=int(seconds))
                    progress.report(label, stage, status, seconds)
                for _ in range(left_out):  # after a failed stage, those building on it
                    progress.skip()
        except BaseException:
            pool.terminate()  # each worker's last checkpoint and stage file are whole
            raise


def _cost(bakeoff: Bakeoff, name: str, stages: list[str]) -> float:
    if name == PCA:
        return 0.1 * len(stages)
    architecture = bakeoff.model_config(name, bakeoff.cfg.latent_dim).architecture
    return ARCHITECTURE_COST.get(architecture, 1.0) * len(stages)


def _start_worker(threads: int, level: int) -> None:
    import torch

    from autoencoders.quiet import hush

    torch.set_num_threads(threads)
    logging.basicConfig(level=level, format="%(message)s")
    hush()
    # Ctrl-C reaches every process of the terminal: the parent ends the pool, and a
    # worker outside training ignores it rather than dying mid-file.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_group(
    task: tuple[type, BakeoffConfig, str, int, list[str]],
) -> tuple[str, list[tuple[str, str, float]], int]:
    """In a worker: every stage of one model and seed.

    Returns the model's label, ``(stage, status, seconds)`` per stage run, and how
    many stages were left out after one failed.
    """
    bakeoff_cls, cfg, name, seed, stages = task
    bakeoff: Any = bakeoff_cls(cfg)
    outcomes: list[tuple[str, str, float]] = []
    for stage in stages:
        try:
            result = bakeoff.run_stage(name, seed, stage)
        except TrainingStopped as err:  # sent back as data: its class does not pickle
            outcomes.append((str(err), "stopped", float(err.exit_code)))
            break
        outcomes.append((stage, result["status"], result["seconds"]))
        if result["status"] != "ok":
            break  # its later stages build on this one
    return bakeoff.label(name, seed), outcomes, len(stages) - len(outcomes)


#: the thread pools a worker's libraries start (OpenMP: torch; BLAS: numpy, scikit-learn;
#: numba: UMAP, whose idle threads keep spinning after the latent map is drawn)
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@contextmanager
def _thread_limits(threads: int) -> Iterator[None]:
    """The workers start with every library limited to ``threads`` threads.

    Set in the environment they inherit, before their libraries load: with numba's
    pool of all the cores in each of two processes, spinning after a latent map,
    the next model's training took eight times as long (46 s against 6 s measured).
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _stop_on_term() -> Iterator[None]:
    """SIGTERM to the parent stops the workers too, as Ctrl-C does."""

    def stop(signum: int, frame: Any) -> None:
        raise TrainingStopped(
            "stopped by SIGTERM; run the same bakeoff command again to go on from there",
            exit_code=128 + signum,
        )

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: signals cannot be caught here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
