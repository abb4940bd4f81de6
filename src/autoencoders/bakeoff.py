"""The bake-off: every chosen model beside a PCA baseline, on one data set, in one report.

Protocol (after the public ae_bakeoff project; see the project's PROTOCOL notes):
each model is trained with the same latent size, optimizer, batch size and
epochs, then scored on the test set by reconstruction (summed BCE and SSE per
image, PSNR, SSIM), a linear probe on the codes of ``n_labels`` training
images, clustering of the test codes (k-means, DBSCAN, MeanShift: NMI and ARI),
denoising, and two anomaly-detection protocols:

* held-out class: retrain with one class removed and a 2-unit code, score each
  test image by its summed BCE, ROC AUC with the held-out class as anomaly;
* one-class: train on one class only, score every test image by its summed
  squared error, ROC AUC with the nine other classes as anomalies, averaged
  over all classes.

Every stage of every model saves its result as JSON when it finishes, so an
interrupted bake-off resumes where it stopped; a model that fails is reported
as failed and the others go on.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoencoders import evaluation as ev
from autoencoders.assess import (
    EvalData,
    ModelCodec,
    PCACodec,
    anomaly_scores,
    evaluate_codec,
    interpolate_codes,
)
from autoencoders.config import TrainConfig
from autoencoders.errors import ConfigError
from autoencoders.files import atomic_write, write_json

log = logging.getLogger(__name__)

PCA = "pca"
STAGES = ("train", "evaluate", "held-out", "one-class")


@dataclass
class BakeoffConfig:
    """What to compare, on what, and how long to train."""

    dataset: str = "digits"
    data_dir: str | None = None
    models: tuple[str, ...] = ("simple", "deep", "denoising", "sparse")
    epochs: int = 20
    latent_dim: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 42
    n_labels: int = 550
    anomaly_class: int = 1
    anomaly_latent_dim: int = 2
    anomaly_epochs: int | None = None
    one_class: bool = True
    max_eval_train: int = 10_000
    embed_samples: int = 2000
    out: str = "bakeoff"
    model_options: dict[str, Any] = field(default_factory=dict)


class Progress:
    """Says which model and stage runs, and about how long is left."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.spent, self.start = total, 0, 0.0, time.perf_counter()

    def begin(self, model: str, stage: str) -> None:
        left = ""
        if self.done:
            eta = self.spent / self.done * (self.total - self.done)
            left = f", about {_duration(eta)} left"
        log.info("[%d/%d] %s: %s (elapsed %s%s)", self.done + 1, self.total, model, stage,
                 _duration(time.perf_counter() - self.start), left)  # fmt: skip

    def finish(self, seconds: float) -> None:
        self.done += 1
        self.spent += seconds

    def skip(self) -> None:
        self.total -= 1


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Bakeoff:
    """Runs (or resumes) a bake-off and writes ``report.md``, ``report.html`` and ``results.json``."""

    def __init__(self, cfg: BakeoffConfig) -> None:
        from autoencoders.models import VARIANTS

        unknown = [m for m in cfg.models if m not in VARIANTS and m != PCA]
        if unknown:
            raise ConfigError(
                f"unknown model(s) {unknown}; choose from: {', '.join(VARIANTS)} (or 'all')"
            )
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.names = [PCA, *[m for m in cfg.models if m != PCA]]
        self._data: EvalData | None = None
        self._datamodule: Any = None
        self._classes: list[int] | None = None

    # ------------------------------------------------------------- data
    def run_config(self, **changes: Any) -> TrainConfig:
        c = self.cfg
        base = TrainConfig(
            dataset=c.dataset,
            data_dir=c.data_dir,
            epochs=c.epochs,
            batch_size=c.batch_size,
            seed=c.seed,
        )
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

    def stage_path(self, name: str, stage: str) -> Path:
        return self.out / "stages" / name / f"{stage}.json"

    def run(self) -> dict[str, Any]:
        """Runs every missing stage, then writes the report. Returns all results."""
        todo = [(n, s) for n in self.names for s in self.stages_for(n) if not self._finished(n, s)]
        progress = Progress(len(todo))
        failed: set[str] = set()
        for name, stage in todo:
            if name in failed:
                progress.skip()
                continue
            path = self.stage_path(name, stage)
            progress.begin(name, stage)
            start = time.perf_counter()
            try:
                result = {"status": "ok", **self._stage(name, stage)}
            except Exception as err:  # one broken model must not stop the others
                log.error("%s failed in stage %s: %s", name, stage, err)
                result = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                          "traceback": traceback.format_exc()}  # fmt: skip
                failed.add(name)
            result["seconds"] = time.perf_counter() - start
            write_json(path, result)
            progress.finish(result["seconds"])
        results = self.collect()
        self.write_report(results)
        return results

    def _finished(self, name: str, stage: str) -> bool:
        path = self.stage_path(name, stage)
        return path.is_file() and json.loads(path.read_text()).get("status") == "ok"

    def _stage(self, name: str, stage: str) -> dict[str, Any]:
        handlers: dict[str, Callable[[str], dict[str, Any]]] = {
            "train": self._train_main,
            "evaluate": self._evaluate,
            "held-out": self._held_out,
            "one-class": self._one_class,
        }
        return handlers[stage](name)

    def _train(
        self, name: str, run_dir: Path, latent_dim: int, **run_changes: Any
    ) -> tuple[Any, float]:
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
            self.run_config(**run_changes),
            model_cfg,
            run_dir=run_dir,
            tensorboard=not run_changes,
            validate=not run_changes,  # anomaly models are judged by their test scores
            progress_bar=False,
            data=self.datamodule.array_dataset(),  # read the files once, not once per model
            resume_existing=True,  # a stage cut short goes on from its last epoch
        )
        return result.model, result.train.wall_time_s

    def _train_main(self, name: str) -> dict[str, Any]:
        _, seconds = self._train(name, self.model_dir(name), self.cfg.latent_dim)
        return {"train_seconds": seconds, "checkpoint": str(self.checkpoint(name))}

    def model_dir(self, name: str, *parts: str) -> Path:
        return self.out.joinpath("models", name, *parts)

    def checkpoint(self, name: str, *parts: str) -> Path:
        return self.model_dir(name, *parts) / "checkpoints" / "last.ckpt"

    def codec(self, name: str) -> Any:
        if name == PCA:
            return PCACodec(self.cfg.latent_dim, self.cfg.seed).fit(self.data.x_train)
        from autoencoders.checkpoint import load

        return ModelCodec(load(self.checkpoint(name)))

    def _evaluate(self, name: str) -> dict[str, Any]:
        data = self.data
        codec = self.codec(name)
        start = time.perf_counter()
        metrics = evaluate_codec(codec, data, n_labels=self.cfg.n_labels, seed=self.cfg.seed)
        if name == PCA:
            metrics["train_seconds"] = time.perf_counter() - start
        metrics["figures"] = self._figures(name, codec)
        return metrics

    def _figures(self, name: str, codec: Any) -> dict[str, str]:
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
                z_test, data.y_test, max_samples=self.cfg.embed_samples, random_state=self.cfg.seed
            ),
            fig_dir / "latent_map.png",
        )
        if not is_image:
            return figs
        samples = self._samples(name, codec)
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

    def _samples(self, name: str, codec: Any) -> np.ndarray | None:
        if name == PCA:
            return codec.sample(32, codec.encode(self.data.x_train[:2000]), seed=self.cfg.seed)
        import torch

        try:
            return (
                codec.model.sample(32, generator=torch.Generator().manual_seed(self.cfg.seed))
                .cpu()
                .numpy()
            )
        except RuntimeError as err:
            log.info("no samples from %s: %s", name, err)
            return None

    def _pair(self) -> tuple[int, int]:
        """Two test images of different classes, the same for every model."""
        y = self.data.y_test
        first = 0
        second = int(np.flatnonzero(y != y[first])[0]) if (y != y[first]).any() else 1
        return first, second

    def _save(self, fig: Any, path: Path) -> str:
        ev.save_figure(fig, path)
        return str(path.relative_to(self.out))

    # ---------------------------------------------------------- anomaly
    def _anomaly_epochs(self) -> int:
        return self.cfg.anomaly_epochs or self.cfg.epochs

    def _scores(
        self,
        name: str,
        latent_dim: int,
        run_dir: Path,
        x_fit: np.ndarray,
        kind: str = "bce",
        **run_changes: Any,
    ) -> np.ndarray:
        """Anomaly scores (summed ``kind`` error) of every test image under a model fitted to some data."""
        if name == PCA:
            codec: Any = PCACodec(latent_dim, self.cfg.seed).fit(x_fit)
        else:
            model, _ = self._train(
                name, run_dir, latent_dim, epochs=self._anomaly_epochs(), **run_changes
            )
            codec = ModelCodec(model)
        return anomaly_scores(codec, self.data.x_test, kind=kind)

    def _held_out(self, name: str) -> dict[str, Any]:
        c = self.cfg
        x_fit = self.data.x_train[self.data.y_train != c.anomaly_class]
        scores = self._scores(
            name,
            c.anomaly_latent_dim,
            self.model_dir(name, "held-out"),
            x_fit,
            exclude_class=c.anomaly_class,
        )
        is_anomaly = self.data.y_test == c.anomaly_class
        fpr, tpr, auc = ev.roc_curve_points(scores, is_anomaly)
        return {
            "auc": float(auc),
            "anomaly_class": c.anomaly_class,
            "fpr": _thin(fpr),
            "tpr": _thin(tpr),
        }

    def _one_class(self, name: str) -> dict[str, Any]:
        scores = {}
        for cls in self.classes:
            x_fit = self.data.x_train[self.data.y_train == cls]
            # Squared error, not BCE: BCE grows with an image's ink, so bright normal
            # images would look anomalous (PCA-20 scores 0.70 by BCE, 0.90 by SSE).
            scores[cls] = self._scores(
                name,
                self.cfg.latent_dim,
                self.model_dir(name, f"one-class-{cls}"),
                x_fit,
                kind="sse",
                only_class=cls,
            )
        result = ev.one_class_auc(scores, self.data.y_test)
        fpr, tpr, _ = ev.roc_curve_points(
            np.concatenate([scores[c] for c in self.classes]),
            np.concatenate([self.data.y_test != c for c in self.classes]),
        )
        return {"mean_auc": float(result["mean"]), "per_class": {str(k): float(v) for k, v in result["per_class"].items()},
                "fpr": _thin(fpr), "tpr": _thin(tpr)}  # fmt: skip

    # ----------------------------------------------------------- report
    def collect(self) -> dict[str, Any]:
        results: dict[str, Any] = {"config": dataclasses.asdict(self.cfg), "models": {}}
        for name in self.names:
            entry: dict[str, Any] = {}
            for stage in self.stages_for(name):
                path = self.stage_path(name, stage)
                entry[stage] = (
                    json.loads(path.read_text()) if path.is_file() else {"status": "missing"}
                )
            results["models"][name] = entry
        write_json(self.out / "results.json", results)
        return results

    def write_report(self, results: dict[str, Any]) -> None:
        rows = [table_row(name, entry) for name, entry in results["models"].items()]
        roc = self._roc_figures(results)
        atomic_write(
            self.out / "report.md",
            lambda f: f.write(markdown_report(self.cfg, rows, results, roc).encode()),
        )
        atomic_write(
            self.out / "report.html",
            lambda f: f.write(html_report(self.cfg, rows, results, roc, self.out).encode()),
        )

    def _roc_figures(self, results: dict[str, Any]) -> dict[str, str]:
        figs = {}
        for stage, key, title in (
            ("held-out", "auc", f"held-out class {self.cfg.anomaly_class}"),
            ("one-class", "mean_auc", "one-class (pooled over classes)"),
        ):
            curves = {
                name: (np.asarray(e[stage]["fpr"]), np.asarray(e[stage]["tpr"]), e[stage][key])
                for name, e in results["models"].items()
                if e.get(stage, {}).get("status") == "ok"
            }
            if curves:
                figs[stage] = self._save(
                    ev.roc_figure(curves, title=f"ROC: {title}"),
                    self.out / "figures" / f"roc-{stage}.png",
                )
        return figs


def _thin(values: np.ndarray, most: int = 200) -> list[float]:
    """At most ``most`` points of a curve, enough to draw it."""
    idx = np.unique(np.linspace(0, len(values) - 1, min(most, len(values))).round().astype(int))
    return [float(v) for v in np.asarray(values)[idx]]


COLUMNS = [
    ("model", "model"),
    ("bce_per_image", "recon BCE/img ↓"),
    ("sse_per_image", "SSE/img ↓"),
    ("psnr", "PSNR ↑"),
    ("ssim", "SSIM ↑"),
    ("probe_accuracy", "linear probe ↑"),
    ("kmeans_nmi", "k-means NMI ↑"),
    ("dbscan_nmi", "DBSCAN NMI ↑"),
    ("meanshift_nmi", "MeanShift NMI ↑"),
    ("denoise_sse", "denoised SSE/img ↓"),
    ("held_out_auc", "held-out AUROC ↑"),
    ("one_class_auc", "one-class AUROC ↑"),
    ("train_seconds", "train time (s)"),
]


def table_row(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One report row: the numbers of every stage, or why they are missing."""
    row: dict[str, Any] = {"model": name}
    ev_stage = entry.get("evaluate", {})
    if ev_stage.get("status") == "ok":
        row.update({k: ev_stage.get(k) for k, _ in COLUMNS[1:10]})
        row["figures"] = ev_stage.get("figures", {})
    row["held_out_auc"] = entry.get("held-out", {}).get("auc")
    row["one_class_auc"] = entry.get("one-class", {}).get("mean_auc")
    row["train_seconds"] = entry.get("train", {}).get(
        "train_seconds", ev_stage.get("train_seconds")
    )
    failures = [
        f"{stage}: {e.get('error')}" for stage, e in entry.items() if e.get("status") == "failed"
    ]
    row["status"] = "failed (" + "; ".join(failures) + ")" if failures else "ok"
    return row


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def markdown_report(
    cfg: BakeoffConfig, rows: list[dict], results: dict, roc: dict[str, str]
) -> str:
    head = "| " + " | ".join(t for _, t in COLUMNS) + " |"
    sep = "|" + "|".join("---" if k == "model" else "---:" for k, _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    lines = [
        f"# Autoencoder bake-off: {cfg.dataset}",
        "",
        f"Latent size {cfg.latent_dim}, {cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr}, seed {cfg.seed}. "
        f"Linear probe: logistic regression on the codes of {cfg.n_labels} labelled training images. "
        f"Held-out anomaly: class {cfg.anomaly_class} left out, code size {cfg.anomaly_latent_dim}. "
        "PCA uses as many components as the autoencoders have code units and is scored by the same code.",
        "",
        head,
        sep,
        *body,
        "",
    ]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["## Failures", "", *[f"- **{r['model']}**: {r['status']}" for r in failed], ""]
    for stage, path in roc.items():
        lines += [f"![ROC {stage}]({path})", ""]
    for r in rows:
        figs = r.get("figures") or {}
        if figs:
            lines += [
                f"## {r['model']}",
                "",
                *[f"![{r['model']} {k}]({v})" for k, v in figs.items()],
                "",
            ]
    return "\n".join(lines)


def _img(out: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_report(
    cfg: BakeoffConfig, rows: list[dict], results: dict, roc: dict[str, str], out: Path
) -> str:
    """A self-contained page: every figure embedded, no external file or script."""
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    body = "".join(
        "<tr" + (' class="failed"' if r["status"] != "ok" else "") + ">"
        + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k, _ in COLUMNS) + "</tr>"
        for r in rows
    )  # fmt: skip
    roc_figs = "".join(f"<figure>{_img(out, p, 'ROC ' + s)}</figure>" for s, p in roc.items())
    sections = ""
    for r in rows:
        figs = r.get("figures") or {}
        if figs:
            imgs = "".join(
                f"<figure>{_img(out, v, r['model'] + ' ' + k)}<figcaption>{html.escape(k.replace('_', ' '))}</figcaption></figure>"
                for k, v in figs.items()
            )
            sections += f"<section><h2>{html.escape(r['model'])}</h2><div class='figs'>{imgs}</div></section>"
    failures = "".join(
        f"<li><b>{html.escape(r['model'])}</b>: {html.escape(r['status'])}</li>"
        for r in rows
        if r["status"] != "ok"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Autoencoder bake-off: {html.escape(cfg.dataset)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.failed {{ color: #a00; }}
tr:nth-child(2) {{ background: #f4f6fa; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }} img {{ max-width: 100%; }}
figcaption {{ font-size: 0.8rem; color: #666; text-align: center; }}
</style></head><body>
<h1>Autoencoder bake-off: {html.escape(cfg.dataset)}</h1>
<p>Latent size {cfg.latent_dim}, {cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr}, seed {cfg.seed}.
Linear probe: logistic regression on the codes of {cfg.n_labels} labelled training images.
PCA (first row) uses as many components as the autoencoders have code units and is scored by the same code.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{"<h2>Failures</h2><ul>" + failures + "</ul>" if failures else ""}
<h2>Anomaly detection</h2><div class="figs">{roc_figs}</div>
{sections}
</body></html>
"""
