"""Runs the bake-off's stages for every model and seed, each saved when it finishes.

Protocol (after the public ae_bakeoff project; see the project's PROTOCOL notes):
each model is trained with the same latent size, optimizer and batch size, until
its validation loss stops improving (or for a fixed number of epochs), then
scored on the test set by reconstruction (summed BCE and SSE per image, PSNR,
SSIM), a linear probe on the codes of ``n_labels`` training images, clustering
of the test codes (k-means, and UMAP + HDBSCAN with its cluster size chosen on
the validation codes: NMI, ARI, clusters found, noise), denoising, and two
anomaly-detection protocols:

* held-out class: retrain with one class removed and a 2-unit code, score each
  test image by its summed BCE, ROC AUC with the held-out class as anomaly;
* one-class: train on one class only, score every test image by its summed
  squared error, ROC AUC with the nine other classes as anomalies, averaged
  over all classes.

Data other than images (tables) is scored per sample, without PSNR and SSIM
(:func:`~autoencoders.evaluation.suite.metrics_for_samples`). Unlabelled data gets the
label-free scores only: the probe and clustering are left out, and the two
anomaly stages, which need classes, are skipped (the report's note says so).

Every stage of every model and seed saves its result as JSON when it finishes,
with the settings it ran under (:meth:`Bakeoff.stage_settings`), so an
interrupted bake-off resumes where it stopped; a stage is reused only under
exactly the same settings, else it runs again and its result is replaced (a
rerun with other options never reports the old numbers). A model that fails is
reported as failed and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autoencoders.bakeoff import anomaly_stages
from autoencoders.bakeoff.anomaly_stages import held_out, one_class
from autoencoders.bakeoff.config import PCA, STAGES, BakeoffConfig
from autoencoders.bakeoff.figures import explorer_page, model_figures
from autoencoders.bakeoff.parallel import GO_ON, Workers
from autoencoders.bakeoff.progress import Progress
from autoencoders.bakeoff.report import write_report
from autoencoders.codecs import ModelCodec, PCACodec
from autoencoders.errors import NonFiniteLoss, TrainingStopped
from autoencoders.evaluation.suite import EvalData, evaluate_codec, metrics_for_samples
from autoencoders.files import write_json
from autoencoders.run_config import TrainConfig

log = logging.getLogger("autoencoders.bakeoff")

#: settings the bake-off hands on unchanged to every model's training run
RUN_FIELDS = ("dataset", "data_dir", "image_size", "channels_mode", "patch_size", "epochs",
              "max_epochs", "patience", "min_steps", "max_steps", "batch_size")  # fmt: skip
#: the settings that decide what data every model, PCA too, sees
DATA_FIELDS = ("dataset", "data_dir", "image_size", "channels_mode", "patch_size")
#: the file in a stage's model folder naming the settings its (maybe unfinished) run has
RUN_SETTINGS = "bakeoff-settings.json"
#: the stages that need classes: skipped on unlabelled data
LABEL_STAGES = ("held-out", "one-class")


class Bakeoff:
    """Runs (or resumes) a bake-off and writes ``report.md``, ``report.html`` and ``results.json``.

    Every model runs once per seed of ``cfg.seed_list``; a stage's result lives in
    ``stages/<model>/seed-<seed>/<stage>.json`` and its model in
    ``models/<model>/seed-<seed>/``. Figures come from the first seed.
    """

    def __init__(self, cfg: BakeoffConfig) -> None:
        from autoencoders.options import check_fields
        from autoencoders.registry import variant

        check_fields(cfg)  # ranges and choices of every option, before any work
        for name in cfg.models:
            if name != PCA:
                variant(name)  # an unknown name: the registry's one-line refusal
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.names = [PCA, *[m for m in cfg.models if m != PCA]]
        self.seeds = cfg.seed_list
        self._data: EvalData | None = None
        self._datamodule: Any = None
        self._classes: list[int] | None = None

    # ------------------------------------------------------------- data
    def run_config(self, seed: int | None = None, **changes: Any) -> TrainConfig:
        """The training settings of one model of this bake-off (seed: the first one)."""
        shared = {k: getattr(self.cfg, k) for k in RUN_FIELDS}
        base = TrainConfig(**shared, seed=self.cfg.seed if seed is None else seed)
        return dataclasses.replace(base, **changes)

    @property
    def datamodule(self) -> Any:
        if self._datamodule is None:
            from autoencoders.data.run_data import make_datamodule

            self._datamodule = make_datamodule(self.run_config())
            self._datamodule.setup()
        return self._datamodule

    @property
    def data(self) -> EvalData:
        if self._data is None:
            self._data = EvalData.from_datamodule(self.datamodule, self.cfg.max_eval_train)
        return self._data

    @property
    def is_image(self) -> bool:
        """Whether the samples are images (channels, height, width), as ``evaluate`` decides."""
        return len(self.datamodule.sample_shape) == 3

    @property
    def labelled(self) -> bool:
        """Whether the data has two classes or more: the probe, clustering and anomaly stages need them."""
        return self.data.labelled

    @property
    def classes(self) -> list[int]:
        if self._classes is None:
            self._classes = sorted(int(c) for c in np.unique(self.data.y_test) if c >= 0)
        return self._classes

    # ----------------------------------------------------------- stages
    def stages_for(self, name: str, labelled: bool | None = None) -> list[str]:
        """The stages of ``name``; ``labelled`` (default: read from the data) keeps those needing classes."""
        stages = list(STAGES)
        if not self.cfg.one_class:
            stages.remove("one-class")
        if name == PCA:
            stages.remove("train")
        if not (self.labelled if labelled is None else labelled):  # skipped, not failed
            stages = [s for s in stages if s not in LABEL_STAGES]
        return stages

    def stage_path(self, name: str, seed: int, stage: str) -> Path:
        return self.out / "stages" / name / f"seed-{seed}" / f"{stage}.json"

    def stage_settings(self, name: str, seed: int, stage: str) -> dict[str, Any]:
        """Every setting that ``stage`` of ``name`` and ``seed`` depends on, as JSON values.

        A stage's stored result is reused only if these are exactly the run's. A
        stage's settings include those of what it builds on (``evaluate``: the
        trained model's), so a retrained model is scored again too.
        """
        c = self.cfg
        settings: dict[str, Any] = {"model": name, "seed": seed, "stage": stage,
                                    "max_eval_train": c.max_eval_train}  # fmt: skip
        settings |= {k: getattr(c, k) for k in DATA_FIELDS}
        if name != PCA:  # PCA has no training options
            settings |= {k: getattr(c, k) for k in RUN_FIELDS}
            settings |= {"lr": c.lr, "model_options": c.model_options.get(name, {})}
            if stage in ("held-out", "one-class") and c.anomaly_epochs is not None:
                settings["epochs"] = c.anomaly_epochs  # what its models train for
        if stage in ("train", "evaluate", "one-class"):
            settings["latent_dim"] = c.latent_dim
        if stage == "evaluate":
            settings |= {"n_labels": c.n_labels, "embed_samples": c.embed_samples,
                         "figures": seed == self.seeds[0]}  # fmt: skip
        elif stage == "held-out":
            settings |= {"anomaly_class": c.anomaly_class,
                         "anomaly_latent_dim": c.anomaly_latent_dim}  # fmt: skip
        elif stage == "one-class":
            settings["one_class_score"] = c.one_class_score
        return json.loads(json.dumps(settings))  # tuples as lists: as read back from disk

    def _stored(self, name: str, seed: int, stage: str) -> dict[str, Any] | None:
        """The stage's result on disk, if it ran under this bake-off's settings."""
        path = self.stage_path(name, seed, stage)
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):  # absent, or cut short by hand
            return None
        return result if result.get("settings") == self.stage_settings(name, seed, stage) else None

    def run(self) -> dict[str, Any]:
        """Runs every missing or outdated stage, then writes the report. Returns all results."""
        workers = self._early_workers()
        try:
            todo = [
                (name, seed, stage)
                for seed in self.seeds
                for name in self.names
                for stage in self.stages_for(name)
                if not self._finished(name, seed, stage)
            ]
            if not self.labelled:
                log.info("%s has no labels: the %s stages are skipped", self.cfg.dataset,
                         " and ".join(LABEL_STAGES))  # fmt: skip
            progress = Progress(len(todo))
            if workers is not None and todo:
                workers.run(self, todo, progress)
            else:
                self._run_here(todo, progress)
        finally:
            if workers is not None:
                workers.close()
        results = self.collect()
        write_report(self.cfg, results, self.out)
        return results

    def _early_workers(self) -> Workers | None:
        """With ``--workers N``, N processes, started before the data is read.

        Only when several models have stages left; counted without the data, as
        if it were labelled (a rerun with everything done starts none).
        """
        if self.cfg.workers <= 1:
            return None
        models = {(name, seed) for seed in self.seeds for name in self.names
                  for stage in self.stages_for(name, labelled=True)
                  if not self._finished(name, seed, stage)}  # fmt: skip
        return Workers(min(self.cfg.workers, len(models))) if len(models) > 1 else None

    def _run_here(self, todo: list[tuple[str, int, str]], progress: Progress) -> None:
        """Runs the stages ``todo`` one after another in this process."""
        failed: set[tuple[str, int]] = set()
        for name, seed, stage in todo:
            if (name, seed) in failed:
                progress.skip()
                continue
            progress.begin(self._label(name, seed), stage)
            result = self.run_stage(name, seed, stage)
            if result["status"] != "ok":
                failed.add((name, seed))
            progress.finish(result["seconds"])

    def run_stage(self, name: str, seed: int, stage: str) -> dict[str, Any]:
        """Runs one stage and saves its result (with its settings) as JSON; returns it.

        A model's failure is a result (status "failed"), so the others go on; a
        signal stops the whole bake-off (:class:`TrainingStopped`).
        """
        start = time.perf_counter()
        try:
            result = {"status": "ok", **self._stage(name, seed, stage)}
        except TrainingStopped as err:
            if not isinstance(err, NonFiniteLoss):
                # Ctrl-C or SIGTERM stops the bake-off, not just this model: the
                # stage stays unwritten and a rerun resumes it from its checkpoint
                where = str(err).split("; to continue:")[0]
                raise TrainingStopped(
                    f"{where}; {GO_ON}",
                    err.exit_code,
                ) from None
            result = self._failure(name, seed, stage, err)
        except Exception as err:  # one broken model must not stop the others
            result = self._failure(name, seed, stage, err)
        result["seconds"] = time.perf_counter() - start
        result["settings"] = self.stage_settings(name, seed, stage)
        write_json(self.stage_path(name, seed, stage), result)  # atomic: an older one stays whole
        return result

    def label(self, name: str, seed: int) -> str:
        """How the progress lines name a model: with its seed where there are several."""
        return self._label(name, seed)

    def _failure(self, name: str, seed: int, stage: str, err: Exception) -> dict[str, Any]:
        log.error("%s failed in stage %s: %s", self._label(name, seed), stage, err)
        return {"status": "failed", "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()}  # fmt: skip

    def _label(self, name: str, seed: int) -> str:
        return f"{name} seed {seed}" if len(self.seeds) > 1 else name

    def _finished(self, name: str, seed: int, stage: str) -> bool:
        stored = self._stored(name, seed, stage)
        return stored is not None and stored.get("status") == "ok"

    def _stage(self, name: str, seed: int, stage: str) -> dict[str, Any]:
        handlers: dict[str, Callable[[str, int], dict[str, Any]]] = {
            "train": self._train_main,
            "evaluate": self._evaluate,
            "held-out": lambda name, seed: held_out(self, name, seed),
            "one-class": lambda name, seed: one_class(self, name, seed),
        }
        if name != PCA:
            for run_dir in self._run_dirs(name, seed, stage):
                self._claim(run_dir, self.stage_settings(name, seed, stage))
        return handlers[stage](name, seed)

    def _run_dirs(self, name: str, seed: int, stage: str) -> list[Path]:
        """The folders ``stage`` trains its models in."""
        if stage == "train":
            return [self.model_dir(name, seed)]
        if (
            anomaly_stages.BATCH_ANOMALY_MODELS
        ):  # the anomaly models train in memory, without a folder
            return []
        if stage == "held-out":
            return [self.model_dir(name, seed, "held-out")]
        if stage == "one-class":
            return [self.model_dir(name, seed, f"one-class-{cls}") for cls in self.classes]
        return []

    @staticmethod
    def _claim(run_dir: Path, settings: dict[str, Any]) -> None:
        """Keeps a run left in ``run_dir`` (to resume) only if it had these settings.

        ``train_run`` resumes any checkpoint of the same model config, but one
        trained for other epochs, data or seed is not this stage's: its checkpoints
        go, so that ``train_run`` replaces the run instead.
        """
        marker = run_dir / RUN_SETTINGS
        try:
            same = json.loads(marker.read_text()) == settings
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            write_json(marker, settings)

    def train(
        self, name: str, seed: int, run_dir: Path, latent_dim: int, **run_changes: Any
    ) -> tuple[Any, Any]:
        from autoencoders.training.job import train_run

        model_cfg = self.model_config(name, latent_dim)
        # Only the main model keeps TensorBoard logs; the many small anomaly models do not.
        result = train_run(
            self.run_config(seed, **run_changes),
            model_cfg,
            run_dir=run_dir,
            tensorboard=not run_changes,
            validate=not run_changes,  # fixed-length anomaly models skip validation
            progress_bar=self.cfg.verbose,
            data=self.datamodule.array_dataset(),  # read the files once, not once per model
            resume_existing=True,  # a stage cut short goes on from its last epoch
        )
        return result.model, result.train

    def model_config(self, name: str, latent_dim: int) -> Any:
        from autoencoders.models import make_config

        options = {"latent_dim": latent_dim, "lr": self.cfg.lr,
                   **self.cfg.model_options.get(name, {})}  # fmt: skip
        return make_config(name, **options)

    def _train_main(self, name: str, seed: int) -> dict[str, Any]:
        _, train = self.train(name, seed, self.model_dir(name, seed), self.cfg.latent_dim)
        return {
            "train_seconds": train.wall_time_s,
            "checkpoint": str(train.checkpoint),
            "epochs": train.epochs,
            "best_epoch": train.best_epoch,
            "stop_reason": train.stop_reason,
        }

    def model_dir(self, name: str, seed: int, *parts: str) -> Path:
        return self.out.joinpath("models", name, f"seed-{seed}", *parts)

    def checkpoint(self, name: str, seed: int) -> Path:
        path = self.stage_path(name, seed, "train")
        return Path(json.loads(path.read_text())["checkpoint"])

    def codec(self, name: str, seed: int) -> Any:
        if name == PCA:
            return PCACodec(self.cfg.latent_dim, seed).fit(self.data.x_train)
        from autoencoders.checkpoint import load

        return ModelCodec(load(self.checkpoint(name, seed)))

    def _evaluate(self, name: str, seed: int) -> dict[str, Any]:
        data = self.data
        start = time.perf_counter()
        codec = self.codec(name, seed)
        fit_seconds = time.perf_counter() - start  # PCA's training: its fit
        metrics = metrics_for_samples(
            evaluate_codec(codec, data, n_labels=self.cfg.n_labels, seed=seed), self.is_image
        )
        if name == PCA:
            metrics["train_seconds"] = fit_seconds
        if seed == self.seeds[0]:
            metrics["figures"] = model_figures(self, name, codec, seed)
            explorer = explorer_page(self, name, codec, seed)
            if explorer is not None:
                metrics["explorer"] = explorer
        return metrics

    # ---------------------------------------------------------- results
    def collect(self) -> dict[str, Any]:
        """Every stage result on disk of this bake-off's settings, as ``results["models"][model][seed][stage]``."""
        results: dict[str, Any] = {
            "config": dataclasses.asdict(self.cfg),
            # what the report's columns depend on: image or per-sample metrics, labels or not
            "data": {"image": self.is_image, "labelled": self.labelled},
            "models": {},
        }
        for name in self.names:
            # a result of other settings is not this bake-off's: missing, never shown
            results["models"][name] = {
                str(seed): {
                    stage: self._stored(name, seed, stage) or {"status": "missing"}
                    for stage in self.stages_for(name)
                }
                for seed in self.seeds
            }
        write_json(self.out / "results.json", results)
        return results
