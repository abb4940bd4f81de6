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

Every stage of every model and seed saves its result as JSON when it finishes,
so an interrupted bake-off resumes where it stopped; a model that fails is
reported as failed and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
)
from autoencoders.bakeoff.config import PCA, STAGES, BakeoffConfig
from autoencoders.bakeoff.progress import Progress
from autoencoders.bakeoff.report import write_report
from autoencoders.config import TrainConfig
from autoencoders.evaluation.anomaly import anomaly_scores
from autoencoders.files import write_json

log = logging.getLogger("autoencoders.bakeoff")

#: settings the bake-off hands on unchanged to every model's training run
RUN_FIELDS = ("dataset", "data_dir", "epochs", "max_epochs", "patience", "min_steps",
              "max_steps", "batch_size")  # fmt: skip


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
        return stages

    def stage_path(self, name: str, seed: int, stage: str) -> Path:
        return self.out / "stages" / name / f"seed-{seed}" / f"{stage}.json"

    def run(self) -> dict[str, Any]:
        """Runs every missing stage, then writes the report. Returns all results."""
        todo = [
            (name, seed, stage)
            for seed in self.seeds
            for name in self.names
            for stage in self.stages_for(name)
            if not self._finished(name, seed, stage)
        ]
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
            except Exception as err:  # one broken model must not stop the others
                log.error("%s failed in stage %s: %s", self._label(name, seed), stage, err)
                result = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                          "traceback": traceback.format_exc()}  # fmt: skip
                failed.add((name, seed))
            result["seconds"] = time.perf_counter() - start
            write_json(path, result)
            progress.finish(result["seconds"])
        results = self.collect()
        write_report(self.cfg, results, self.out)
        return results

    def _label(self, name: str, seed: int) -> str:
        return f"{name} seed {seed}" if len(self.seeds) > 1 else name

    def _finished(self, name: str, seed: int, stage: str) -> bool:
        path = self.stage_path(name, seed, stage)
        return path.is_file() and json.loads(path.read_text()).get("status") == "ok"

    def _stage(self, name: str, seed: int, stage: str) -> dict[str, Any]:
        handlers: dict[str, Callable[[str, int], dict[str, Any]]] = {
            "train": self._train_main,
            "evaluate": self._evaluate,
            "held-out": self._held_out,
            "one-class": self._one_class,
        }
        return handlers[stage](name, seed)

    def _train(
        self, name: str, seed: int, run_dir: Path, latent_dim: int, **run_changes: Any
    ) -> tuple[Any, Any]:
        from autoencoders.models import make_config
        from autoencoders.runs import train_run

        options = {
            "latent_dim": latent_dim,
            "lr": self.cfg.lr,
            **self.cfg.model_options.get(name, {}),
        }
        model_cfg = make_config(name, **options)
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
        metrics = evaluate_codec(codec, data, n_labels=self.cfg.n_labels, seed=seed)
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
    def _scores(
        self,
        name: str,
        seed: int,
        latent_dim: int,
        run_dir: Path,
        x_fit: np.ndarray,
        x_holdout: np.ndarray | None,
        score: str,
        **run_changes: Any,
    ) -> tuple[np.ndarray, int]:
        """Anomaly scores (a registered ``score``) of every test image, and epochs trained."""
        epochs = 0
        if name == PCA:
            codec: Any = PCACodec(latent_dim, seed).fit(x_fit)
        else:
            if self.cfg.anomaly_epochs is not None:
                run_changes["epochs"] = self.cfg.anomaly_epochs
            model, train = self._train(name, seed, run_dir, latent_dim, **run_changes)
            codec, epochs = ModelCodec(model), train.epochs
        if score == "feature" and name == PCA:
            score = "recon-sse"  # PCA has no hidden layers; its nearest score
        x_test = self.data.x_test
        return anomaly_scores(score, codec, x_fit, x_test, x_holdout=x_holdout), epochs

    def _held_out(self, name: str, seed: int) -> dict[str, Any]:
        c = self.cfg
        x_fit = self.data.x_train[self.data.y_train != c.anomaly_class]
        scores, epochs = self._scores(
            name,
            seed,
            c.anomaly_latent_dim,
            self.model_dir(name, seed, "held-out"),
            x_fit,
            None,
            "recon-bce",  # the published protocol's score
            exclude_class=c.anomaly_class,
        )
        is_anomaly = self.data.y_test == c.anomaly_class
        fpr, tpr, auc = ev.roc_curve_points(scores, is_anomaly)
        return {"auc": float(auc), "anomaly_class": c.anomaly_class, "epochs": epochs,
                "fpr": _thin(fpr), "tpr": _thin(tpr)}  # fmt: skip

    def _one_class(self, name: str, seed: int) -> dict[str, Any]:
        scores, epochs = {}, {}
        data = self.data
        for cls in self.classes:
            x_fit = data.x_train[data.y_train == cls]
            held = data.x_val[data.y_val == cls] if data.x_val is not None else None
            # Squared error by default, not BCE: BCE grows with an image's ink, so bright
            # normal images would look anomalous (PCA-20 scores 0.70 by BCE, 0.90 by SSE).
            scores[cls], epochs[str(cls)] = self._scores(
                name,
                seed,
                self.cfg.latent_dim,
                self.model_dir(name, seed, f"one-class-{cls}"),
                x_fit,
                held if held is not None and len(held) else None,
                self.cfg.one_class_score,
                only_class=cls,
            )
        result = ev.one_class_auc(scores, self.data.y_test)
        fpr, tpr, _ = ev.roc_curve_points(
            np.concatenate([scores[c] for c in self.classes]),
            np.concatenate([self.data.y_test != c for c in self.classes]),
        )
        return {"mean_auc": float(result["mean"]), "per_class": {str(k): float(v) for k, v in result["per_class"].items()},
                "epochs": epochs, "fpr": _thin(fpr), "tpr": _thin(tpr)}  # fmt: skip

    # ---------------------------------------------------------- results
    def collect(self) -> dict[str, Any]:
        """Every stage result on disk, as ``results["models"][model][seed][stage]``."""
        results: dict[str, Any] = {"config": dataclasses.asdict(self.cfg), "models": {}}
        for name in self.names:
            results["models"][name] = {
                str(seed): {
                    stage: (
                        json.loads(path.read_text())
                        if (path := self.stage_path(name, seed, stage)).is_file()
                        else {"status": "missing"}
                    )
                    for stage in self.stages_for(name)
                }
                for seed in self.seeds
            }
        write_json(self.out / "results.json", results)
        return results


def _thin(values: np.ndarray, most: int = 200) -> list[float]:
    """At most ``most`` points of a curve, enough to draw it."""
    idx = np.unique(np.linspace(0, len(values) - 1, min(most, len(values))).round().astype(int))
    return [float(v) for v in np.asarray(values)[idx]]
