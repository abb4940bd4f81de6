"""The whole evaluation of one codec (a model, or PCA) on one data set.

:func:`evaluate_codec` runs every array-level metric of this package on an
:class:`EvalData` (reconstruction, linear probe, clustering, denoising) and
returns one flat dict; the ``evaluate`` command and the bake-off both call it,
for every autoencoder and for PCA alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autoencoders.evaluation.clustering import cluster_scores
from autoencoders.evaluation.denoising import denoising_metrics
from autoencoders.evaluation.probe import linear_probe
from autoencoders.evaluation.reconstruction import reconstruction_metrics
from autoencoders.nn.noise import corrupt

if TYPE_CHECKING:
    from autoencoders.codecs import Codec


@dataclass
class EvalData:
    """Arrays a model is scored on: float inputs in [0, 1] and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: validation inputs, for choices that must not see the test set (clustering
    #: parameters, anomaly-score normalisation), and their labels
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def labelled(self) -> bool:
        """Whether every train and test sample has a label and there are two classes or more."""
        y_train, y_test = np.asarray(self.y_train), np.asarray(self.y_test)
        return (
            bool(len(y_train) and len(y_test))
            and bool((y_train >= 0).all() and (y_test >= 0).all())
            and len(np.unique(y_train)) >= 2
        )

    @classmethod
    def from_datamodule(
        cls, datamodule: Any, max_train: int | None = 10_000, split: str = "test"
    ) -> EvalData:
        """Takes the train split and ``split`` (as the test data) of a data module.

        The train split is capped at ``max_train`` samples.
        """
        datamodule.setup("fit")
        datamodule.setup("test")
        x_tr, y_tr = datamodule.full_arrays("train")
        x_te, y_te = datamodule.full_arrays(split)
        x_va, y_va = datamodule.full_arrays("val")
        if max_train is not None and len(x_tr) > max_train:
            x_tr, y_tr = x_tr[:max_train], y_tr[:max_train]
        x_val, y_val = (x_va.numpy(), y_va.numpy()) if len(x_va) else (None, None)
        return cls(x_tr.numpy(), y_tr.numpy(), x_te.numpy(), y_te.numpy(), x_val, y_val)


#: what :func:`evaluate_codec` tells its ``progress`` callback at the start of each stage
Progress = Callable[[str], None]


def evaluation_stages(data: EvalData) -> int:
    """How many stages :func:`evaluate_codec` reports on ``data`` (for a progress bar's total)."""
    return 5 if data.labelled else 3


def _no_progress(stage: str) -> None:
    pass


def evaluate_codec(
    codec: Codec,
    data: EvalData,
    *,
    n_labels: int = 550,
    noise_ratio: float = 0.25,
    seed: int = 0,
    cluster_methods: tuple[str, ...] = ("kmeans", "hdbscan"),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every array-level metric of one model (or the PCA baseline).

    Returns a flat dict: reconstruction (``bce_per_image``, ``sse_per_image``,
    ``psnr``, ``ssim``), ``probe_accuracy``, clustering ``<method>_nmi`` /
    ``<method>_ari`` / ``<method>_clusters`` / ``<method>_noise`` (HDBSCAN's
    parameter chosen on the validation codes), and the denoising errors on a salt-and-pepper corrupted test
    set (``denoise_sse``: reconstruction vs clean, ``noisy_sse``: the corrupted
    input vs clean). Unlabelled data (:attr:`EvalData.labelled`) gets the
    label-free metrics only, and a ``note`` that says which were left out.

    ``progress``, if given, is called with a few words at the start of each
    stage (:func:`evaluation_stages` of them): on a large data set the whole
    takes a minute or more, mostly in the clustering.
    """
    step = progress or _no_progress
    n_test = len(data.x_test)
    step(f"encoding and reconstructing {n_test:,} test samples")
    z_test = codec.encode(data.x_test)
    x_hat = codec.reconstruct(data.x_test)
    step("reconstruction metrics")
    out: dict[str, Any] = dict(reconstruction_metrics(data.x_test, x_hat))
    if data.labelled:
        out.update(_label_metrics(codec, data, z_test, n_labels, seed, cluster_methods, step))
    else:
        out["note"] = (
            "the data has no labels (or one class), so the linear probe and the clustering "
            "scores were left out"
        )
    step(f"denoising {n_test:,} corrupted test samples")
    generator = torch.Generator().manual_seed(seed)
    x_clean = torch.as_tensor(data.x_test)
    noisy = corrupt(x_clean, "salt_pepper", noise_ratio, generator).numpy()
    den = denoising_metrics(data.x_test, noisy, codec.reconstruct(noisy))
    out["denoise_sse"] = den["recon_sse_per_image"]
    out["noisy_sse"] = den["noisy_sse_per_image"]
    out["latent_dim"] = int(z_test.shape[1])
    return out


def _label_metrics(
    codec: Codec,
    data: EvalData,
    z_test: np.ndarray,
    n_labels: int,
    seed: int,
    cluster_methods: tuple[str, ...],
    step: Progress,
) -> dict[str, Any]:
    """The metrics that need labels: the linear probe and the clustering scores."""
    out: dict[str, Any] = {}
    step(f"linear probe (encoding {len(data.x_train):,} training samples)")
    z_train = codec.encode(data.x_train)
    probe = linear_probe(
        z_train, data.y_train, z_test, data.y_test, n_labels=n_labels, random_state=seed
    )
    out["probe_accuracy"] = probe["accuracy"]
    out["probe_labels"] = probe["n_labels"]
    step(f"clustering ({', '.join(cluster_methods)})")
    z_val = codec.encode(data.x_val) if data.x_val is not None else None
    clusters = cluster_scores(
        z_test, data.y_test, methods=cluster_methods, random_state=seed, z_val=z_val
    )
    for method, scores in clusters.items():
        out[f"{method}_nmi"] = scores["nmi"]
        out[f"{method}_ari"] = scores["ari"]
        out[f"{method}_clusters"] = scores["n_clusters_found"]
        out[f"{method}_noise"] = scores["noise_fraction"]
    return out


#: metrics that only mean something for images (structure and peak signal of a picture)
IMAGE_ONLY = ("psnr", "ssim")


def metrics_for_samples(metrics: dict[str, Any], image: bool) -> dict[str, Any]:
    """``metrics`` as shown for data of this kind.

    For other data than images: without PSNR and SSIM, and with ``*_per_image``
    named ``*_per_sample``.
    """
    if image:
        return dict(metrics)
    return {
        k.replace("_per_image", "_per_sample"): v for k, v in metrics.items() if k not in IMAGE_ONLY
    }


__all__ = ["IMAGE_ONLY", "EvalData", "evaluate_codec", "evaluation_stages", "metrics_for_samples"]
