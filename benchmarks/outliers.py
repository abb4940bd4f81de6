"""Outlier detection: our autoencoder detector against PyOD and scikit-learn, on the same splits.

Every method sees the same training rows and scores the same test rows; each
data set is one *task* or a set of tasks whose results are averaged:

* ``fashion-mnist``: one-class, one task per class (train on that class's
  training images, score all 10,000 test images, the nine other classes are
  the anomalies); pixels / 255, flat 784 features.
* ``digits``: one-vs-rest on scikit-learn's 8x8 digits, one task per digit
  (a stratified 70/30 split; train on the digit's training rows, score the
  test rows).
* ``breast-cancer``: scikit-learn's breast-cancer set with the malignant class
  subsampled to 5% of the rows, split 60/40; training rows keep their
  anomalies (unsupervised), one task per seed.
* ``signals``: seeded sine signals (length 128) with injected spikes, level
  shifts and frequency changes in the test set; our detector uses the
  ``sequence`` (conv1d) model, the others the flat signal.

For each method: ROC AUC, average precision (anomalies as the positive class)
and fit time (training plus the score's fit, not scoring the test set), all
with one thread. Our detector is trained once per task; every registered
anomaly score is then fitted on that one model (``make_score(...).fit``), so
the scores differ only in how they read the model. Run::

    nice -n 10 python benchmarks/outliers.py --threads 1 --out benchmarks/results/outliers.md
    python benchmarks/outliers.py --datasets digits --classes 0 1   # a quick subset
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import OneClassSVM

from autoencoders.anomaly import SCORES, make_score
from autoencoders.codecs import ModelCodec
from autoencoders.detector import AutoencoderOutlierDetector
from autoencoders.files import atomic_write, write_json

DATASETS = ("digits", "breast-cancer", "signals", "fashion-mnist")
#: signal length and the anomaly kinds injected into the synthetic signals
SIGNAL_LENGTH = 128
SIGNAL_ANOMALIES = ("spike", "level shift", "frequency change")


@dataclass
class Task:
    """One train/test split: fit on ``x_train``, score ``x_test``; ``is_anomaly`` marks its outliers."""

    name: str
    x_train: np.ndarray
    x_test: np.ndarray
    is_anomaly: np.ndarray
    #: values already in [0, 1] (pixels): our detector then takes them as they are
    unit_range: bool = False


@dataclass
class Result:
    auc: list[float] = field(default_factory=list)
    ap: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


# -------------------------------------------------------------------- data
def digits_tasks(classes: list[int] | None, seed: int) -> Iterator[Task]:
    data = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        data.data / 16.0, data.target, test_size=0.3, random_state=seed, stratify=data.target
    )
    for c in classes if classes is not None else range(10):
        yield Task(f"digit {c}", x_tr[y_tr == c], x_te, y_te != c, unit_range=True)


def breast_cancer_tasks(seeds: list[int]) -> Iterator[Task]:
    data = load_breast_cancer()
    benign, malignant = data.data[data.target == 1], data.data[data.target == 0]
    n_bad = round(0.05 / 0.95 * len(benign))  # anomalies are 5% of the rows
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = np.vstack([benign, malignant[rng.choice(len(malignant), n_bad, replace=False)]])
        bad = np.r_[np.zeros(len(benign), bool), np.ones(n_bad, bool)]
        x_tr, x_te, _, bad_te = train_test_split(
            x, bad, test_size=0.4, random_state=seed, stratify=bad
        )
        yield Task(f"seed {seed}", x_tr, x_te, bad_te)


def make_signals(
    n_normal: int, n_per_anomaly: int, seed: int, length: int = SIGNAL_LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sines of random phase and a narrow band of frequencies, some with one anomaly.

    Returns:
        ``(signals, kind)``: shape ``(n, length)``, and per signal 0 for normal or
        ``1 + i`` for the anomaly ``SIGNAL_ANOMALIES[i]``.
    """
    rng = np.random.default_rng(seed)
    n = n_normal + n_per_anomaly * len(SIGNAL_ANOMALIES)
    t = np.arange(length)
    freq = rng.uniform(3.0, 5.0, n)[:, None] / length
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    amp = rng.uniform(0.8, 1.2, n)[:, None]
    angle = 2 * np.pi * freq * t + phase
    kind = np.r_[np.zeros(n_normal, int), np.repeat(np.arange(1, 4), n_per_anomaly)]
    start = rng.integers(length // 4, 3 * length // 4, n)
    after = t[None, :] >= start[:, None]
    # frequency change: from `start` on, the sine runs 2.5x as fast (continuing its phase)
    fast = np.where(after, angle[:, :1] + 2.5 * (angle - angle[:, :1]), angle)
    x = amp * np.sin(np.where((kind == 3)[:, None], fast, angle))
    x += 0.1 * rng.standard_normal((n, length))
    rows = np.flatnonzero(kind == 1)
    for r in rows:  # spike: three neighbouring samples jump by 2-3 amplitudes
        at = start[r] + np.arange(3)
        x[r, at] += rng.choice([-1, 1]) * rng.uniform(2.0, 3.0)
    shift = (kind == 2)[:, None] & after
    x += shift * rng.choice([-1, 1], n)[:, None] * rng.uniform(0.8, 1.2, n)[:, None]
    return x.astype(np.float32), kind


def signal_tasks(seeds: list[int]) -> Iterator[Task]:
    for seed in seeds:
        x_tr, _ = make_signals(2000, 0, seed)
        x_te, kind = make_signals(1000, 100, seed + 1000)
        yield Task(f"seed {seed}", x_tr, x_te, kind > 0)


def fashion_tasks(classes: list[int] | None, train_cap: int | None) -> Iterator[Task]:
    from autoencoders.data import load_dataset

    data = load_dataset("fashion-mnist", download=False)
    x_tr = data.train_x.reshape(len(data.train_x), -1).numpy() / 255.0
    x_te = data.test_x.reshape(len(data.test_x), -1).numpy() / 255.0
    y_tr, y_te = data.train_y.numpy(), data.test_y.numpy()
    for c in classes if classes is not None else range(10):
        normal = x_tr[y_tr == c][:train_cap]
        yield Task(f"class {c}", normal, x_te, y_te != c, unit_range=True)


# ----------------------------------------------------------------- methods
def _timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - start


def ours(task: Task, seed: int, model: str, options: dict[str, Any]) -> dict[str, Any]:
    """Our detector, trained once; every registered score read from that one model.

    Returns:
        score name -> (test anomaly scores, fit seconds: training plus that score's fit).
    """
    det = AutoencoderOutlierDetector(
        model,
        scale="none" if task.unit_range else "minmax",
        random_state=seed,
        **options,
    )
    _, train_seconds = _timed(lambda: det.fit(task.x_train))
    codec = ModelCodec(det.model_)
    x_train = det._model_input(det._check_input(task.x_train))
    x_test = det._model_input(det._check_input(task.x_test))
    out = {}
    for name in SCORES:
        score_options = {"random_state": seed} if name in ("density", "combined") else {}
        scorer, seconds = _timed(
            lambda n=name, o=score_options: make_score(n, **o).fit(codec, x_train)
        )
        out[name] = (scorer.score(codec, x_test), train_seconds + seconds)
    return out


def pyod_scores(kind: str, task: Task, seed: int) -> tuple[np.ndarray, float]:
    """PyOD's ``AutoEncoder`` or ``VAE`` with its defaults (its own standardisation included)."""
    if kind == "AutoEncoder":
        from pyod.models.auto_encoder import AutoEncoder as Detector
    else:
        from pyod.models.vae import VAE as Detector
    det = Detector(random_state=seed, verbose=0, device="cpu")
    _, seconds = _timed(lambda: det.fit(task.x_train))
    return det.decision_function(task.x_test), seconds


def sklearn_scores(kind: str, task: Task, seed: int) -> tuple[np.ndarray, float]:
    """scikit-learn's detectors (their defaults) on features min-max scaled on the training rows."""
    scaler = MinMaxScaler().fit(task.x_train)
    x_tr, x_te = scaler.transform(task.x_train), np.clip(scaler.transform(task.x_test), -1, 2)
    if kind == "PCA":
        # PCA reconstruction error, the linear baseline; as many components as our code
        n = min(20, max(1, x_tr.shape[1] // 4), len(x_tr) - 1)
        pca, seconds = _timed(lambda: PCA(n, random_state=seed).fit(x_tr))
        return ((x_te - pca.inverse_transform(pca.transform(x_te))) ** 2).sum(1), seconds
    detector = {
        "IsolationForest": lambda: IsolationForest(random_state=seed),
        "LocalOutlierFactor": lambda: LocalOutlierFactor(novelty=True),
        "OneClassSVM": lambda: OneClassSVM(gamma="scale"),
    }[kind]()
    _, seconds = _timed(lambda: detector.fit(x_tr))
    return -detector.score_samples(x_te), seconds


COMPETITORS = {
    "PyOD AutoEncoder": lambda t, s: pyod_scores("AutoEncoder", t, s),
    "PyOD VAE": lambda t, s: pyod_scores("VAE", t, s),
    "IsolationForest": lambda t, s: sklearn_scores("IsolationForest", t, s),
    "LocalOutlierFactor (novelty)": lambda t, s: sklearn_scores("LocalOutlierFactor", t, s),
    "OneClassSVM": lambda t, s: sklearn_scores("OneClassSVM", t, s),
    "PCA reconstruction": lambda t, s: sklearn_scores("PCA", t, s),
}

#: our detector's set-up per data set: (model, detector options)
OURS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "digits": [("simple", {"latent_dim": 10, "epochs": 300, "batch_size": 32, "lr": 3e-3})],
    "breast-cancer": [("simple", {"latent_dim": 4, "epochs": 300, "batch_size": 32, "lr": 3e-3})],
    "signals": [
        ("sequence", {"latent_dim": 8, "epochs": 30, "batch_size": 64, "lr": 3e-3}),
        ("simple", {"latent_dim": 8, "epochs": 30, "batch_size": 64, "lr": 3e-3}),
    ],
    "fashion-mnist": [
        ("simple", {"latent_dim": 20, "epochs": 20, "batch_size": 256}),
        ("deep", {"latent_dim": 20, "epochs": 20, "batch_size": 256}),
    ],
}


def record(results: dict[str, Result], name: str, task: Task, scores: np.ndarray, s: float) -> None:
    r = results.setdefault(name, Result())
    r.auc.append(float(roc_auc_score(task.is_anomaly, scores)))
    r.ap.append(float(average_precision_score(task.is_anomaly, scores)))
    r.seconds.append(s)


def run_dataset(name: str, tasks: list[Task], seed: int, skip: set[str]) -> dict[str, Result]:
    results: dict[str, Result] = {}
    for task in tasks:
        for model, options in OURS[name]:
            for score, (scores, seconds) in ours(task, seed, model, options).items():
                record(results, f"ours: {model}, {score}", task, scores, seconds)
        for method, fn in COMPETITORS.items():
            if method in skip:
                continue
            scores, seconds = fn(task, seed)
            record(results, method, task, scores, seconds)
        line = ", ".join(f"{m} {r.auc[-1]:.3f}" for m, r in results.items())
        print(f"  {name} {task.name}: {line}", flush=True)
    return results


def table(results: dict[str, Result]) -> list[str]:
    lines = [
        "| method | ROC AUC | average precision | fit time (s) |",
        "|---|---:|---:|---:|",
    ]
    best = max(results, key=lambda m: np.mean(results[m].auc))
    # our rows first, then the competitors, whatever order the results came in
    for method, r in sorted(results.items(), key=lambda kv: not kv[0].startswith("ours")):
        auc = f"{np.mean(r.auc):.3f}"
        auc = f"**{auc}**" if method == best else auc
        lines.append(f"| {method} | {auc} | {np.mean(r.ap):.3f} | {np.mean(r.seconds):.2f} |")
    ours_best = max(
        (m for m in results if m.startswith("ours")), key=lambda m: np.mean(results[m].auc)
    )
    if best.startswith("ours"):
        verdict = f"Best: our detector ({best[6:]})."
    else:
        gap = np.mean(results[best].auc) - np.mean(results[ours_best].auc)
        verdict = (
            f"Best: {best}, not our detector: our best ({ours_best[6:]}) is "
            f"{gap:.3f} ROC AUC behind."
        )
    return [*lines, "", verdict]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--classes", nargs="+", type=int, default=None, help="digits/fashion tasks")
    parser.add_argument("--seed", type=int, default=0, help="seed of every method and split")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="breast-cancer and signals: one task per seed")  # fmt: skip
    parser.add_argument(
        "--train-cap", type=int, default=None, help="fashion: training rows per class"
    )
    parser.add_argument("--skip", nargs="*", default=[], help="competitors to leave out")
    parser.add_argument("--models", nargs="+", default=None, help="only these of our models")
    parser.add_argument("--epochs", type=int, default=None, help="our detector's epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="append the tables to this file")
    parser.add_argument("--raw", type=Path, default=None, help="also write per-task numbers (JSON)")
    parser.add_argument("--merge", nargs="+", type=Path, default=None,
                        help="only build tables from --raw files of runs split over tasks")  # fmt: skip
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    for name, setups in OURS.items():
        OURS[name] = [
            (m, {**o, **({"epochs": args.epochs} if args.epochs else {})})
            for m, o in setups
            if args.models is None or m in args.models
        ]
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    command = "python benchmarks/outliers.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    sections: list[str] = []
    raw: dict[str, Any] = {}
    for name in args.datasets:
        start = time.perf_counter()
        tasks = list(
            {
                "digits": lambda: digits_tasks(args.classes, args.seed),
                "breast-cancer": lambda: breast_cancer_tasks(args.seeds),
                "signals": lambda: signal_tasks(args.seeds),
                "fashion-mnist": lambda: fashion_tasks(args.classes, args.train_cap),
            }[name]()
        )
        results = run_dataset(name, tasks, args.seed, set(args.skip))
        minutes = (time.perf_counter() - start) / 60
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = [
            f"## {name}",
            "",
            f"- command: `{command}`",
            f"- date: {stamp}; {platform.processor() or platform.machine()}, "
            f"{args.threads} thread(s); {minutes:.1f} min for this section",
            f"- tasks: {', '.join(t.name for t in tasks)} (mean over them); method seed {args.seed}",
            f"- our detector: {'; '.join(f'{m} {o}' for m, o in OURS[name])}",
            "",
        ]
        sections.append("\n".join([*head, *table(results), ""]))
        print(sections[-1], flush=True)
        raw[name] = {"head": head, "tasks": [t.name for t in tasks],
                     "results": {m: asdict(r) for m, r in results.items()}}  # fmt: skip
    if args.raw is not None:
        write_json(args.raw, raw)
    _append(args.out, sections)
    return 0


def _append(out: Path | None, sections: list[str]) -> None:
    if out is not None:
        old = out.read_text() if out.exists() else ""
        text = old + "\n".join(sections)
        atomic_write(out, lambda f: f.write(text.encode()))


def merge(paths: list[Path], out: Path | None) -> int:
    """One table per data set from the ``--raw`` files of runs that each did some of its tasks."""
    parts = [json.loads(p.read_text()) for p in paths]
    sections = []
    for name in dict.fromkeys(n for part in parts for n in part):
        runs = [part[name] for part in parts if name in part]
        results: dict[str, Result] = {}
        for run in runs:
            for method, r in run["results"].items():
                into = results.setdefault(method, Result())
                for key in ("auc", "ap", "seconds"):
                    getattr(into, key).extend(r[key])
        tasks = [t for run in runs for t in run["tasks"]]
        head = [f"## {name}", "", *(line for run in runs for line in run["head"][2:4])]
        split = f", in {len(runs)} runs" if len(runs) > 1 else ""
        head += [f"- tasks: {', '.join(tasks)} (mean over them){split}",
                 runs[0]["head"][5], ""]  # fmt: skip
        sections.append("\n".join([*head, *table(results), ""]))
        print(sections[-1])
    _append(out, sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
