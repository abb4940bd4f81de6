"""The bake-off's two anomaly protocols, held-out class and one-class, for one model and seed.

Their models train as one batched computation by default
(:func:`autoencoders.batched.fit_many`); ``BATCH_ANOMALY_MODELS = False`` trains
them one by one through ``train_run`` instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autoencoders import evaluation as ev
from autoencoders.anomaly import anomaly_scores
from autoencoders.bakeoff.config import PCA
from autoencoders.codecs import ModelCodec, PCACodec

if TYPE_CHECKING:
    from autoencoders.bakeoff.runner import Bakeoff

#: train the anomaly protocols' models (one per class, the held-out one) batched, not via Lightning
BATCH_ANOMALY_MODELS = True


def _anomaly_run(bo: Bakeoff, run_changes: dict[str, Any]) -> dict[str, Any]:
    """The run settings of an anomaly model: its data restriction, and its epochs."""
    if bo.cfg.anomaly_epochs is not None:
        return {**run_changes, "epochs": bo.cfg.anomaly_epochs}
    return run_changes


def held_out(bo: Bakeoff, name: str, seed: int) -> dict[str, Any]:
    c = bo.cfg
    x_fit = bo.data.x_train[bo.data.y_train != c.anomaly_class]
    epochs = 0
    if name == PCA:
        codec: Any = PCACodec(c.anomaly_latent_dim, seed).fit(x_fit)
    else:
        [(model, epochs)] = _train_anomaly_models(bo,
            name, seed, c.anomaly_latent_dim, [{"exclude_class": c.anomaly_class}],
            [bo.model_dir(name, seed, "held-out")],
        )  # fmt: skip
        codec = ModelCodec(model)
    # summed BCE: the published protocol's score
    scores = anomaly_scores("recon-bce", codec, x_fit, bo.data.x_test)
    is_anomaly = bo.data.y_test == c.anomaly_class
    fpr, tpr, auc = ev.roc_curve_points(scores, is_anomaly)
    return {"auc": float(auc), "anomaly_class": c.anomaly_class, "epochs": epochs,
            "fpr": thin_curve(fpr), "tpr": thin_curve(tpr)}  # fmt: skip


def _train_one_class_models(
    bo: Bakeoff, name: str, seed: int, classes: list[int]
) -> list[tuple[Any, int]]:
    """One model of ``name`` per class, trained on that class alone: ``(model, epochs)`` each.

    The one place the one-class protocol trains: all its models in one
    batched computation (see :func:`_train_anomaly_models`).
    """
    return _train_anomaly_models(bo,
        name, seed, bo.cfg.latent_dim, [{"only_class": c} for c in classes],
        [bo.model_dir(name, seed, f"one-class-{c}") for c in classes],
    )  # fmt: skip


def _train_anomaly_models(
    bo: Bakeoff,
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
    changes = [_anomaly_run(bo, r) for r in restrictions]
    if not BATCH_ANOMALY_MODELS:
        trained = []
        for change, run_dir in zip(changes, run_dirs, strict=True):
            model, train = bo.train(name, seed, run_dir, latent_dim, **change)
            trained.append((model, train.epochs))
        return trained
    from autoencoders.batched import fit_many
    from autoencoders.data.run_data import make_datamodule
    from autoencoders.training.job import stop_rule

    runs = [bo.run_config(seed, **change) for change in changes]
    # each model's data module exactly as train_run would build it: split, order, batches
    modules = [make_datamodule(run, bo.datamodule.array_dataset(), name) for run in runs]
    for module in modules:
        module.setup("fit")
    model_cfg = dataclasses.replace(
        bo.model_config(name, latent_dim), input_shape=tuple(modules[0].sample_shape)
    )
    fits = fit_many(
        model_cfg, modules, [run.seed for run in runs], stop_rule(runs[0]),
        steps_per_call=runs[0].steps_per_call,
        validate=False,  # as train_run(validate=False): a fixed-length run skips validation
    )  # fmt: skip
    return [(fit.model, fit.epochs) for fit in fits]


def one_class(bo: Bakeoff, name: str, seed: int) -> dict[str, Any]:
    data, classes = bo.data, bo.classes
    if name == PCA:
        codecs: list[Any] = [
            PCACodec(bo.cfg.latent_dim, seed).fit(data.x_train[data.y_train == cls])
            for cls in classes
        ]
        trained_epochs = [0] * len(classes)
    else:
        trained = _train_one_class_models(bo, name, seed, classes)
        codecs = [ModelCodec(model) for model, _ in trained]
        trained_epochs = [epochs for _, epochs in trained]
    score = bo.cfg.one_class_score
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
            "epochs": epochs, "fpr": thin_curve(fpr), "tpr": thin_curve(tpr)}  # fmt: skip


def thin_curve(values: np.ndarray, most: int = 200) -> list[float]:
    """At most ``most`` points of a curve, enough to draw it."""
    idx = np.unique(np.linspace(0, len(values) - 1, min(most, len(values))).round().astype(int))
    return [float(v) for v in np.asarray(values)[idx]]
