"""Scoring a folder of the MVTec AD layout: the truth to measure against, and the F1 threshold.

The ``score`` command calls these when its data has the layout of
:mod:`autoencoders.data.sources.mvtec` (or labels with a ``good`` class):

* :func:`ground_truth`: which scored images are anomalous (their folder is not
  ``good``) and, where the layout has ``ground_truth/``, their masks at the
  maps' size;
* :func:`validation_threshold`: the F1-optimal threshold on the layout's
  ``validation/`` folder, where it holds labelled anomalies;
* :func:`score_images`: image scores with their maps, one member, in batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from autoencoders.anomaly.metrics import f1_threshold
from autoencoders.data.sources.mvtec import GOOD, VALIDATION, has_masks, read_masks, read_split
from autoencoders.errors import CheckpointError, ConfigError


def ground_truth(
    root: Path | None,
    labels: np.ndarray | None,
    files: np.ndarray | None,
    map_shape: tuple[int, int],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Which scored images are anomalous, and their masks ``(N, H, W)`` (None where unknown).

    Labels name classes; an image is anomalous if its class is not ``good``, and
    labels say nothing where no class is called ``good``. Masks come from the
    layout's ``ground_truth/`` folder, resized as the images were.

    Raises:
        DataError: naming a defect image's missing mask, or one of another size.
    """
    anomalous = None
    if labels is not None and GOOD in set(np.asarray(labels, dtype=object).tolist()):
        anomalous = np.asarray(labels, dtype=object) != GOOD
    masks = None
    if root is not None and files is not None and has_masks(root):
        masks = read_masks(root, [str(f) for f in files], map_shape)
    return anomalous, masks


def score_images(member: Any, batches: Iterable[np.ndarray]) -> tuple[np.ndarray, ...]:
    """A lone member's image scores, maps, and the images and reconstructions, over ``batches``.

    Raises:
        ConfigError: for a score that draws no map.
    """
    scorer = member.scorer
    if not hasattr(scorer, "score_and_maps"):
        raise ConfigError(
            f"--maps draws the maps of a map score; {scorer.name!r} has none: pass --score "
            "map-sse, map-ssim or map-feature"
        )
    xs, recons, scores, maps = [], [], [], []
    for batch in batches:
        s, m = scorer.score_and_maps(member.codec, batch)
        xs.append(batch)
        recons.append(np.asarray(member.codec.reconstruct(batch)).reshape(batch.shape))
        scores.append(s)
        maps.append(m)
    if not xs:
        raise ConfigError("there are no images to draw maps of; check --dataset and --split")
    return tuple(np.concatenate(p) for p in (scores, maps, xs, recons))


def validation_threshold(
    root: Path, ensemble: Any, run: dict, shape: tuple[int, ...], scaler: Any
) -> tuple[float, str] | None:
    """The F1-optimal threshold on ``root/validation`` where it holds good and defect images.

    The threshold lies halfway between the lowest score it flags and the highest it
    does not, so ``score > threshold`` flags what F1 chose. None without such a folder.

    Raises:
        CheckpointError: for validation images of another shape than the model takes.
    """
    from autoencoders.run_config import parse_image_size

    folder = root / VALIDATION
    if not folder.is_dir():
        return None
    size = run.get("image_size")
    split = read_split(
        root,
        VALIDATION,
        str(run.get("channels_mode") or "auto"),
        parse_image_size(size) if size is not None else None,
    )
    anomalous = split.y.numpy() != 0
    if not anomalous.any() or anomalous.all():
        return None
    x = split.x.numpy().astype(np.float32) / split.scale
    if tuple(x.shape[1:]) != tuple(shape):
        raise CheckpointError(
            f"{folder}: images of shape {tuple(x.shape[1:])}, but the model takes {shape}; "
            "give validation images of the training images' size"
        )
    if scaler is not None:
        x = scaler.apply(x)
    scores = ensemble.score(x)
    best, f1 = f1_threshold(scores, anomalous)
    below = scores[scores < best]
    threshold = (best + below.max()) / 2 if len(below) else float(np.nextafter(best, -np.inf))
    return float(threshold), (
        f"F1-optimal on {len(x)} labelled images of {folder} ({int(anomalous.sum())} anomalous, "
        f"F1 {f1:.3f})"
    )
