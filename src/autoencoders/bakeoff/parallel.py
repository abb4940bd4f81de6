"""Several models of a bake-off at once, each in a process of its own.

Small models leave most of a CPU core idle between tiny kernels, and torch's
threads help them little; two processes of one thread each train two models in
about the time of one. A task is one model's stages that build on each other
(train, then evaluate) or a stage that trains models of its own (held-out,
one-class); each result is saved as the one-process run saves it, so the report,
the reuse of finished stages and resuming are the same. The costliest tasks are
handed out first, so no worker is left with a long one at the end.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from autoencoders.bakeoff.config import BUILDS_ON, PCA, BakeoffConfig
from autoencoders.errors import TrainingStopped

if TYPE_CHECKING:
    from autoencoders.bakeoff.progress import Progress
    from autoencoders.bakeoff.runner import Bakeoff

log = logging.getLogger("autoencoders.bakeoff")

#: what a stopped bake-off tells its user
GO_ON = "run the same bakeoff command again to go on from there"

#: rough cost of a model's stages relative to an mlp's: conv nets on CPU are slower
ARCHITECTURE_COST = {"conv": 3.0}


class Workers:
    """``count`` worker processes of one thread each, waiting for a bake-off's tasks.

    Started before the work is known: their imports (torch and Lightning, seconds
    each) then overlap the parent's reading of the data. Our own processes rather
    than a ``multiprocessing.Pool``: a Pool terminated while a worker finishes its
    training step waits forever in its cleanup, so Ctrl-C hung the bake-off. Here
    a stop is a signal to each worker and a join.
    """

    def __init__(self, count: int) -> None:
        self.threads = max(1, (os.cpu_count() or 1) // count)
        context = multiprocessing.get_context("spawn")  # no forked copy of torch's thread pools
        self.links: dict[Connection, BaseProcess] = {}
        with _thread_limits(self.threads):
            for _ in range(count):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve, args=(theirs, self.threads, logging.getLogger().level),
                    daemon=True,
                )  # fmt: skip
                process.start()
                theirs.close()  # the worker holds the only other end: EOF when it ends
                self.links[ours] = process

    def run(self, bakeoff: Bakeoff, todo: list[tuple[str, int, str]], progress: Progress) -> None:
        """Runs the stages ``todo``, costliest task first, reporting each as it ends.

        Raises:
            TrainingStopped: on SIGINT or SIGTERM (the workers' runs are saved, the
                rest stays to do; the same command resumes).
            RuntimeError: when a worker fails unexpectedly (with its traceback) or dies.
        """
        chains = task_chains(todo)
        order = sorted(chains, key=lambda key: -_cost(bakeoff, key[0], chains[key]))
        tasks = [(type(bakeoff), bakeoff.cfg, name, seed, chains[name, seed, first])
                 for name, seed, first in order]  # fmt: skip
        models = len({(name, seed) for name, seed, _ in todo})
        log.info("%d models in %d processes of %d thread(s) each (%d independent tasks)",
                 models, len(self.links), self.threads, len(tasks))  # fmt: skip
        with _stop_on_term():
            try:
                for label, outcomes, left_out in self._replies(tasks):
                    for stage, status, seconds in outcomes:
                        if status == "stopped":
                            raise TrainingStopped(stage, exit_code=int(seconds))
                        progress.report(label, stage, status, seconds)
                    for _ in range(left_out):  # after a failed stage, those building on it
                        progress.skip()
            except KeyboardInterrupt:
                # Ctrl-C reached the workers too: one in training saves and stops after
                # its step, one outside it ends its stage. A second signal from here would
                # stop them at once, mid-step, so they are only told that no task is left.
                self.close()
                raise TrainingStopped(
                    f"stopped by SIGINT; {GO_ON}", exit_code=128 + signal.SIGINT
                ) from None
            except BaseException:
                self.stop()  # each worker's last checkpoint and stage file are whole
                raise

    def _replies(
        self, tasks: list[Task]
    ) -> Iterator[tuple[str, list[tuple[str, str, float]], int]]:
        """The workers' results as they come: a worker that ends a task gets the next."""
        waiting = iter(tasks)
        live = dict(self.links)
        for link in live:
            link.send(next(waiting, None))
        received = 0
        while received < len(tasks):
            if not live:
                raise RuntimeError(
                    f"the bake-off's workers ended after {received} of {len(tasks)} tasks"
                )
            for link in wait(list(live)):
                assert isinstance(link, Connection)
                try:
                    kind, body = link.recv()
                except EOFError:  # the worker is gone: finished, or killed
                    process = live.pop(link)
                    process.join()
                    if process.exitcode:
                        raise RuntimeError(
                            f"a bake-off worker died with exit code {process.exitcode}"
                        ) from None
                    continue
                if kind == "error":
                    raise RuntimeError(f"a bake-off worker failed:\n{body}")
                received += 1
                link.send(next(waiting, None))
                yield body

    def close(self) -> None:
        """Lets idle workers end, then waits for them; stops any that still run."""
        for link in self.links:
            with contextlib.suppress(OSError):  # a worker that is gone already
                link.send(None)
        for process in self.links.values():
            process.join(STOP_SECONDS)
        self.stop()

    def stop(self) -> None:
        """Asks every worker still running to stop after its step, then waits for it."""
        processes = list(self.links.values())
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()


#: one task: the bake-off's class and config, a model, a seed and its stages in order
Task = tuple[type, BakeoffConfig, str, int, list[str]]

#: how long a stopped worker may take to finish its training step and save
STOP_SECONDS = 60.0


def _serve(link: Connection, threads: int, level: int) -> None:
    """A worker: runs each task it is sent until it is sent None (or the parent is gone)."""
    _start_worker(threads, level)
    while True:
        try:
            task = link.recv()
        except EOFError:
            break
        if task is None:
            break
        try:
            reply = _run_group(task)
        except Exception:  # sent as text: the parent shows it and stops the others
            link.send(("error", traceback.format_exc()))
            break
        link.send(("done", reply))
        if any(status == "stopped" for _, status, _ in reply[1]):
            break
    link.close()


def task_chains(todo: list[tuple[str, int, str]]) -> dict[tuple[str, int, str], list[str]]:
    """The stages to do as independent tasks, keyed by model, seed and first stage.

    A stage that reads another's result runs after it in one task; a model's other
    stages (held-out, one-class: models of their own) are tasks of their own, so
    that two workers share one costly model's stages.
    """
    chains: dict[tuple[str, int, str], list[str]] = {}
    for name, seed, stage in todo:
        first = BUILDS_ON.get(stage)
        key = (name, seed, first) if (name, seed, first) in chains else (name, seed, stage)
        chains.setdefault(key, []).append(stage)
    return chains


#: a stage's rough cost relative to an mlp's training (measured in `make demo`)
STAGE_COST = {"train": 1.0, "evaluate": 0.3, "held-out": 0.8, "one-class": 1.0}


def _cost(bakeoff: Bakeoff, name: str, stages: list[str]) -> float:
    if name == PCA:
        return 0.1 * len(stages)
    architecture = bakeoff.model_config(name, bakeoff.cfg.latent_dim).architecture
    return ARCHITECTURE_COST.get(architecture, 1.0) * sum(STAGE_COST[s] for s in stages)


def _start_worker(threads: int, level: int) -> None:
    # Ctrl-C reaches every process of the terminal: the parent stops the workers, and a
    # worker outside training ignores it rather than dying mid-file (or mid-import).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # what every task needs, loaded while the parent still reads the data
    import lightning  # noqa: F401
    import torch

    import autoencoders.evaluation  # noqa: F401
    from autoencoders.quiet import hush

    torch.set_num_threads(threads)
    logging.basicConfig(level=level, format="%(message)s")
    hush()


def _run_group(task: Task) -> tuple[str, list[tuple[str, str, float]], int]:
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
            f"stopped by SIGTERM; {GO_ON}",
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
