"""Anomaly scores, in one place.

What each score is, how several members' scores combine, and scoring
checkpoints in batches with a threshold:

* :mod:`.scores`: the registry :data:`SCORES` (reconstruction error, code
  density, both combined, hidden-layer differences) and :func:`make_score`;
* :mod:`.ensembles`: members' scores standardised on normal data and averaged;
* :mod:`.checkpoints`: checkpoints as scoring members, samples read in batches,
  the reference data and the default threshold (``autoencoders score``);
* :mod:`.maps`: per-pixel anomaly maps of images (``map-sse``, ``map-ssim``,
  ``map-feature`` in :data:`SCORES`) and :class:`~.maps.AnomalyMapper`, the
  map and image score as one torch module; :mod:`.base` the score interface;
* :mod:`.metrics`: image AUROC, best F1, pixel AUROC and AUPRO; :mod:`.inspection`:
  the labels, masks and F1 threshold of an MVTec-layout folder; :mod:`.map_pages`:
  the ``--maps`` folder's pictures and page; :mod:`.export`: ONNX and TorchScript
  files of a map score (``autoencoders export``); :mod:`.defects`: synthetic
  defects with exact masks, for benchmarks and tests.

The command (:mod:`autoencoders.cli.score`), the scikit-learn detectors
(:mod:`autoencoders.detector`) and the bake-off all score through here; how
well scores separate anomalies (ROC) is :mod:`autoencoders.evaluation.roc`'s.
"""

from autoencoders.anomaly.ensembles import combine_scores, ensemble_scores, standardise_scores
from autoencoders.anomaly.scores import (
    GLOBAL_SCORES,
    SCORES,
    AnomalyScore,
    anomaly_scores,
    check_score_name,
    latent_density_scores,
    make_score,
)

__all__ = [
    "GLOBAL_SCORES",
    "SCORES",
    "AnomalyScore",
    "anomaly_scores",
    "check_score_name",
    "combine_scores",
    "ensemble_scores",
    "latent_density_scores",
    "make_score",
    "standardise_scores",
]
