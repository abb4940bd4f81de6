"""The bake-off's status: which model and stage runs, and about how long is left."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("autoencoders.bakeoff")


class Progress:
    """One line per stage on the log (stderr): ``[3/12] deep seed 42: evaluate (elapsed 1m02s, about 3m left)``.

    The estimate is the mean time of the stages done so far times the stages left.
    """

    def __init__(self, total: int) -> None:
        self.total, self.done, self.spent, self.start = total, 0, 0.0, time.perf_counter()

    def begin(self, label: str, stage: str) -> None:
        left = ""
        if self.done:
            eta = self.spent / self.done * (self.total - self.done)
            left = f", about {duration(eta)} left"
        elapsed = duration(time.perf_counter() - self.start)
        log.info(
            "[%d/%d] %s: %s (elapsed %s%s)", self.done + 1, self.total, label, stage, elapsed, left
        )

    def finish(self, seconds: float) -> None:
        self.done += 1
        self.spent += seconds

    def report(self, label: str, stage: str, status: str, seconds: float) -> None:
        """A stage another process ran has ended: one line saying so, with the time left."""
        self.finish(seconds)
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        log.info(
            "[%d/%d] %s: %s %s in %s (elapsed %s, about %s left)", self.done, self.total, label,
            stage, "done" if status == "ok" else status, duration(seconds), duration(elapsed),
            duration(left),
        )  # fmt: skip

    def skip(self) -> None:
        self.total -= 1


def duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``9`` -> ``9s``."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
