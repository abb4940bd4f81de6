"""Clustering of codes, scored against the true labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import DBSCAN, KMeans, estimate_bandwidth
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from autoencoders.evaluation._arrays import subsample_index

log = logging.getLogger(__name__)

#: DBSCAN neighbourhood size, and the quantile of k-NN distances taken as its radius
_DBSCAN_MIN_SAMPLES = 10
_DBSCAN_QUANTILE = 0.7
#: points used to estimate the MeanShift bandwidth, and most seeds it starts from
_BANDWIDTH_SAMPLES = 1000
_MEANSHIFT_SEEDS = 500
_MEANSHIFT_MAX_ITER = 300

METHODS = ("kmeans", "dbscan", "meanshift")


def dbscan_eps(z: np.ndarray, min_samples: int = _DBSCAN_MIN_SAMPLES) -> float:
    """A DBSCAN radius read off the data: a quantile of distances to the ``min_samples``-th neighbour.

    With the 0.7 quantile about 70% of the points are core points, whatever the
    scale of the data.

    Args:
        z: Points, shape ``(N, D)``.
        min_samples: Neighbourhood size (the point itself counts, as in DBSCAN).

    Returns:
        A positive radius.
    """
    k = min(min_samples, len(z))
    dist, _ = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    eps = float(np.quantile(dist[:, -1], _DBSCAN_QUANTILE))
    return eps if eps > 0 else 1e-12


def mean_shift(z: np.ndarray, bandwidth: float, random_state: int = 0) -> np.ndarray:
    """Flat-kernel mean shift, vectorised over seeds.

    The algorithm of scikit-learn's ``MeanShift`` (flat kernel, modes found from
    seeds, near-duplicate modes merged, every point given to its nearest mode), with
    all seeds moved at once in numpy: sklearn's per-seed loop takes minutes on a few
    thousand codes at the small bandwidths that separate classes. Seeds are a seeded
    subsample of at most 500 points.

    Args:
        z: Points, shape ``(N, D)``.
        bandwidth: Kernel radius.
        random_state: Seed of the seed subsample.

    Returns:
        Cluster label per point, shape ``(N,)``.
    """
    seeds = z[subsample_index(len(z), _MEANSHIFT_SEEDS, random_state)].copy()
    sq_norms = (z**2).sum(axis=1)
    radius2 = bandwidth**2
    counts = np.ones(len(seeds))
    for _ in range(_MEANSHIFT_MAX_ITER):
        d2 = (seeds**2).sum(axis=1)[:, None] + sq_norms[None, :] - 2.0 * seeds @ z.T
        inside = d2 <= radius2
        counts = inside.sum(axis=1)
        moved = np.where(counts[:, None] > 0, (inside @ z) / np.maximum(counts, 1)[:, None], seeds)
        shift = np.linalg.norm(moved - seeds, axis=1).max()
        seeds = moved
        if shift < 1e-3 * bandwidth:
            break
    # keep the densest mode of every group of modes closer than the bandwidth
    order = np.argsort(-counts, kind="stable")
    modes: list[np.ndarray] = []
    for i in order:
        if counts[i] == 0:
            continue
        if all(np.sum((seeds[i] - m) ** 2) > radius2 for m in modes):
            modes.append(seeds[i])
    if not modes:
        return np.zeros(len(z), dtype=int)
    centres = np.stack(modes)
    _, nearest = NearestNeighbors(n_neighbors=1).fit(centres).kneighbors(z)
    return nearest[:, 0]


def _fit_predict(method: str, z: np.ndarray, n_clusters: int, random_state: int) -> np.ndarray:
    if method == "kmeans":
        return KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state).fit_predict(z)
    if method == "dbscan":
        min_samples = min(_DBSCAN_MIN_SAMPLES, len(z))
        eps = dbscan_eps(z, min_samples)
        return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(z)
    if method == "meanshift":
        # a neighbourhood of about half a cluster's share of the points
        bandwidth = estimate_bandwidth(
            z,
            quantile=min(0.3, 0.5 / max(n_clusters, 1)),
            n_samples=min(_BANDWIDTH_SAMPLES, len(z)),
            random_state=random_state,
        )
        return mean_shift(z, max(float(bandwidth), 1e-12), random_state)
    raise ValueError(f"unknown clustering method {method!r}; expected one of {METHODS}")


def cluster_scores(
    z: np.ndarray,
    y: np.ndarray,
    n_clusters: int = 10,
    methods: Sequence[str] = METHODS,
    random_state: int = 0,
    max_samples: int = 5000,
) -> dict[str, dict[str, float | int]]:
    """Clusters standardised codes with several methods and compares with the labels.

    K-means uses every code; DBSCAN and MeanShift, which scale worse, use a seeded
    subsample of at most ``max_samples`` codes. DBSCAN's radius comes from the data
    (median distance to the 10th nearest neighbour), so it works at any scale; its
    noise points form one extra group when scored. MeanShift's bandwidth comes from
    ``estimate_bandwidth`` on a subsample of 1,000 codes, at the quantile
    ``0.5 / n_clusters`` (about half a class's worth of neighbours); see
    :func:`mean_shift` for the algorithm.

    Args:
        z: Codes, shape ``(N, D)``.
        y: True labels, shape ``(N,)``.
        n_clusters: Number of clusters for K-means.
        methods: Any of ``"kmeans"``, ``"dbscan"``, ``"meanshift"``.
        random_state: Seed of K-means, of the subsample and of the bandwidth estimate.
        max_samples: Most codes given to DBSCAN and MeanShift.

    Returns:
        For every method, a dict with ``nmi`` (normalised mutual information), ``ari``
        (adjusted Rand index), ``n_clusters_found`` (noise excluded) and ``n_samples``.

    Raises:
        ValueError: If a method is unknown.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown clustering method(s) {unknown}; expected some of {METHODS}")
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    y = np.asarray(y)
    zs = StandardScaler().fit_transform(z)
    sub = subsample_index(len(zs), max_samples, random_state)
    out: dict[str, dict[str, float | int]] = {}
    for method in methods:
        idx = np.arange(len(zs)) if method == "kmeans" else sub
        labels = _fit_predict(method, zs[idx], n_clusters, random_state)
        found = len(set(labels.tolist()) - {-1})
        out[method] = {
            "nmi": float(normalized_mutual_info_score(y[idx], labels)),
            "ari": float(adjusted_rand_score(y[idx], labels)),
            "n_clusters_found": int(found),
            "n_samples": len(idx),
        }
        log.debug("%s: %d clusters, NMI %.3f", method, found, out[method]["nmi"])
    return out
