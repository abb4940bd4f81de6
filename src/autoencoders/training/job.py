"""A whole training job from two configs: data, model, training, pictures, summary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from autoencoders.checkpoint import checkpoint_in
from autoencoders.config import ModelConfig, config_to_dict
from autoencoders.data import DATASETS
from autoencoders.data.run_data import make_datamodule
from autoencoders.data.sources import ArrayDataset
from autoencoders.errors import ConfigError, RunFolderError, UserError
from autoencoders.files import write_json
from autoencoders.images import image_rows, save_grid_image
from autoencoders.models import build_model
from autoencoders.module import AutoEncoder
from autoencoders.run_config import TrainConfig
from autoencoders.training.loggers import check_loggers, describe, log_files, make_loggers
from autoencoders.training.lr_finder import PLOT_NAME, LearningRate, check_lr_auto, choose_lr
from autoencoders.training.stopping import StopRule
from autoencoders.training.trainer import TrainResult, compile_networks, fit, set_threads

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import Callback

#: what a run leaves in its folder; `--overwrite` removes exactly these
RUN_FILES = ("checkpoints", "tensorboard", "csv", PLOT_NAME, "config.json", "run.json")


@dataclass
class RunResult:
    """A finished job: where its files are and how it ended."""

    run_dir: Path
    train: TrainResult
    reconstruction_png: Path | None
    model: AutoEncoder
    #: the rate ``lr="auto"`` chose (``None``: the config gave one)
    lr: LearningRate | None = None
    #: where each logger wrote and how to look (:func:`~autoencoders.training.loggers.describe`)
    log_lines: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for the terminal: losses, files, how to look at the logs."""
        if self.train.steps:
            head = (
                f"trained {self.train.epochs} epoch(s) in {self.train.wall_time_s:.1f} s: "
                f"{self.train.stop_reason}"
            )
        else:  # a resumed run that had already reached its limit
            head = (
                f"nothing left to train: the run had already trained {self.train.epochs} "
                f"epoch(s) ({self.train.stop_reason}); raise that limit to train longer"
            )
        lines = [
            head,
            *([f"  last epoch: {figures}"] if (figures := self._last_figures()) else []),
            *(
                [
                    f"  processes        {len(shares)} (training samples each, last epoch: "
                    f"{', '.join(map(str, shares))})"
                ]
                if len(shares := self.model.samples_per_process) > 1
                else []
            ),
            f"  checkpoint       {self.train.checkpoint}"
            + (f" (weights of epoch {self.train.best_epoch})" if self.train.best_epoch else ""),
            *(
                [f"  to resume        {self.run_dir / 'checkpoints' / 'last.ckpt'}"]
                if self.train.best_epoch
                else []
            ),
            f"  config           {self.run_dir / 'config.json'}",
        ]
        if self.reconstruction_png:
            lines.append(f"  reconstructions  {self.reconstruction_png}")
        if self.lr is not None:
            how = f"plot: {self.lr.plot}" if self.lr.plot else "the resumed run's"
            lines.append(f"  learning rate    {self.lr.lr:.3g} (learning-rate finder; {how})")
        if self.log_lines:
            lines.extend(self.log_lines)
        elif self.train.log_dir:
            lines.append(f"  logs             {self.train.log_dir}")
            lines.append(f"  view them with:  tensorboard --logdir {self.train.log_dir}")
        return "\n".join(lines)

    def _last_figures(self) -> str:
        """The last epoch's losses that exist (a figure never measured is left out, not nan)."""
        m = self.train.metrics
        names = {"train/loss_epoch": "train loss", "val/loss": "val loss", "val/recon": "val recon"}
        return "   ".join(
            f"{label} {m[key]:.4g}" for key, label in names.items() if key in m and m[key] == m[key]
        )


def run_folder(run: TrainConfig, model: str) -> Path:
    """``<output>/<data set>/<model>``; a data file's folder name carries a hash of its path.

    Two files called ``train.csv`` in different folders thus get different run folders.
    """
    if run.dataset in DATASETS:
        name = run.dataset
    else:
        path = Path(run.dataset).expanduser().resolve()
        name = f"{_slug(path.name)}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    return Path(run.output) / name / model


def mlflow_experiment(run: TrainConfig, model: str) -> str:
    """The MLflow experiment a run is filed under: its data set, as its run folder names it."""
    return run_folder(run, model).parent.name


def claim_run_folder(directory: Path, *, overwrite: bool) -> None:
    """Makes sure ``directory`` can be written and holds no other run.

    Raises:
        RunFolderError: if it cannot be created or written, or if it holds a run
            and ``overwrite`` is false (the message names ``--resume`` and ``--overwrite``).
    """
    if directory.exists() and not directory.is_dir():
        raise RunFolderError(f"run folder {directory} is a file; choose another --output")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise RunFolderError(
            f"cannot write to run folder {directory} ({err.strerror or err}); "
            "choose another --output"
        ) from None
    held = [directory / name for name in RUN_FILES if (directory / name).exists()]
    if not held:
        return
    if not overwrite:
        raise RunFolderError(
            f"{directory} already holds a run ({held[0].relative_to(directory)}); "
            f"continue it with --resume {directory}, replace it with --overwrite, "
            "or choose another --output"
        )
    for path in held:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_accelerator(accelerator: str) -> None:
    """Refuses an accelerator this machine does not have, before any work starts.

    Raises:
        ConfigError: naming the option and what torch sees.
    """
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"--accelerator {accelerator}: torch sees no CUDA GPU on this machine; "
            "use --accelerator cpu or auto"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--accelerator mps: this machine has no Apple GPU; use cpu or auto")


def train_run(
    run: TrainConfig,
    model_cfg: ModelConfig,
    run_dir: str | Path | None = None,
    *,
    tensorboard: bool = True,
    progress_bar: bool = True,
    data: ArrayDataset | None = None,
    validate: bool = True,
    resume_existing: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Trains one model as the configs say and writes its files.

    Files in ``run_dir`` (default :func:`run_folder`): ``checkpoints/last.ckpt``
    (every epoch), ``config.json`` (the model config, for ``build_model``),
    ``run.json`` (the run's settings, for ``--resume``), ``reconstructions.png`` and
    TensorBoard logs under ``tensorboard/``. A folder that already holds a run is
    refused unless ``run.overwrite`` (replace it) or ``run.resume`` (continue it);
    ``resume_existing`` continues a run left there with the same config, or else
    replaces it (the bake-off's stages). ``data`` is ``run.dataset`` already loaded
    (see :func:`make_datamodule`). ``validate=False`` skips the per-epoch validation
    loop of a fixed-length run, for helper models whose validation loss nobody reads.
    ``callbacks`` join the Trainer's own (``autoencoders tune`` reports to its trial).

    Raises:
        ConfigError, RunFolderError, DataError, CheckpointError: before training
            starts, for settings, folders, data or checkpoints that cannot work.
        TrainingStopped: a signal or a non-finite loss stopped training.
    """
    run.validate()
    model_cfg.validate(input_shape_known=False)
    check_accelerator(run.accelerator)
    if run.resume is None:
        check_lr_auto(model_cfg, run.devices * run.num_nodes)
    if tensorboard:
        check_loggers(
            run.logger,
            output=run.output,
            mlflow_uri=run.mlflow_uri,
            experiment=mlflow_experiment(run, model_cfg.model),
        )
    resume: Path | None = None
    created: Path | None = None  # the outermost folder this call creates, removed if data fails
    if run.resume:
        directory, resume = checkpoint_in(run.resume)
    else:
        directory = Path(run_dir) if run_dir else run_folder(run, model_cfg.model)
        created = _first_missing(directory)
        if resume_existing and _same_run(directory, model_cfg):
            resume = directory / "checkpoints" / "last.ckpt"
        elif rank_zero_only.rank == 0:  # other processes of a run find rank 0's files there
            claim_run_folder(directory, overwrite=run.overwrite or resume_existing)
    if rank_zero_only.rank == 0:
        # a resumed run keeps the rate its learning-rate finder chose
        found = _stored_lr(directory) if resume is not None else None
        write_json(
            directory / "run.json",
            {**dataclasses.asdict(run), **({"lr_found": found} if found is not None else {})},
        )

    L.seed_everything(run.seed, workers=True, verbose=False)
    set_threads(run.threads)
    try:
        datamodule = make_datamodule(run, data, model_cfg.model)
        datamodule.setup("fit")
    except UserError:
        # a mistyped --dataset leaves no run folder behind to trip over later
        if created is not None and rank_zero_only.rank == 0:
            shutil.rmtree(created, ignore_errors=True)
        raise
    model_cfg = dataclasses.replace(model_cfg, input_shape=tuple(datamodule.sample_shape))
    model_cfg.validate()
    model = build_model(model_cfg)
    model.steps_per_call = run.steps_per_call
    lr = choose_lr(
        model,
        datamodule,
        directory,
        resume=resume,
        accelerator=run.accelerator,
        precision=run.precision,
        processes=run.devices * run.num_nodes,
        progress=progress_bar and run.progress,
    )
    if lr is not None and rank_zero_only.rank == 0:
        write_json(directory / "run.json", {**dataclasses.asdict(run), "lr_found": lr.lr})
    loggers = (
        make_loggers(
            run.logger,
            directory,
            output=run.output,
            mlflow_uri=run.mlflow_uri,
            experiment=mlflow_experiment(run, model_cfg.model),
            params={**dataclasses.asdict(run), **model.config},
        )
        if tensorboard
        else []
    )
    if run.compile:
        compile_networks(model)
    result = fit(
        model,
        datamodule,
        stop_rule(run),
        output_dir=directory,
        logger=loggers or False,
        resume=resume,
        checkpoint_every=run.checkpoint_every,
        checkpoint_seconds=run.checkpoint_seconds,
        accelerator=run.accelerator,
        devices=run.devices,
        num_nodes=run.num_nodes,
        strategy=run.strategy,
        precision=run.precision,
        progress_bar=progress_bar and run.progress,
        callbacks=list(callbacks),
        # early stopping watches the validation loss, so only fixed-length runs skip it
        **({} if validate or run.epochs is None else {"limit_val_batches": 0}),
    )
    png = None
    if len(model_cfg.input_shape) == 3 and rank_zero_only.rank == 0:
        png = save_reconstructions(
            model, datamodule, result.checkpoint.parent / "reconstructions.png"
        )
    if rank_zero_only.rank == 0:
        log_files(loggers, [png, lr.plot if lr is not None else None])
    return RunResult(directory, result, png, model, lr, tuple(describe(loggers)))


def _stored_lr(directory: Path) -> float | None:
    """The rate an ``lr="auto"`` run in ``directory`` found (its ``run.json``), if any."""
    try:
        found = json.loads((directory / "run.json").read_text()).get("lr_found")
    except (OSError, ValueError, AttributeError):
        return None
    return float(found) if isinstance(found, (int, float)) else None


def _first_missing(directory: Path) -> Path | None:
    """The outermost folder of ``directory`` that does not exist yet (``None``: all do)."""
    missing = None
    for folder in [directory, *directory.parents]:
        if folder.exists():
            break
        missing = folder
    return missing


def stop_rule(run: TrainConfig) -> StopRule:
    """When ``run`` ends: its fixed ``epochs``, or early stopping within its limits."""
    return StopRule(
        epochs=run.epochs,
        max_epochs=run.max_epochs,
        patience=run.patience,
        min_delta=run.min_delta,
        min_steps=run.min_steps,
        max_steps=run.max_steps,
    )


def _same_run(directory: Path, model_cfg: ModelConfig) -> bool:
    """Whether ``directory`` holds a checkpoint of a model with this config (shape aside)."""
    config = directory / "config.json"
    if not (directory / "checkpoints" / "last.ckpt").is_file() or not config.is_file():
        return False
    try:
        stored = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    shape = stored.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
        return False
    # our config at the stored shape: what it resolves from the shape (conv depth) too
    try:
        ours = config_to_dict(dataclasses.replace(model_cfg, input_shape=tuple(shape)))
    except (ConfigError, ValueError):  # a shape our config cannot take: another run
        return False
    return stored == ours


@torch.no_grad()
def save_reconstructions(model: AutoEncoder, datamodule, path: Path, n: int = 16) -> Path:
    """Writes a PNG of ``n`` validation images above their reconstructions."""
    model.eval()
    x, _ = next(iter(datamodule.val_dataloader()))
    x = x[:n].to(model.device)
    return save_grid_image(image_rows([x, model(x)]), path)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name) or "data"
