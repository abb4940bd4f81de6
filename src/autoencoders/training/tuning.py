"""``autoencoders tune``: an Optuna study whose every trial is a normal training run.

The study lives in a database (``--storage``, SQLite by default), so a second call
adds trials to it. A trial that a signal (Ctrl-C, SIGTERM) stops saves its
checkpoint, is marked failed and flagged ``interrupted``; the next call first
continues it from that checkpoint, with the trial's own settings, as a new trial
with the same parameters. With a heartbeat, a trial whose process was killed
outright is found stale by a later call and continued the same way.

Pruning reports each validation loss to the trial (:class:`ReportToTrial`): a few
lines of our own instead of optuna-integration's callback, which would be one more
package for the same two calls.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback

from autoencoders.config import ModelConfig
from autoencoders.errors import ConfigError, NonFiniteLoss, TrainingStopped, UsageError
from autoencoders.files import atomic_path, write_json
from autoencoders.registry import make_config
from autoencoders.run_config import TrainConfig
from autoencoders.training.job import train_run
from autoencoders.training.search_space import SearchSpace

log = logging.getLogger(__name__)

#: what the study minimises
MONITOR = "val/loss"
#: trial attributes: the run folder, the settings it trained with, and continuations
RUN_DIR, RUN_SETTINGS, MODEL_SETTINGS = "run_dir", "run_settings", "model_settings"
INTERRUPTED, CONTINUES = "interrupted", "continues"
#: seconds between a running trial's heartbeats, and without one before it counts as dead
HEARTBEAT_S, GRACE_S = 30, 120


class ReportToTrial(Callback):
    """Reports every validation loss to an Optuna trial and stops the run it says to prune.

    The run's value is its best reported loss under early stopping (whose best weights
    the run keeps), else its last.
    """

    def __init__(self, trial: optuna.Trial, keeps_best: bool) -> None:
        self.trial = trial
        self.keeps_best = keeps_best
        self.losses: list[float] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(MONITOR)
        if value is None or trainer.sanity_checking:
            return
        loss = float(value)
        self.losses.append(loss)
        if loss == loss:  # Optuna refuses NaN; a NaN loss stops the run by itself
            self.trial.report(loss, trainer.global_step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {trainer.global_step}: {MONITOR} {loss:.4g}")

    @property
    def value(self) -> float | None:
        """The run's loss for the study (``None``: nothing was validated)."""
        if not self.losses:
            return None
        return min(self.losses) if self.keeps_best else self.losses[-1]


@dataclass
class Tuning:
    """One ``tune`` call: the study's settings, and what each trial starts from."""

    run: TrainConfig
    model: ModelConfig
    space: SearchSpace
    out: Path
    #: prints one line per finished trial
    say: Callable[[str], None] = print

    def trial_configs(self, trial: optuna.Trial) -> tuple[TrainConfig, ModelConfig]:
        """The configs of a new trial: the base ones, the file's fixed values, the draws."""
        drawn: dict[str, dict[str, Any]] = {"run": {}, "model": {}}
        for dim in self.space.dimensions:
            drawn[dim.owner][dim.name] = dim.suggest(trial)
        run = dataclasses.replace(
            self.run,
            **{**self.space.fixed["run"], **drawn["run"]},
            progress=False,
            overwrite=False,
            resume=None,
        )
        # the base config as given (automatic channels stay automatic for the data's shape)
        values = {**dataclasses.asdict(self.model), **self.space.fixed["model"], **drawn["model"]}
        for key in ("model", "input_shape"):
            values.pop(key)
        return run, make_config(self.model.model, **values)

    def objective(self, trial: optuna.Trial) -> float:
        """Trains one trial's run and returns its validation loss."""
        continues = trial.user_attrs.get(CONTINUES)
        if continues is not None:
            run, model_cfg, run_dir = self._continued(trial, int(continues))
        else:
            try:
                run, model_cfg = self.trial_configs(trial)
            except ConfigError as err:  # drawn values that do not go together
                self.say(f"trial {trial.number}: skipped ({_drawn(trial)}): {err}")
                raise
            run_dir = self.out / f"trial-{trial.number:04d}"
        trial.set_user_attr(RUN_DIR, str(run_dir.resolve()))
        trial.set_user_attr(RUN_SETTINGS, _json_ready(dataclasses.asdict(run)))
        trial.set_user_attr(MODEL_SETTINGS, _json_ready(dataclasses.asdict(model_cfg)))
        report = ReportToTrial(trial, keeps_best=run.epochs is None)
        try:
            result = train_run(run, model_cfg, run_dir, progress_bar=False, callbacks=[report])
        except optuna.TrialPruned:
            self.say(f"trial {trial.number}: pruned ({_drawn(trial)}) in {run_dir}")
            raise
        except NonFiniteLoss as err:
            self.say(f"trial {trial.number}: failed ({_drawn(trial)}): {err}")
            raise
        except (TrainingStopped, KeyboardInterrupt):
            trial.set_user_attr(INTERRUPTED, True)
            raise
        value = report.value
        if value is None:
            value = result.train.metrics.get(MONITOR)
        if value is None or value != value:
            raise ConfigError(f"trial {trial.number}: its run reported no {MONITOR}")
        self.say(f"trial {trial.number}: {MONITOR} {value:.5g} ({_drawn(trial)}) in {run_dir}")
        return float(value)

    def _continued(self, trial: optuna.Trial, number: int) -> tuple[TrainConfig, ModelConfig, Path]:
        """An interrupted trial's run, continued from its checkpoint with its own settings."""
        old = trial.study.trials[number]
        for name, distribution in old.distributions.items():
            # the enqueued values come back, and are recorded as this trial's parameters
            suggest_like(trial, name, distribution)
        run_dir = Path(old.user_attrs[RUN_DIR])
        stored_run = {**old.user_attrs[RUN_SETTINGS], "progress": False}
        model_values = dict(old.user_attrs[MODEL_SETTINGS])
        model_values.pop("input_shape", None)
        model_cfg = make_config(str(model_values.pop("model")), **model_values)
        has_checkpoint = (run_dir / "checkpoints" / "last.ckpt").is_file()
        run = TrainConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in stored_run.items()}
        )
        # without a checkpoint (stopped before its first one) the trial starts over there
        run = dataclasses.replace(
            run, resume=str(run_dir) if has_checkpoint else None, overwrite=not has_checkpoint
        )
        self.say(f"trial {trial.number}: continues interrupted trial {number} in {run_dir}")
        return run, model_cfg, run_dir


def suggest_like(trial: optuna.Trial, name: str, distribution: Any) -> Any:
    """``trial``'s value of ``name`` from the same distribution as an earlier trial's."""
    d = optuna.distributions
    if isinstance(distribution, d.CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, d.IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    return trial.suggest_float(
        name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
    )


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _drawn(trial: optuna.Trial) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The study database at ``url``, with heartbeats that find trials whose process died.

    Raises:
        UsageError: a URL that does not name a database that can be opened, in one line.
    """
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=continue_later,
            )
    except Exception as err:  # SQLAlchemy and Optuna raise many kinds for a bad URL
        reason = " ".join(str(err).split())[:300]
        raise UsageError(
            f"--storage {url}: cannot open this study database ({reason}); give e.g. "
            "sqlite:///study.db in a writable folder"
        ) from None


def continue_later(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queues a trial found dead (no heartbeat) to be continued, as an interrupted one is."""
    if RUN_DIR in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs={CONTINUES: trial.number})


def queue_interrupted(study: optuna.Study) -> list[int]:
    """Queues every interrupted trial not yet continued; returns their numbers."""
    trials = study.get_trials(deepcopy=False)
    taken = {t.user_attrs.get(CONTINUES) for t in trials}
    waiting = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.FAIL
        and t.user_attrs.get(INTERRUPTED)
        and t.number not in taken
    ]
    for t in waiting:
        study.enqueue_trial(t.params, user_attrs={CONTINUES: t.number})
    return [t.number for t in waiting]


def best_config(study: optuna.Study, base: Mapping[str, Any]) -> dict[str, Any]:
    """The best trial's options, as a ``train --config`` file holds them.

    ``base`` holds the options the study was started with (the command line's,
    the model's name); the best trial's drawn values replace theirs.
    """
    best = study.best_trial
    return {**base, **best.params}


def write_best_config(path: Path, study: optuna.Study, base: Mapping[str, Any]) -> Path:
    """Writes :func:`best_config` as YAML (atomically), headed by the trial it comes from."""
    import yaml

    best = study.best_trial
    head = (
        f"# best trial {best.number} of study {study.study_name!r}: {MONITOR} {best.value:.6g}\n"
        f"# train it: autoencoders train --config {path.name}\n"
    )
    values = {
        k: list(v) if isinstance(v, tuple) else v for k, v in best_config(study, base).items()
    }
    with atomic_path(path) as tmp:
        tmp.write_text(head + yaml.safe_dump(values, sort_keys=False))
    return path


def claim_out(out: Path, storage: str, study_name: str) -> None:
    """Makes ``out`` the folder of this study, refusing one that holds another study's trials.

    Raises:
        UsageError: naming the study the folder belongs to.
    """
    marker = out / "tune.json"
    mine = {"storage": storage, "study": study_name}
    if marker.is_file():
        import json

        try:
            theirs = json.loads(marker.read_text())
        except ValueError:
            theirs = None
        if theirs != mine:
            raise UsageError(
                f"{out} holds the trials of another study ({theirs}); choose another --out, "
                "or give that study's --storage and --study-name to add trials to it"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, mine)
