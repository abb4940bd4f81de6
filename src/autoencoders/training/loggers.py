"""Where a run's metrics go: TensorBoard (the default), CSV files and MLflow, through Lightning.

``--logger`` names one or more of :data:`~autoencoders.run_config.LOGGERS`; :func:`make_loggers` builds
them for a run folder. TensorBoard and CSV write inside the run folder. MLflow
writes into a tracking store shared by every run of an ``--output`` folder, so
that ``mlflow ui`` compares them: by default the SQLite database
``<output>/mlflow.db`` with the artifacts (images) in ``<output>/mlartifacts``.
A database rather than a folder because MLflow 3 refuses new folder stores
(``./mlruns``) unless told otherwise; ``--mlflow-uri`` names any other store.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from autoencoders.errors import ConfigError
from autoencoders.images import to_pixels
from autoencoders.run_config import LOGGERS

log = logging.getLogger(__name__)

#: the default MLflow store's file and artifact folder, inside ``--output``
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"


class RunMLFlowLogger(MLFlowLogger):
    """Lightning's MLflow logger that also takes image grids, as TensorBoard's writer does.

    :class:`~autoencoders.module.AutoEncoder` hands every logger with an
    ``add_image`` its validation reconstructions; here they become MLflow images
    (artifacts with a step, shown per step in ``mlflow ui``).
    """

    def __init__(self, *, tracking_uri: str, **kwargs: Any) -> None:
        super().__init__(tracking_uri=tracking_uri, **kwargs)
        #: the store this logger writes to, for the summary's `mlflow ui` line
        self.tracking_uri = tracking_uri

    @rank_zero_only
    def add_image(self, tag: str, img_tensor: torch.Tensor, global_step: int = 0) -> None:
        """Logs a ``(C, H, W)`` grid in [0, 1] as the image ``tag`` at ``global_step``."""
        self.experiment.log_image(
            self.run_id, to_pixels(img_tensor), key=tag.replace("/", "_"), step=int(global_step)
        )

    @rank_zero_only
    def add_file(self, path: Path) -> None:
        """Stores a finished file of the run (a picture, a plot) as an artifact."""
        self.experiment.log_artifact(self.run_id, str(path))


def mlflow_store(output: str | Path, uri: str | None) -> tuple[str, str | None]:
    """The tracking URI and (for the default store) artifact folder of ``--logger mlflow``."""
    if uri:
        return uri, None
    folder = Path(output).resolve()
    return f"sqlite:///{folder / MLFLOW_DB}", str(folder / MLFLOW_ARTIFACTS)


def check_loggers(
    names: Sequence[str],
    *,
    output: str | Path = "runs",
    mlflow_uri: str | None = None,
    experiment: str = "autoencoders",
    label: str = "--logger",
) -> None:
    """Refuses an unknown logger, or MLflow where it is not installed or its store won't open.

    For before any work: the MLflow store and experiment are opened (made if missing).

    Raises:
        ConfigError: naming the option, the value and the fix.
    """
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(
            f"{label} {','.join(unknown)}: unknown logger; choose one or more of "
            f"{', '.join(LOGGERS)}"
        )
    if "mlflow" in names and importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            f"{label} mlflow needs MLflow: pip install 'autoencoder-lab[tracking]' "
            "(or mlflow-skinny)"
        )
    if "mlflow" in names and rank_zero_only.rank == 0:  # one process sets the store up
        open_experiment(*mlflow_store(output, mlflow_uri), experiment)


def make_loggers(
    names: Sequence[str],
    run_dir: Path,
    *,
    output: str | Path = "runs",
    mlflow_uri: str | None = None,
    experiment: str = "autoencoders",
    params: Mapping[str, Any] | None = None,
) -> list[Logger]:
    """The loggers ``names`` asks for, writing for the run in ``run_dir``.

    Args:
        names: entries of ``run_config.LOGGERS``; TensorBoard, where named, comes first, so that
            ``trainer.logger`` (and the summary's log folder) is the TensorBoard one.
        run_dir: the run folder (TensorBoard in ``tensorboard/``, CSV in ``csv/``).
        output: the folder the default MLflow store lives in.
        mlflow_uri: an MLflow tracking URI (default: :func:`mlflow_store`'s SQLite file).
        experiment: the MLflow experiment the run is filed under.
        params: the run's settings, logged as MLflow parameters.
    """
    check_loggers(names, output=output, mlflow_uri=mlflow_uri, experiment=experiment)
    loggers: list[Logger] = []
    ordered = sorted(dict.fromkeys(names), key=LOGGERS.index)
    for name in ordered:
        if name == "tensorboard":
            loggers.append(TensorBoardLogger(str(run_dir), name="tensorboard", version=""))
        elif name == "csv":
            loggers.append(CSVLogger(str(run_dir), name="csv", version=""))
        else:
            uri, artifacts = mlflow_store(output, mlflow_uri)
            mlflow = RunMLFlowLogger(
                experiment_name=experiment,
                run_name=str(run_dir),
                tracking_uri=uri,
                artifact_location=artifacts,
                tags={"run_dir": str(Path(run_dir).resolve())},
            )
            if params:
                mlflow.log_hyperparams(flat_params(params))
            loggers.append(mlflow)
    return loggers


def open_experiment(uri: str, artifacts: str | None, name: str) -> str:
    """Opens the MLflow store at ``uri`` and the experiment ``name`` in it (made if missing).

    Done here rather than by Lightning's logger, so that a store that cannot be
    opened is one line before training, and a new experiment no warning.

    Raises:
        ConfigError: naming the store and MLflow's reason.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(client.create_experiment(name, artifact_location=artifacts))
    except (MlflowException, OSError, ValueError) as err:
        reason = " ".join(str(err).split())[:300]
        raise ConfigError(
            f"--mlflow-uri {uri}: cannot open this MLflow store ({reason}); give a "
            "writable sqlite:///FILE.db or a tracking server's address"
        ) from None


def flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as MLflow parameters: lists comma-joined, unset values left out."""
    return {
        k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        for k, v in params.items()
        if v is not None
    }


def log_files(loggers: Iterable[Logger], paths: Iterable[Path | None]) -> None:
    """Hands finished run files (reconstructions, the learning-rate plot) to MLflow."""
    files = [p for p in paths if p is not None and p.is_file()]
    for logger in loggers:
        if isinstance(logger, RunMLFlowLogger):
            for path in files:
                logger.add_file(path)


def describe(loggers: Iterable[Logger]) -> list[str]:
    """Summary lines: where each logger wrote and the command that shows it."""
    lines = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            lines += [
                f"  logs             {logger.log_dir}",
                f"  view them with:  tensorboard --logdir {logger.log_dir}",
            ]
        elif isinstance(logger, CSVLogger):
            lines.append(f"  csv metrics      {Path(logger.log_dir) / 'metrics.csv'}")
        elif isinstance(logger, RunMLFlowLogger):
            uri = logger.tracking_uri
            lines.append(f"  mlflow run       {logger.run_id} ({uri})")
            lines.append(f"  view it with:    mlflow ui --backend-store-uri {uri}")
    return lines
