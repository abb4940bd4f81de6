"""Evaluation suite over numpy arrays.

Every function here takes arrays (inputs, reconstructions, codes, scores, labels),
never a model, so the PCA baseline and every autoencoder are scored by the same code.
:mod:`.suite` runs them all on one codec (:mod:`autoencoders.codecs`); the
anomaly scores are :mod:`autoencoders.anomaly`'s, their ROC analysis is :mod:`.roc`.
"""

from autoencoders.evaluation.clustering import cluster_scores
from autoencoders.evaluation.denoising import denoising_metrics
from autoencoders.evaluation.embedding import embedding_figure, project_2d
from autoencoders.evaluation.figures import (
    figure_to_base64_png,
    image_grid,
    interpolation_strip,
    reconstruction_figure,
    roc_figure,
    save_figure,
)
from autoencoders.evaluation.probe import linear_probe
from autoencoders.evaluation.reconstruction import (
    per_sample_errors,
    reconstruction_metrics,
    ssim_per_image,
)
from autoencoders.evaluation.roc import held_out_class_auc, one_class_auc, roc_auc, roc_curve_points

# GIFs are written by the images module; the name stays here for the bake-off's figures.
from autoencoders.images import save_gif

__all__ = [
    "cluster_scores",
    "denoising_metrics",
    "embedding_figure",
    "figure_to_base64_png",
    "held_out_class_auc",
    "image_grid",
    "interpolation_strip",
    "linear_probe",
    "one_class_auc",
    "per_sample_errors",
    "project_2d",
    "reconstruction_figure",
    "reconstruction_metrics",
    "roc_auc",
    "roc_curve_points",
    "roc_figure",
    "save_figure",
    "save_gif",
    "ssim_per_image",
]
