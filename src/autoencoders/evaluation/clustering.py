"""Clustering of codes, scored against the true labels.

Two methods: k-means with the true number of classes, and a density method
that finds the number of clusters itself. The density method is UMAP (to at most
5 dimensions) followed by scikit-learn's ``HDBSCAN``, the usual recipe for
clustering learned embeddings (UMAP's documentation, "Using UMAP for
clustering"). HDBSCAN on the raw codes marks most points as noise once the code
has more than a few dimensions, and DBSCAN or MeanShift with a fixed rule for
their radius measured the rule rather than the codes (NMI 0.02-0.12 for every
model, PCA included).

HDBSCAN's one parameter, the smallest cluster size, is chosen on *validation*
codes, without labels: the candidate size whose clustering has the best
silhouette, times the share of points it does not call noise. Test labels only
ever score the final clustering.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from autoencoders.evaluation.arrays import subsample_index

log = logging.getLogger(__name__)

METHODS = ("kmeans", "hdbscan")
#: smallest-cluster sizes tried, as shares of the points clustered
CLUSTER_SIZE_SHARES = (0.005, 0.01, 0.02, 0.04)
#: UMAP settings for clustering (not for pictures): tight clumps, a few dimensions
_UMAP_DIMS = 5
_UMAP_NEIGHBOURS = 15
#: most validation codes the cluster size is chosen on
_CHOICE_SAMPLES = 2000


def embed_for_clustering(z: np.ndarray, random_state: int = 0) -> np.ndarray:
    """Standardised codes mapped by UMAP to at most 5 dimensions (codes of <= 5 units: as they are)."""
    zs = StandardScaler().fit_transform(np.asarray(z, dtype=np.float64))
    if zs.shape[1] <= _UMAP_DIMS or len(zs) <= _UMAP_NEIGHBOURS + 1:
        return zs
    from autoencoders.evaluation.embedding import load_umap

    umap = load_umap()  # slow to import and compile (numba); only the density method needs it

    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": wanted
        warnings.simplefilter("ignore", UserWarning)
        reducer = umap.UMAP(
            n_components=_UMAP_DIMS,
            n_neighbors=_UMAP_NEIGHBOURS,
            min_dist=0.0,
            random_state=random_state,
        )
        return np.asarray(reducer.fit_transform(zs), dtype=np.float64)


#: HDBSCAN's smallest cluster; with fewer than two of them' worth of codes it is left out
MIN_CLUSTER_SIZE = 5


def _hdbscan(e: np.ndarray, share: float) -> np.ndarray:
    size = max(MIN_CLUSTER_SIZE, round(share * len(e)))
    return HDBSCAN(min_cluster_size=size, copy=True).fit_predict(e)


def cluster_quality(e: np.ndarray, labels: np.ndarray) -> float:
    """Label-free quality of a clustering: silhouette of the clustered points times their share."""
    kept = labels != -1
    if len(set(labels[kept].tolist())) < 2:
        return -1.0
    return float(silhouette_score(e[kept], labels[kept])) * float(kept.mean())


def choose_cluster_share(z_val: np.ndarray, random_state: int = 0) -> float:
    """The smallest-cluster share (of :data:`CLUSTER_SIZE_SHARES`) that clusters ``z_val`` best."""
    e = embed_for_clustering(z_val, random_state)
    quality = {share: cluster_quality(e, _hdbscan(e, share)) for share in CLUSTER_SIZE_SHARES}
    log.debug("HDBSCAN share -> quality on validation codes: %s", quality)
    return max(quality, key=lambda share: quality[share])


def density_clusters(
    z: np.ndarray, share: float, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN labels of ``z`` (-1: noise), and the embedding they were found in."""
    e = embed_for_clustering(z, random_state)
    return _hdbscan(e, share), e


def cluster_scores(
    z: np.ndarray,
    y: np.ndarray,
    n_clusters: int | None = None,
    methods: Sequence[str] = METHODS,
    random_state: int = 0,
    max_samples: int = 5000,
    z_val: np.ndarray | None = None,
) -> dict[str, dict[str, float | int]]:
    """Clusters codes with k-means and HDBSCAN and compares the clusters with the labels.

    K-means uses every standardised code. HDBSCAN uses a seeded subsample of at
    most ``max_samples`` codes (UMAP scales worse), with its cluster size chosen
    on ``z_val`` (default: on ``z`` itself, still without labels). Its noise
    points count as one more group in NMI and ARI, so a clustering that calls
    everything noise scores 0.

    Args:
        z: Codes, shape ``(N, D)``.
        y: True labels, shape ``(N,)``.
        n_clusters: Number of clusters for k-means (default: the number of classes
            in ``y``, at most one per code).
        methods: Any of ``"kmeans"``, ``"hdbscan"``.
        random_state: Seed of k-means, of the subsample and of UMAP.
        max_samples: Most codes given to HDBSCAN.
        z_val: Validation codes to choose HDBSCAN's cluster size on.

    Returns:
        For every method: ``nmi``, ``ari``, ``n_clusters_found`` (noise excluded),
        ``noise_fraction`` and ``n_samples``; HDBSCAN also ``cluster_share``. HDBSCAN
        is left out where fewer than ten codes are given (or to choose its size on).

    Raises:
        ValueError: If a method is unknown.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown clustering method(s) {unknown}; expected some of {METHODS}")
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    y = np.asarray(y)
    out: dict[str, dict[str, float | int]] = {}
    for method in methods:
        extra: dict[str, float | int] = {}
        if method == "kmeans":
            idx = np.arange(len(z))
            zs = StandardScaler().fit_transform(z)
            k = n_clusters or len(np.unique(y[y >= 0])) or 1
            labels = KMeans(n_clusters=min(k, len(z)), n_init=10, random_state=random_state)
            labels = labels.fit_predict(zs)
        else:
            idx = subsample_index(len(z), max_samples, random_state)
            fit_on = z[idx] if z_val is None else np.asarray(z_val, dtype=np.float64)
            if min(len(idx), len(fit_on)) < 2 * MIN_CLUSTER_SIZE:  # no two clusters to find
                log.info("HDBSCAN left out: %d codes to cluster, %d to choose its cluster "
                         "size on; it needs %d of each", len(idx), len(fit_on),
                         2 * MIN_CLUSTER_SIZE)  # fmt: skip
                continue
            # the share is a property of the code, so a few thousand codes choose it
            fit_on = fit_on[subsample_index(len(fit_on), _CHOICE_SAMPLES, random_state)]
            share = choose_cluster_share(fit_on.reshape(len(fit_on), -1), random_state)
            labels, _ = density_clusters(z[idx], share, random_state)
            extra["cluster_share"] = share
        out[method] = {
            "nmi": float(normalized_mutual_info_score(y[idx], labels)),
            "ari": float(adjusted_rand_score(y[idx], labels)),
            "n_clusters_found": len(set(labels.tolist()) - {-1}),
            "noise_fraction": float(np.mean(labels == -1)),
            "n_samples": len(idx),
            **extra,
        }
        log.debug("%s: %d clusters, NMI %.3f", method, out[method]["n_clusters_found"],
                  out[method]["nmi"])  # fmt: skip
    return out
