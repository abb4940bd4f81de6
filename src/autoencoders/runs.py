"""A whole training job from two configs: data, model, training, pictures, summary."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from autoencoders.config import ModelConfig, TrainConfig
from autoencoders.data.sources import ArrayDataset
from autoencoders.module import AutoEncoder
from autoencoders.training import TrainResult, fit, set_threads
from autoencoders.visuals import image_rows, save_grid_png

#: data sets whose 28x28 images are padded to 32x32, as in the lecture
PAD_TO_32 = ("mnist", "fashion-mnist", "kmnist")


@dataclass
class RunResult:
    """A finished job: where its files are and how it ended."""

    run_dir: Path
    train: TrainResult
    reconstruction_png: Path | None
    model: AutoEncoder

    def summary(self) -> str:
        """A few lines for the terminal: losses, files, how to look at the logs."""
        m = self.train.metrics
        lines = [
            f"trained {self.train.epochs} epoch(s) in {self.train.wall_time_s:.1f} s",
            f"  train loss {m.get('train/loss_epoch', float('nan')):.4g}   "
            f"val loss {m.get('val/loss', float('nan')):.4g}   "
            f"val recon {m.get('val/recon', float('nan')):.4g}",
            f"  checkpoint       {self.train.checkpoint}",
            f"  config           {self.run_dir / 'config.json'}",
        ]
        if self.reconstruction_png:
            lines.append(f"  reconstructions  {self.reconstruction_png}")
        if self.train.log_dir:
            lines.append(f"  logs             {self.train.log_dir}")
            lines.append(f"  view them with:  tensorboard --logdir {self.train.log_dir}")
        return "\n".join(lines)


def make_datamodule(run: TrainConfig, data: ArrayDataset | None = None):
    """The data module a run asks for (MNIST-family images padded to 32x32).

    ``data``, when given, is ``run.dataset`` already loaded (for instance by an
    earlier data module's :meth:`~autoencoders.data.ArrayDataModule.array_dataset`),
    so jobs that train many models on one data set read its files once.
    """
    from autoencoders.data import ArrayDataModule

    pad_to = 32 if run.dataset in PAD_TO_32 else None
    return ArrayDataModule(
        data if data is not None else run.dataset,
        data_dir=run.data_dir,
        batch_size=run.batch_size,
        train_size=run.train_size,
        exclude_class=run.exclude_class,
        only_class=run.only_class,
        pad_to=pad_to,
        seed=run.seed,
    )


def train_run(
    run: TrainConfig,
    model_cfg: ModelConfig,
    run_dir: str | Path | None = None,
    *,
    tensorboard: bool = True,
    progress_bar: bool = True,
    data: ArrayDataset | None = None,
    validate: bool = True,
) -> RunResult:
    """Trains one model as the configs say and writes its files.

    Files in ``run_dir`` (default ``<output>/<dataset name>/<model>``):
    ``checkpoints/last.ckpt``, ``config.json``, ``reconstructions.png`` and
    TensorBoard logs under ``tensorboard/``. ``data`` is ``run.dataset``
    already loaded (see :func:`make_datamodule`). ``validate=False`` skips the
    per-epoch validation loop, for helper models whose validation loss nobody reads.
    """
    from autoencoders.models import build_model

    L.seed_everything(run.seed, workers=True, verbose=False)
    set_threads(run.threads)
    datamodule = make_datamodule(run, data)
    datamodule.setup("fit")
    model_cfg = dataclasses.replace(model_cfg, input_shape=tuple(datamodule.sample_shape))
    model = build_model(model_cfg)
    model.steps_per_call = run.steps_per_call
    if run.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    directory = (
        Path(run_dir) if run_dir else Path(run.output) / _slug(datamodule.name) / model_cfg.model
    )
    result = fit(
        model,
        datamodule,
        run.epochs,
        output_dir=directory,
        logger=None if tensorboard else False,
        accelerator=run.accelerator,
        precision=run.precision,
        progress_bar=progress_bar,
        **({} if validate else {"limit_val_batches": 0}),
    )
    png = None
    if len(model_cfg.input_shape) == 3:
        png = save_reconstructions(
            model, datamodule, result.checkpoint.parent / "reconstructions.png"
        )
    return RunResult(directory, result, png, model)


@torch.no_grad()
def save_reconstructions(model: AutoEncoder, datamodule, path: Path, n: int = 16) -> Path:
    """Writes a PNG of ``n`` validation images above their reconstructions."""
    model.eval()
    x, _ = next(iter(datamodule.val_dataloader()))
    x = x[:n].to(model.device)
    return save_grid_png(image_rows([x, model(x)]), path)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name) or "data"
