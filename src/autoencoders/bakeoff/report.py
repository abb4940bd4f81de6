"""The bake-off report: one data structure, rendered to Markdown and HTML by shared templates.

:func:`build_report` turns the stage results into a :class:`Report` (every
sentence and every cell already decided); ``templates/report.md.j2`` and
``templates/report.html.j2`` only lay it out, so the two files cannot tell
different stories.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from autoencoders import evaluation as ev
from autoencoders.bakeoff.config import PCA, BakeoffConfig
from autoencoders.evaluation.suite import IMAGE_ONLY, metrics_for_samples
from autoencoders.files import atomic_write


@dataclass(frozen=True)
class Column:
    """One column of the table: the metric's key, its heading, and which way is better."""

    key: str
    label: str
    #: "low" or "high" is better; None: not a score (counts, times)
    better: str | None = None
    #: a count: shown without decimals
    whole: bool = False


COLUMNS = (
    Column("bce_per_image", "recon BCE/img ↓", "low"),
    Column("sse_per_image", "SSE/img ↓", "low"),
    Column("psnr", "PSNR ↑", "high"),
    Column("ssim", "SSIM ↑", "high"),
    Column("probe_accuracy", "linear probe ↑", "high"),
    Column("kmeans_nmi", "k-means NMI ↑", "high"),
    Column("hdbscan_nmi", "HDBSCAN NMI ↑", "high"),
    Column("hdbscan_clusters", "HDBSCAN clusters", whole=True),
    Column("hdbscan_noise", "HDBSCAN noise"),
    Column("denoise_sse", "denoised SSE/img ↓", "low"),
    Column("held_out_auc", "held-out AUROC ↑", "high"),
    Column("one_class_auc", "one-class AUROC ↑", "high"),
    Column("epochs", "epochs", whole=True),
    Column("train_seconds", "train time (s)"),
)
_EVALUATE_KEYS = {c.key for c in COLUMNS[:10]}
#: the columns that need classes: the probe, the clustering scores, both anomaly protocols
LABEL_KEYS = frozenset({"probe_accuracy", "kmeans_nmi", "hdbscan_nmi", "hdbscan_clusters",
                        "hdbscan_noise", "held_out_auc", "one_class_auc"})  # fmt: skip
#: the report's note on unlabelled data, in place of the label-needing columns
UNLABELLED_NOTE = (
    "Note: the data has no labels (or only one class), so the linear probe, the clustering "
    "scores and the held-out-class and one-class anomaly protocols, which all need classes, "
    "were left out."
)
#: the one-class score in words
ONE_CLASS_SCORES = {
    "recon-sse": "summed squared error",
    "recon-bce": "summed BCE",
    "density": "the density of its code under a Gaussian mixture of the training codes",
    "combined": "code density plus squared error, each standardised on held-out normal images",
    "feature": "reconstruction error in the encoder's hidden layers (RaPP)",
}


def columns_for(image: bool = True, labelled: bool = True) -> tuple[Column, ...]:
    """The table's columns for data of this kind: :data:`COLUMNS` as they are for labelled images.

    Other data than images has no PSNR or SSIM and its errors are per sample (as
    :func:`~autoencoders.evaluation.suite.metrics_for_samples` names them); unlabelled data
    has none of the :data:`LABEL_KEYS` columns.
    """
    columns = []
    for col in COLUMNS:
        if col.key in LABEL_KEYS and not labelled:
            continue
        if not image:
            if col.key in IMAGE_ONLY:
                continue
            col = Column(col.key.replace("_per_image", "_per_sample"),
                         col.label.replace("/img", "/sample"), col.better, col.whole)  # fmt: skip
        columns.append(col)
    return tuple(columns)


@dataclass
class Cell:
    """A metric over seeds: mean, standard deviation (``None`` for one seed) and count."""

    mean: float | None = None
    std: float | None = None
    n: int = 0

    @classmethod
    def of(cls, values: list[float]) -> Cell:
        values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not values:
            return cls()
        std = float(np.std(values, ddof=1)) if len(values) > 1 else None
        return cls(float(np.mean(values)), std, len(values))

    def text(self, whole: bool = False) -> str:
        if self.mean is None:
            return "–"
        digits = 0 if whole else 3 if abs(self.mean) < 10 else 1
        if self.std is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


@dataclass
class Row:
    """One model's line: its cells, whether every stage ran, its figures and training notes."""

    model: str
    cells: dict[str, Cell]
    status: str = "ok"
    figures: dict[str, str] = field(default_factory=dict)
    #: one line per seed: epochs trained and why training stopped
    training: list[str] = field(default_factory=list)
    #: the model's latent-space explorer page, relative to the report
    explorer: str | None = None


@dataclass
class Report:
    """Everything the report says; the templates only lay it out."""

    title: str
    intro: list[str]
    columns: tuple[Column, ...]
    rows: list[Row]
    findings: list[str]
    roc: dict[str, str]


def seed_metrics(stages: dict[str, Any], image: bool = True) -> dict[str, float | None]:
    """The table's numbers from one seed's stage results (``image``: the data's kind)."""
    evaluate = stages.get("evaluate", {})
    ok = evaluate.get("status") == "ok"
    keys = _EVALUATE_KEYS
    if not image:  # also renames a result stored before the bake-off named them per sample
        evaluate = metrics_for_samples(evaluate, image=False)
        keys = {k.replace("_per_image", "_per_sample") for k in keys - set(IMAGE_ONLY)}
    out: dict[str, float | None] = {k: evaluate.get(k) if ok else None for k in keys}
    out["held_out_auc"] = stages.get("held-out", {}).get("auc")
    out["one_class_auc"] = stages.get("one-class", {}).get("mean_auc")
    train = stages.get("train", {})
    out["epochs"] = train.get("epochs")
    out["train_seconds"] = train.get("train_seconds", evaluate.get("train_seconds"))
    return out


def build_row(
    name: str,
    by_seed: dict[str, dict[str, Any]],
    columns: tuple[Column, ...] = COLUMNS,
    image: bool = True,
) -> Row:
    per_seed = [seed_metrics(stages, image) for stages in by_seed.values()]
    cells = {c.key: Cell.of([m.get(c.key) for m in per_seed]) for c in columns}  # type: ignore[misc]
    failures = [
        f"seed {seed} {stage}: {e.get('error')}"
        for seed, stages in by_seed.items()
        for stage, e in stages.items()
        if e.get("status") == "failed"
    ]
    first = next(iter(by_seed.values()), {})
    training = [
        f"seed {seed}: {t['epochs']} epochs; {t['stop_reason']}"
        for seed, stages in by_seed.items()
        if (t := stages.get("train", {})).get("status") == "ok" and "stop_reason" in t
    ]
    return Row(
        model=name,
        cells=cells,
        status="failed (" + "; ".join(failures) + ")" if failures else "ok",
        figures=first.get("evaluate", {}).get("figures") or {},
        training=training,
        explorer=first.get("evaluate", {}).get("explorer"),
    )


def intro(
    cfg: BakeoffConfig, n_models: int, image: bool = True, labelled: bool = True
) -> list[str]:
    """The sentences that say how the table was made (the same in both formats)."""
    seeds = cfg.seed_list
    if cfg.epochs is None:
        schedule = (
            f"Each autoencoder trained until its validation loss had not improved for "
            f"{cfg.patience} epochs (after at least {cfg.min_steps} optimizer steps, at most "
            f"{cfg.max_epochs} epochs), and is scored with the weights of its best epoch."
        )
    else:
        schedule = f"Each autoencoder trained for exactly {cfg.epochs} epochs."
    sentences = [
        f"{n_models} autoencoder(s) beside PCA on {cfg.dataset}: latent size {cfg.latent_dim}, "
        f"batch {cfg.batch_size}, Adam lr {cfg.lr}, seed(s) {', '.join(map(str, seeds))}.",
        schedule,
    ]
    samples = "images" if image else "samples"
    if labelled:
        sentences += [
            f"Linear probe: logistic regression on the codes of {cfg.n_labels} labelled training {samples}.",
            "Clustering: k-means with as many clusters as classes, and UMAP followed by HDBSCAN, "
            "whose smallest cluster size is chosen on the validation codes without labels; "
            "HDBSCAN's noise points count as one more group.",
            f"Held-out anomaly: class {cfg.anomaly_class} left out of training, code size "
            f"{cfg.anomaly_latent_dim}, scored by summed BCE.",
            f"One-class anomaly: one model per class, scored by "
            f"{ONE_CLASS_SCORES[cfg.one_class_score]}, AUROC averaged over the classes.",
        ]
    else:
        sentences.append(UNLABELLED_NOTE)
    sentences.append(
        "PCA uses as many components as the autoencoders have code units and is scored by the same code."
    )
    if len(seeds) > 1:
        sentences.append(f"Cells show the mean ± standard deviation over {len(seeds)} seeds.")
    return sentences


def findings(rows: list[Row], columns: tuple[Column, ...] = COLUMNS) -> list[str]:
    """Who is best on each score, and where PCA beats every autoencoder."""
    pca = next((r for r in rows if r.model == PCA), None)
    models = [r for r in rows if r.model != PCA]
    out, pca_wins = [], []
    for col in columns:
        if col.better is None:
            continue
        scored = [r for r in models if r.cells[col.key].mean is not None]
        if not scored:
            continue
        sign = 1 if col.better == "high" else -1
        best = max(scored, key=lambda r: sign * r.cells[col.key].mean)  # type: ignore[operator]
        line = f"{col.label.rstrip(' ↑↓')}: best autoencoder {best.model} ({best.cells[col.key].text()})"
        if pca is not None and pca.cells[col.key].mean is not None:
            line += f", PCA {pca.cells[col.key].text()}"
            if sign * pca.cells[col.key].mean > sign * best.cells[col.key].mean:  # type: ignore[operator]
                pca_wins.append(col.label.rstrip(" ↑↓"))
        out.append(line + ".")
    if pca_wins:
        out.append(f"PCA beats every autoencoder here on: {', '.join(pca_wins)}.")
    elif pca is not None and out:
        out.append("An autoencoder beats PCA on every score.")
    return out


def build_report(cfg: BakeoffConfig, results: dict[str, Any], roc: dict[str, str]) -> Report:
    # results of a bake-off that did not record its data's kind were of labelled images
    data = {"image": True, "labelled": True, **results.get("data", {})}
    image, labelled = bool(data["image"]), bool(data["labelled"])
    columns = columns_for(image, labelled)
    rows = [build_row(name, by_seed, columns, image) for name, by_seed in results["models"].items()]
    return Report(
        title=f"Autoencoder bake-off: {cfg.dataset}",
        intro=intro(cfg, len([r for r in rows if r.model != PCA]), image, labelled),
        columns=columns,
        rows=rows,
        findings=findings(rows, columns),
        roc=roc,
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("autoencoders.bakeoff", "templates"),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(report: Report, fmt: str, out: Path) -> str:
    """``report`` as ``"md"`` or ``"html"`` (figures embedded, nothing external)."""

    def embed(rel: str) -> str:
        return "data:image/png;base64," + base64.b64encode((out / rel).read_bytes()).decode()

    template = _environment().get_template(f"report.{fmt}.j2")
    return template.render(report=report, embed=embed)


def roc_figures(cfg: BakeoffConfig, results: dict[str, Any], out: Path) -> dict[str, str]:
    """ROC curves of the first seed of every model, one figure per anomaly protocol."""
    figs = {}
    for stage, key, title in (
        ("held-out", "auc", f"held-out class {cfg.anomaly_class}"),
        ("one-class", "mean_auc", "one-class (pooled over classes)"),
    ):
        curves = {}
        for name, by_seed in results["models"].items():
            e = next(iter(by_seed.values()), {}).get(stage, {})
            if e.get("status") == "ok":
                curves[name] = (np.asarray(e["fpr"]), np.asarray(e["tpr"]), e[key])
        if curves:
            path = out / "figures" / f"roc-{stage}.png"
            ev.save_figure(ev.roc_figure(curves, title=f"ROC: {title}"), path)
            figs[stage] = str(path.relative_to(out))
    return figs


def write_report(cfg: BakeoffConfig, results: dict[str, Any], out: Path) -> Report:
    """Writes ``report.md`` and ``report.html`` into ``out`` (atomically) and returns the report."""
    report = build_report(cfg, results, roc_figures(cfg, results, out))
    for fmt in ("md", "html"):
        text = render(report, fmt, out)
        atomic_write(out / f"report.{fmt}", lambda f, t=text: f.write(t.encode()))
    return report
