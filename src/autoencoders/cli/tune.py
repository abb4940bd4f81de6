"""``autoencoders tune``: an Optuna search over a model's and its run's options.

Every ``train`` option is accepted and holds for every trial; the searched ones
come from the options' declared ranges (:mod:`autoencoders.training.search_space`)
or a ``--space`` file. Each trial is a normal run folder under ``--out``; the study
is kept in ``--storage`` so that calling again adds trials, and continues one that
Ctrl-C stopped. At the end: ``best.yaml`` (``train --config`` takes it) and
``study.html`` (optimisation history, parameter importances, every trial).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from autoencoders.cli.parsing import CommandParser
from autoencoders.cli.train_options import add_train_options, resolve_options
from autoencoders.errors import UsageError

HELP = "search a model's options with Optuna: trials as runs, the best as a config file"

#: the options of `tune` itself; the others are `train`'s
TUNE_OPTIONS = ("trials", "storage", "study_name", "space", "out")
#: run options that say where or how a run writes, not what it trains: left out of best.yaml
NOT_IN_BEST = ("output", "overwrite", "resume", "progress", "logger", "mlflow_uri")


def add_arguments(parser: CommandParser) -> None:
    """``train``'s options (fixed for every trial) and the study's own."""
    add_train_options(parser)
    parser.usage = "autoencoders tune [--model NAME] [--trials N] [--storage URL] [options]"
    group = parser.add_argument_group("study options")
    group.add_argument(
        "--trials", type=int, default=10, help="trials this call runs (added to the study)"
    )
    group.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="the study's database, e.g. sqlite:///study.db (default: study.db in --out)",
    )
    group.add_argument(
        "--study-name",
        default=None,
        metavar="NAME",
        help="the study's name (default: MODEL-DATASET)",
    )
    group.add_argument(
        "--space",
        type=Path | None,
        default=None,
        metavar="FILE",
        help="YAML file of option ranges that replace the default search (lr, batch_size): "
        "{low, high, log, step}, a list of values, a fixed value, or null",
    )
    group.add_argument(
        "--out",
        type=Path | None,
        default=None,
        metavar="DIR",
        help="folder of the trials' run folders, best.yaml and study.html "
        "(default: <output>/<dataset>/<model>-tune)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs the study ``args`` describe; returns the exit code."""
    import optuna

    from autoencoders.errors import ConfigError, NonFiniteLoss, TrainingStopped
    from autoencoders.registry import variant
    from autoencoders.training.job import run_folder
    from autoencoders.training.search_space import build_space, read_space
    from autoencoders.training.tuning import Tuning, claim_out, open_storage, queue_interrupted

    values = vars(args)
    own = {k: values.pop(k) for k in TUNE_OPTIONS}
    if values.get("resume"):
        raise UsageError(
            "tune does not take --resume: run the same tune command again to continue its study"
        )
    if own["trials"] < 1:
        raise UsageError(f"--trials must be an integer >= 1, got {own['trials']}")
    run_cfg, model_cfg = resolve_options(argparse.Namespace(**values))
    run_cfg.validate()
    model_cfg.validate(input_shape_known=False)
    defaults = {**dataclasses.asdict(run_cfg), **dataclasses.asdict(model_cfg)}
    space_file = own["space"]
    space = build_space(
        variant(model_cfg.model).config_cls,
        defaults,
        read_space(space_file),
        source=str(space_file) if space_file else "search space",
    )
    folder = run_folder(run_cfg, model_cfg.model)
    out = Path(own["out"] or folder.parent / f"{model_cfg.model}-tune")
    study_name = own["study_name"] or f"{model_cfg.model}-{folder.parent.name}"
    url = own["storage"]
    if url is None:
        out.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out / 'study.db').resolve()}"
    storage = open_storage(url)
    claim_out(out, url, study_name)
    if not args.verbose:
        # its per-trial lines (and tracebacks of interrupted trials): we print our own
        optuna.logging.set_verbosity(optuna.logging.ERROR)
    known = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}
    done_before = known.get(study_name, 0)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        # seeded per call, so that a second call draws new values, reproducibly
        sampler=optuna.samplers.TPESampler(seed=run_cfg.seed + done_before),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    print(
        f"study {study_name} in {url}: {done_before} trial(s) so far; searching "
        + ("; ".join(d.describe() for d in space.dimensions) or "nothing (all fixed)")
    )
    for number in queue_interrupted(study):
        print(f"  trial {number} was interrupted: it is continued first")
    tuning = Tuning(run_cfg, model_cfg, space, out, say=lambda line: print("  " + line, flush=True))
    base = _best_base(run_cfg, model_cfg, space)
    try:
        study.optimize(tuning.objective, n_trials=own["trials"], catch=(ConfigError, NonFiniteLoss))
    except TrainingStopped as err:
        _finish(study, out, base)
        raise TrainingStopped(
            f"{err}; the study keeps its finished trials: run the same tune command to "
            "continue the interrupted trial",
            err.exit_code,
        ) from None
    print("\n".join(_finish(study, out, base)))
    return 0


def _best_base(run_cfg: Any, model_cfg: Any, space: Any) -> dict[str, Any]:
    """The options every trial shared, as ``train --config`` reads them.

    The model and data set first, then the options that differ from their defaults.
    """
    from autoencoders.run_config import TrainConfig

    base: dict[str, Any] = {"model": model_cfg.model, "dataset": run_cfg.dataset}
    default_run = dataclasses.asdict(TrainConfig())
    for key, value in dataclasses.asdict(run_cfg).items():
        if key not in NOT_IN_BEST and key != "dataset" and value != default_run[key]:
            base[key] = value
    default_model = dataclasses.asdict(type(model_cfg)())
    for key, value in dataclasses.asdict(model_cfg).items():
        if key not in ("model", "input_shape") and value != default_model[key]:
            base[key] = value
    return {**base, **space.fixed["run"], **space.fixed["model"]}


def _finish(study: Any, out: Path, base: dict[str, Any]) -> list[str]:
    """Writes the study page and the best trial's config file; the summary's lines."""
    import optuna

    from autoencoders.training.tuning import MONITOR as monitor
    from autoencoders.training.tuning import write_best_config
    from autoencoders.training.tuning_report import write_study_page

    lines = [f"study page       {write_study_page(out / 'study.html', study, monitor)}"]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return ["no trial has finished yet; nothing to choose from", *lines]
    best = study.best_trial
    path = write_best_config(out / "best.yaml", study, base)
    return [
        f"best trial {best.number} of {len(study.trials)}: {monitor} {best.value:.5g} "
        f"in {best.user_attrs.get('run_dir', '?')}",
        f"best options     {path} (autoencoders train --config {path})",
        *lines,
    ]
