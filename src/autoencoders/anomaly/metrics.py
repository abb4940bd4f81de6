"""How well scores and maps find defects: image- and pixel-level metrics, and the F1 threshold.

* ``image_auroc``: ROC AUC of the image scores against the image labels;
* ``image_f1max``: the best F1 over all thresholds of the image scores;
* ``pixel_auroc``: ROC AUC of every pixel's map value against the masks;
* ``aupro``: the area under the per-region overlap (PRO) curve up to a pixel
  false-positive rate of 0.3, divided by 0.3 so that 1 is perfect (Bergmann et
  al., MVTec AD, IJCV 2021). Each connected defect region weighs the same, so a
  small defect counts as much as a large one, which pixel AUROC does not do.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score

#: the false-positive rate up to which ``aupro`` integrates
PRO_FPR_LIMIT = 0.3


def image_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of image scores (higher: more anomalous) against labels (True: anomalous)."""
    return float(
        roc_auc_score(np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64))
    )


def f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold of the best F1 (flagging scores at or above it) and that F1.

    Raises:
        ValueError: if the labels hold no anomaly (F1 is undefined).
    """
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        raise ValueError("F1 needs at least one anomalous sample")
    precision, recall, thresholds = precision_recall_curve(labels, np.asarray(scores, float))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=precision + recall > 0,
    )
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def image_f1max(scores: np.ndarray, labels: np.ndarray) -> float:
    """The best F1 of image scores against labels, over every threshold."""
    return f1_threshold(scores, labels)[1]


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """ROC AUC of every pixel's map value against the masks (True: defect)."""
    return float(roc_auc_score(np.asarray(masks, dtype=bool).ravel(), np.asarray(maps).ravel()))


def pro_curve(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-region overlap against the pixel false-positive rate, over every threshold.

    Lowering the threshold past a pixel adds ``1 / (regions * region size)`` to the
    mean overlap if the pixel lies in a defect region, else ``1 / normal pixels``
    to the false-positive rate; so the whole curve is two cumulative sums over the
    pixels in falling order of their map values. Tied values form one point.

    Returns:
        ``(fpr, pro)``, both rising from 0 to 1, starting at (0, 0).

    Raises:
        ValueError: for masks without any defect, or without any normal pixel.
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    regions = np.zeros(masks.shape, dtype=np.int64)
    count = 0
    for i, mask in enumerate(masks):  # regions are connected within one image (8-neighbours)
        labelled, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions[i] = np.where(labelled > 0, labelled + count, 0)
        count += n
    normal = int((~masks).sum())
    if count == 0 or normal == 0:
        raise ValueError("the PRO curve needs defect pixels and normal pixels")
    sizes = np.bincount(regions.ravel(), minlength=count + 1).astype(np.float64)
    region = regions.ravel()
    pro_step = np.where(region > 0, 1.0 / (count * sizes[region]), 0.0)
    fpr_step = np.where(region == 0, 1.0 / normal, 0.0)
    order = np.argsort(-maps.ravel(), kind="stable")
    values = maps.ravel()[order]
    pro, fpr = np.cumsum(pro_step[order]), np.cumsum(fpr_step[order])
    last = np.r_[values[1:] != values[:-1], True]  # the end of each run of tied values
    return np.r_[0.0, fpr[last]], np.r_[0.0, pro[last]]


def aupro(maps: np.ndarray, masks: np.ndarray, limit: float = PRO_FPR_LIMIT) -> float:
    """The area under the PRO curve up to false-positive rate ``limit``, divided by ``limit``."""
    fpr, pro = pro_curve(maps, masks)
    pro_at_limit = float(np.interp(limit, fpr, pro))
    keep = fpr < limit
    x = np.r_[fpr[keep], limit]
    y = np.r_[pro[keep], pro_at_limit]
    return float(np.trapezoid(y, x) / limit)


def detection_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    maps: np.ndarray | None = None,
    masks: np.ndarray | None = None,
) -> dict[str, float | None]:
    """The four metrics, each None where the data cannot give it (one class only, no masks)."""
    labels = np.asarray(labels, dtype=bool)
    both = bool(labels.any() and (~labels).any())
    out: dict[str, float | None] = {
        "image_auroc": image_auroc(scores, labels) if both else None,
        "image_f1max": image_f1max(scores, labels) if labels.any() else None,
        "pixel_auroc": None,
        "aupro": None,
    }
    if maps is not None and masks is not None and masks.any() and (~masks).any():
        out["pixel_auroc"] = pixel_auroc(maps, masks)
        out["aupro"] = aupro(maps, masks)
    return out
