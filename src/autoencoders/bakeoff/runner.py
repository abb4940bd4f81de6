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
(:func:`~autoencoders.assess.metrics_for_samples`). Unlabelled data gets the
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

from autoencoders import evaluation as ev
from autoencoders.assess import (
    EvalData,
    ModelCodec,
    PCACodec,
    evaluate_codec,
    interpolate_codes,
    metrics_for_samples,
)
from autoencoders.bakeoff.config import PCA, STAGES, BakeoffConfig
from autoencoders.bakeoff.progress import Progress
from autoencoders.bakeoff.report import write_report
from autoencoders.config import TrainConfig
from autoencoders.errors import NonFiniteLoss, TrainingStopped
from autoencoders.evaluation.anomaly import anomaly_scores
from autoencoders.files import write_json

log = logging.getLogger("autoencoders.bakeoff")

#: settings the bake-off hands on unchanged to every model's training run
RUN_FIELDS = ("dataset", "data_dir", "epochs", "max_epochs", "patience", "min_steps",
              "max_steps", "batch_size")  # fmt: skip
#: train the anomaly protocols' models (one per class, the held-out one) batched, not via Lightning
BATCH_ANOMALY_MODELS = True
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
            from autoencoders.runs import make_datamodule

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
    def stages_for(self, name: str) -> list[str]:
        stages = list(STAGES)
        if not self.cfg.one_class:
            stages.remove("one-class")
        if name == PCA:
            stages.remove("train")
        if not self.labelled:  # skipped, not failed: the report's note says why
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
                                    "dataset": c.dataset, "data_dir": c.data_dir,
                                    "max_eval_train": c.max_eval_train}  # fmt: skip
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
        failed: set[tuple[str, int]] = set()
        for name, seed, stage in todo:
            if (name, seed) in failed:
                progress.skip()
                continue
            path = self.stage_path(name, seed, stage)
            progress.begin(self._label(name, seed), stage)
            start = time.perf_counter()
            try:
                result = {"status": "ok", **self._stage(name, seed, stage)}
            except TrainingStopped as err:
                if not isinstance(err, NonFiniteLoss):
                    # Ctrl-C or SIGTERM stops the bake-off, not just this model: the
                    # stage stays unwritten and a rerun resumes it from its checkpoint
                    where = str(err).split("; to continue:")[0]
                    raise TrainingStopped(
                        f"{where}; run the same bakeoff command again to go on from there",
                        err.exit_code,
                    ) from None
                result = self._failure(name, seed, stage, err)
                failed.add((name, seed))
            except Exception as err:  # one broken model must not stop the others
                result = self._failure(name, seed, stage, err)
                failed.add((name, seed))
            result["seconds"] = time.perf_counter() - start
            result["settings"] = self.stage_settings(name, seed, stage)
            write_json(path, result)  # atomic: an older result stays whole until replaced
            progress.finish(result["seconds"])
        results = self.collect()
        write_report(self.cfg, results, self.out)
        return results

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
            "held-out": self._held_out,
            "one-class": self._one_class,
        }
        if name != PCA:
            for run_dir in self._run_dirs(name, seed, stage):
                self._claim(run_dir, self.stage_settings(name, seed, stage))
        return handlers[stage](name, seed)

    def _run_dirs(self, name: str, seed: int, stage: str) -> list[Path]:
        """The folders ``stage`` trains its models in."""
        if stage == "train":
            return [self.model_dir(name, seed)]
        if BATCH_ANOMALY_MODELS:  # the anomaly models train in memory, without a folder
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

    def _train(
        self, name: str, seed: int, run_dir: Path, latent_dim: int, **run_changes: Any
    ) -> tuple[Any, Any]:
        from autoencoders.runs import train_run

        model_cfg = self._model_config(name, latent_dim)
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

    def _model_config(self, name: str, latent_dim: int) -> Any:
        from autoencoders.models import make_config

        options = {"latent_dim": latent_dim, "lr": self.cfg.lr,
                   **self.cfg.model_options.get(name, {})}  # fmt: skip
        return make_config(name, **options)

    def _train_main(self, name: str, seed: int) -> dict[str, Any]:
        _, train = self._train(name, seed, self.model_dir(name, seed), self.cfg.latent_dim)
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
            metrics["figures"] = self._figures(name, codec, seed)
            explorer = self._explorer(name, codec, seed)
            if explorer is not None:
                metrics["explorer"] = explorer
        return metrics

    def _explorer(self, name: str, codec: Any, seed: int) -> str | None:
        """The model's latent-space explorer page (image models only), relative to the report."""
        if name == PCA or self.data.x_test.ndim != 4:
            return None
        from autoencoders.errors import UserError
        from autoencoders.explore import write_explorer

        path = self.out / "figures" / name / "explore.html"
        try:
            write_explorer(codec.model, self.data.x_test, self.data.y_test, path, seed=seed,
                           overwrite=True)  # fmt: skip
        except UserError as err:  # a model the explorer cannot show; the report goes on
            log.info("no explorer page for %s: %s", name, err)
            return None
        return str(path.relative_to(self.out))

    def _figures(self, name: str, codec: Any, seed: int) -> dict[str, str]:
        data, figs = self.data, {}
        fig_dir = self.out / "figures" / name
        is_image = data.x_test.ndim == 4
        if is_image:
            figs["reconstructions"] = self._save(
                ev.reconstruction_figure(
                    data.x_test, codec.reconstruct(data.x_test[:16]), n=8, title=name
                ),
                fig_dir / "reconstructions.png",
            )
        else:  # rows of numbers: their features and each sample's error, not pictures
            figs["reconstructions"] = self._save(
                sample_reconstruction_figure(
                    data.x_test, codec.reconstruct(data.x_test), n=8, title=name
                ),
                fig_dir / "reconstructions.png",
            )
        z_test = codec.encode(data.x_test)
        figs["latent_map"] = self._save(
            ev.embedding_figure(
                z_test, data.y_test, max_samples=self.cfg.embed_samples, random_state=seed
            ),
            fig_dir / "latent_map.png",
        )
        if not is_image:
            return figs
        samples = self._samples(name, codec, seed)
        if samples is not None:
            figs["samples"] = self._save(
                ev.image_grid(samples, nrow=8, title=f"{name}: samples"), fig_dir / "samples.png"
            )
        a, b = self._pair()
        strip = interpolate_codes(codec, data.x_test[a], data.x_test[b], steps=10)
        figs["interpolation"] = self._save(
            ev.interpolation_strip(strip, title=f"{name}: interpolation"),
            fig_dir / "interpolation.png",
        )
        ev.save_gif(strip[:, 0], fig_dir / "interpolation.gif")
        return figs

    def _samples(self, name: str, codec: Any, seed: int) -> np.ndarray | None:
        if name == PCA:
            return codec.sample(32, codec.encode(self.data.x_train[:2000]), seed=seed)
        import torch

        try:
            return (
                codec.model.sample(32, generator=torch.Generator().manual_seed(seed)).cpu().numpy()
            )
        except RuntimeError as err:
            log.info("no samples from %s: %s", name, err)
            return None

    def _pair(self) -> tuple[int, int]:
        """Two test images of different classes, the same for every model."""
        from autoencoders.generation import interpolation_pair

        return interpolation_pair(self.data.y_test)

    def _save(self, fig: Any, path: Path) -> str:
        ev.save_figure(fig, path)
        return str(path.relative_to(self.out))

    # ---------------------------------------------------------- anomaly
    def _anomaly_run(self, run_changes: dict[str, Any]) -> dict[str, Any]:
        """The run settings of an anomaly model: its data restriction, and its epochs."""
        if self.cfg.anomaly_epochs is not None:
            return {**run_changes, "epochs": self.cfg.anomaly_epochs}
        return run_changes

    def _held_out(self, name: str, seed: int) -> dict[str, Any]:
        c = self.cfg
        x_fit = self.data.x_train[self.data.y_train != c.anomaly_class]
        epochs = 0
        if name == PCA:
            codec: Any = PCACodec(c.anomaly_latent_dim, seed).fit(x_fit)
        else:
            [(model, epochs)] = self._train_anomaly_models(
                name, seed, c.anomaly_latent_dim, [{"exclude_class": c.anomaly_class}],
                [self.model_dir(name, seed, "held-out")],
            )  # fmt: skip
            codec = ModelCodec(model)
        # summed BCE: the published protocol's score
        scores = anomaly_scores("recon-bce", codec, x_fit, self.data.x_test)
        is_anomaly = self.data.y_test == c.anomaly_class
        fpr, tpr, auc = ev.roc_curve_points(scores, is_anomaly)
        return {"auc": float(auc), "anomaly_class": c.anomaly_class, "epochs": epochs,
                "fpr": _thin(fpr), "tpr": _thin(tpr)}  # fmt: skip

    def _train_one_class_models(
        self, name: str, seed: int, classes: list[int]
    ) -> list[tuple[Any, int]]:
        """One model of ``name`` per class, trained on that class alone: ``(model, epochs)`` each.

        The one place the one-class protocol trains: all its models in one
        batched computation (see :meth:`_train_anomaly_models`).
        """
        return self._train_anomaly_models(
            name, seed, self.cfg.latent_dim, [{"only_class": c} for c in classes],
            [self.model_dir(name, seed, f"one-class-{c}") for c in classes],
        )  # fmt: skip

    def _train_anomaly_models(
        self,
        name: str,
        seed: int,
        latent_dim: int,
        restrictions: list[dict[str, Any]],
        run_dirs: list[Path],
    ) -> list[tuple[Any, int]]:
        """Anomaly models of ``name``, one per data restriction: ``(model, epochs)`` each.

        By default they train as one batched computation
        (:func:`autoencoders.batched.fit_many`: per model the same data, batch
        order, initialisation and stopping rule as ``train_run``, the same
        arithmetic up to float rounding), without Lightning: a one-class digits
        model's epoch is 2-3 steps, so one at a time each spends most of its time
        in Lightning's per-epoch overhead. ``BATCH_ANOMALY_MODELS = False`` trains
        them one by one through ``train_run``, each resumable in its ``run_dirs``.
        """
        changes = [self._anomaly_run(r) for r in restrictions]
        if not BATCH_ANOMALY_MODELS:
            trained = []
            for change, run_dir in zip(changes, run_dirs, strict=True):
                model, train = self._train(name, seed, run_dir, latent_dim, **change)
                trained.append((model, train.epochs))
            return trained
        from autoencoders.batched import fit_many
        from autoencoders.runs import make_datamodule, stop_rule

        runs = [self.run_config(seed, **change) for change in changes]
        # each model's data module exactly as train_run would build it: split, order, batches
        modules = [make_datamodule(run, self.datamodule.array_dataset(), name) for run in runs]
        for module in modules:
            module.setup("fit")
        model_cfg = dataclasses.replace(
            self._model_config(name, latent_dim), input_shape=tuple(modules[0].sample_shape)
        )
        fits = fit_many(
            model_cfg, modules, [run.seed for run in runs], stop_rule(runs[0]),
            steps_per_call=runs[0].steps_per_call,
            validate=False,  # as train_run(validate=False): a fixed-length run skips validation
        )  # fmt: skip
        return [(fit.model, fit.epochs) for fit in fits]

    def _one_class(self, name: str, seed: int) -> dict[str, Any]:
        data, classes = self.data, self.classes
        if name == PCA:
            codecs: list[Any] = [
                PCACodec(self.cfg.latent_dim, seed).fit(data.x_train[data.y_train == cls])
                for cls in classes
            ]
            trained_epochs = [0] * len(classes)
        else:
            trained = self._train_one_class_models(name, seed, classes)
            codecs = [ModelCodec(model) for model, _ in trained]
            trained_epochs = [epochs for _, epochs in trained]
        score = self.cfg.one_class_score
        if score == "feature" and name == PCA:
            score = "recon-sse"  # PCA has no hidden layers; its nearest score
        scores, epochs = {}, {}
        for cls, codec, n_epochs in zip(classes, codecs, trained_epochs, strict=True):
            x_fit = data.x_train[data.y_train == cls]
            held = data.x_val[data.y_val == cls] if data.x_val is not None else None
            # Squared error by default, not BCE: BCE grows with an image's ink, so bright
            # normal images would look anomalous (PCA-20 scores 0.70 by BCE, 0.90 by SSE).
            scores[cls] = anomaly_scores(
                score, codec, x_fit, data.x_test,
                x_holdout=held if held is not None and len(held) else None,
            )  # fmt: skip
            epochs[str(cls)] = n_epochs
        result = ev.one_class_auc(scores, data.y_test)
        fpr, tpr, _ = ev.roc_curve_points(
            np.concatenate([scores[c] for c in classes]),
            np.concatenate([data.y_test != c for c in classes]),
        )
        return {"mean_auc": float(result["mean"]), "per_class": {str(k): float(v) for k, v in result["per_class"].items()},
                "epochs": epochs, "fpr": _thin(fpr), "tpr": _thin(tpr)}  # fmt: skip

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


def sample_reconstruction_figure(
    x: np.ndarray, x_hat: np.ndarray, n: int = 8, title: str | None = None
) -> Any:
    """Reconstructions of samples that are not images (table rows, feature vectors).

    Top: the first ``n`` samples' features, input beside reconstruction, as two
    heat maps on the one [0, 1] colour scale. Bottom: every sample's summed
    squared error, the number the table averages.
    """
    from matplotlib.figure import Figure

    x, x_hat = np.asarray(x).reshape(len(x), -1), np.asarray(x_hat).reshape(len(x_hat), -1)
    n = min(n, len(x))
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1))
    for col, (values, label) in enumerate(((x[:n], "input"), (x_hat[:n], "reconstruction"))):
        ax = fig.add_subplot(grid[0, col])
        image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                          interpolation="nearest")  # fmt: skip
        ax.set(title=f"{label}, first {n} samples", xlabel="feature", ylabel="sample")
    fig.colorbar(image, ax=fig.axes, shrink=0.8)
    ax = fig.add_subplot(grid[1, :])
    errors = ev.per_sample_errors(x, x_hat, kind="sse")
    ax.hist(errors, bins=min(40, max(5, len(errors) // 5)), color="tab:blue")
    ax.axvline(float(errors.mean()), color="black", linestyle="--", label="mean")
    ax.set(title=f"squared error per sample ({len(errors)} test samples)",
           xlabel="summed squared error", ylabel="samples")  # fmt: skip
    ax.legend()
    if title:
        fig.suptitle(f"{title}: reconstructions per sample")
    return fig


def _thin(values: np.ndarray, most: int = 200) -> list[float]:
    """At most ``most`` points of a curve, enough to draw it."""
    idx = np.unique(np.linspace(0, len(values) - 1, min(most, len(values))).round().astype(int))
    return [float(v) for v in np.asarray(values)[idx]]
