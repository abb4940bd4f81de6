"""Anomaly scores of a model: the registry, and how each score is fitted and applied.

:data:`SCORES` is the registry of anomaly scores a fitted model (or the PCA
baseline) offers. Each score is fitted once on normal data (``fit(codec,
x_normal, x_holdout)``), then scores any number of batches (``score(codec, x)``;
higher means more anomalous), so a data set can be scored in a stream. A
*codec* (:mod:`autoencoders.codecs`) has ``encode`` and ``reconstruct`` over
numpy arrays in the model's input shape; the ``feature`` score also needs the
codec's ``model`` (an autoencoder), whose encoder it looks inside.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from autoencoders.anomaly.base import AnomalyScore, is_activation
from autoencoders.anomaly.maps import MapScore
from autoencoders.errors import ConfigError
from autoencoders.evaluation.reconstruction import per_sample_errors

if TYPE_CHECKING:
    from autoencoders.codecs import Codec

log = logging.getLogger(__name__)


def latent_density_scores(
    z_train: np.ndarray, z_test: np.ndarray, n_components: int = 5, random_state: int = 0
) -> np.ndarray:
    """Anomaly scores from the density of codes: a Gaussian mixture fitted to training codes.

    Codes are standardised with the training codes' statistics before the fit.

    Args:
        z_train: Codes of normal training data, shape ``(N, D)``.
        z_test: Codes to score, shape ``(M, D)``.
        n_components: Mixture components (capped at ``N``).
        random_state: Seed of the mixture's initialisation.

    Returns:
        Negative log-likelihood per test code, shape ``(M,)``; higher = more anomalous.
    """
    return CodeDensity(n_components, random_state).fit(z_train).score(z_test)


class CodeDensity:
    """A Gaussian mixture over standardised codes; scores are negative log-likelihoods."""

    def __init__(self, n_components: int = 5, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, z: np.ndarray) -> CodeDensity:
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        self.scaler_ = StandardScaler().fit(z)
        # reg_covar keeps a component's covariance invertible when codes are nearly collinear.
        self.gmm_ = GaussianMixture(
            n_components=max(1, min(self.n_components, len(z))),
            covariance_type="full",
            reg_covar=1e-4,
            random_state=self.random_state,
        ).fit(self.scaler_.transform(z))
        return self

    def score(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
        return -self.gmm_.score_samples(self.scaler_.transform(z))


# --------------------------------------------------------------- score registry
class ReconstructionScore(AnomalyScore):
    """The reconstruction error, summed over features: squared (``sse``) or cross-entropy (``bce``)."""

    def __init__(self, kind: str = "sse") -> None:
        self.kind = kind
        self.name = f"recon-{kind}"

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        return per_sample_errors(x, codec.reconstruct(x), kind=self.kind)


class DensityScore(AnomalyScore):
    """Negative log-likelihood of a sample's code under a Gaussian mixture of the normal codes."""

    name = "density"

    def __init__(self, n_components: int = 5, random_state: int = 0) -> None:
        self.density = CodeDensity(n_components, random_state)

    def fit(
        self, codec: Codec, x_normal: np.ndarray, x_holdout: np.ndarray | None = None
    ) -> DensityScore:
        self.density.fit(codec.encode(x_normal))
        return self

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        return self.density.score(codec.encode(x))


class CombinedScore(AnomalyScore):
    """Code density plus reconstruction error, each as a z-score on normal data.

    The two parts measure different things (a code off the normal manifold, an
    input the decoder cannot reproduce) in incomparable units; standardising
    each on normal data the model did not train on (``x_holdout``, else
    ``x_normal``) weighs them equally.
    """

    name = "combined"

    def __init__(self, n_components: int = 5, random_state: int = 0) -> None:
        self.parts: list[AnomalyScore] = [
            DensityScore(n_components, random_state),
            ReconstructionScore("sse"),
        ]

    def fit(
        self, codec: Codec, x_normal: np.ndarray, x_holdout: np.ndarray | None = None
    ) -> CombinedScore:
        reference = x_normal if x_holdout is None or len(x_holdout) < 2 else x_holdout
        self.stats_: list[tuple[float, float]] = []
        for part in self.parts:
            part.fit(codec, x_normal)
            s = part.score(codec, reference)
            self.stats_.append((float(s.mean()), float(s.std()) or 1.0))
        return self

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        total = np.zeros(len(x))
        for part, (mean, std) in zip(self.parts, self.stats_, strict=True):
            total += (part.score(codec, x) - mean) / std
        return total


class FeatureScore(AnomalyScore):
    """Reconstruction error inside the encoder: RaPP (Kim et al., ICLR 2020), normalised form.

    ``x`` and its reconstruction both go through the encoder; the differences
    of their activations at every hidden layer (and at the input, the plain
    reconstruction error) form one vector per sample. Its squared length after
    centring and whitening with the principal axes of the normal data's
    difference vectors is the score: RaPP's "normalized aggregation along
    pathway", which keeps a layer whose differences are large for every normal
    sample from drowning out the others. Axes with almost no variance are
    dropped, since whitening them would amplify rounding noise.

    Args:
        max_components: most principal axes kept.
        tolerance: axes whose singular value is below ``tolerance`` times the
            largest are dropped.
    """

    name = "feature"

    def __init__(self, max_components: int = 512, tolerance: float = 1e-3) -> None:
        self.max_components = max_components
        self.tolerance = tolerance

    def fit(
        self, codec: Codec, x_normal: np.ndarray, x_holdout: np.ndarray | None = None
    ) -> FeatureScore:
        d = pathway_differences(codec, x_normal)
        n_axes = max(1, min(self.max_components, d.shape[0] - 1, d.shape[1]))
        pca = PCA(n_components=n_axes, svd_solver="auto", random_state=0).fit(d)
        sv = pca.singular_values_
        self.pca_ = pca
        self.keep_ = int(max(1, (sv > self.tolerance * sv[0]).sum())) if sv[0] > 0 else 1
        return self

    def score(self, codec: Codec, x: np.ndarray) -> np.ndarray:
        d = pathway_differences(codec, x)
        pca = self.pca_
        proj = (d - pca.mean_) @ pca.components_[: self.keep_].T
        var = np.maximum(pca.explained_variance_[: self.keep_], 1e-12)
        return (proj**2 / var).sum(axis=1)


def pathway_differences(codec: Codec, x: np.ndarray) -> np.ndarray:
    """Differences between the encoder activations of ``x`` and of its reconstruction.

    The activations are the input itself, the output of every activation
    layer inside the encoder (ReLU and the like), and the encoder's output;
    all flattened and concatenated per sample.

    Raises:
        ConfigError: if the codec is not backed by an autoencoder (PCA has no hidden layers).
    """
    import torch  # here, so the rest of the evaluation suite stays free of torch

    model = getattr(codec, "model", None)
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, torch.nn.Module):
        raise ConfigError(
            "the 'feature' score looks inside an autoencoder's encoder; "
            f"{type(codec).__name__} has none: choose another score"
        )
    batch_size = int(getattr(codec, "batch_size", 1024))
    taps = [m for m in encoder.modules() if is_activation(m)]
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[i : i + batch_size]), device=device)
            a = _activations(encoder, taps, xb)
            b = _activations(encoder, taps, model(xb))
            parts.append(torch.cat([(u - v) for u, v in zip(a, b, strict=True)], 1).cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def _activations(encoder: Any, taps: list[Any], x: Any) -> list[Any]:
    """The input, each tapped layer's output and the encoder's output, flattened, per sample."""
    seen: list[Any] = []
    # Activation layers may run in place, so each output is copied as the hook sees it.
    hooks = [t.register_forward_hook(lambda _m, _i, out: seen.append(out.flatten(1).clone()))
             for t in taps]  # fmt: skip
    try:
        out = encoder(x)
    finally:
        for h in hooks:
            h.remove()
    return [x.flatten(1).float(), *(s.float() for s in seen), out.flatten(1).float()]


#: anomaly score name -> factory of an unfitted score (keyword options allowed)
SCORES: dict[str, Callable[..., AnomalyScore]] = {
    "recon-sse": lambda: ReconstructionScore("sse"),
    "recon-bce": lambda: ReconstructionScore("bce"),
    "density": DensityScore,
    "combined": CombinedScore,
    "feature": FeatureScore,
    # per-pixel maps of images, scored by their maximum or top-k mean (anomaly/maps.py)
    "map-sse": functools.partial(MapScore, "sse"),
    "map-ssim": functools.partial(MapScore, "ssim"),
    "map-feature": functools.partial(MapScore, "feature"),
}
#: the scores that take any sample (rows of a table too); the map scores need images
GLOBAL_SCORES = tuple(name for name in SCORES if not name.startswith("map-"))


def check_score_name(name: Any, label: str = "anomaly score") -> None:
    """Refuses a name that is not a registered score, in one line naming ``label``.

    Raises:
        ConfigError: for an unknown name, listing the registered ones.
    """
    if not isinstance(name, str) or name not in SCORES:
        raise ConfigError(f"unknown {label} {name!r}; choose one of: {', '.join(SCORES)}")


def make_score(name: str, **options: Any) -> AnomalyScore:
    """An unfitted anomaly score by registry name, with its own options.

    Raises:
        ConfigError: for an unknown name (listing the registered ones) or an option
            the score does not take (listing the ones it does).
    """
    check_score_name(name)
    accepted = inspect.signature(SCORES[name]).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = ", ".join(accepted) or "none"
        raise ConfigError(
            f"score_options {unknown} do not apply to score {name!r} (its options: {known})"
        )
    return SCORES[name](**options)


def anomaly_scores(
    name: str,
    codec: Codec,
    x_normal: np.ndarray,
    x: np.ndarray,
    x_holdout: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Scores ``x`` with the registered score ``name``, fitted on normal data.

    Args:
        name: a key of :data:`SCORES`.
        codec: the model, as ``encode``/``reconstruct`` over arrays in its input shape.
        x_normal: normal data the model was trained on (codes for the density).
        x: the samples to score.
        x_holdout: normal data the model did not see, for normalising (optional).
        options: the score's own options, e.g. ``n_components`` of a density.

    Returns:
        One score per sample of ``x``, shape ``(len(x),)``; higher = more anomalous.
    """
    return make_score(name, **options).fit(codec, x_normal, x_holdout).score(codec, x)
