"""A model, or PCA, as numpy in and numpy out.

This is the one view of a model that the evaluation, the anomaly scores and the
commands take.

A *codec* has ``encode`` (samples to codes) and ``reconstruct`` (samples to
samples), and here ``decode`` (codes to samples), all over numpy arrays in the
model's input shape. :class:`ModelCodec` wraps a trained autoencoder (eval mode,
no gradients, large batches); :class:`PCACodec` is the PCA baseline every
autoencoder is compared with, behind the same verbs, so both are scored by the
same code (:func:`autoencoders.evaluation.suite.evaluate_codec`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from sklearn.decomposition import PCA

if TYPE_CHECKING:
    from autoencoders.module import AutoEncoder

log = logging.getLogger(__name__)

#: encoding batch size: large, since no gradients are kept
EVAL_BATCH = 2048


class Codec(Protocol):
    """Anything with ``encode`` and ``reconstruct`` over numpy arrays in the model's input shape."""

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def reconstruct(self, x: np.ndarray) -> np.ndarray: ...


class ModelCodec:
    """An autoencoder seen as numpy in, numpy out (eval mode, no gradients, big batches)."""

    def __init__(self, model: AutoEncoder, batch_size: int = EVAL_BATCH) -> None:
        self.model = model.eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def _map(self, fn: Any, x: np.ndarray) -> np.ndarray:
        device = self.model.device
        parts = [
            fn(torch.as_tensor(x[i : i + self.batch_size], device=device)).float().cpu().numpy()
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(parts)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._map(self.model.encode, x)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self._map(self.model, x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self._map(self.model.decode, z)


class PCACodec:
    """Principal component analysis as a linear "autoencoder": the baseline.

    Fitted on samples of any shape (flattened inside). Decoded samples are clipped
    to [0, 1]: a linear reconstruction can leave that range, and a valid intensity
    keeps the binary cross-entropy against the input defined.

    Args:
        n_components: code size (capped, with a warning, at what the data allows).
        random_state: seed of the randomised SVD solver, where scikit-learn picks it.
    """

    def __init__(self, n_components: int, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.pca: PCA | None = None
        self.shape: tuple[int, ...] = ()

    def fit(self, x: np.ndarray) -> PCACodec:
        """Fits the components to the samples ``x``, shape ``(N, *shape)``."""
        self.shape = tuple(x.shape[1:])
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        k = min(self.n_components, *flat.shape)
        if k < self.n_components:
            log.warning("PCA: %d components requested, data allows %d", self.n_components, k)
        self.pca = PCA(n_components=k, random_state=self.random_state).fit(flat)
        return self

    def _fitted(self) -> PCA:
        if self.pca is None:
            raise RuntimeError("PCACodec is not fitted; call fit() first")
        return self.pca

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of the samples ``x``, shape ``(N, n_components)``, float32."""
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return self._fitted().transform(flat).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Samples from codes, in [0, 1], float32, of the fitted samples' shape."""
        x_hat = self._fitted().inverse_transform(np.asarray(z, dtype=np.float64))
        return np.clip(x_hat, 0.0, 1.0).astype(np.float32).reshape(len(z), *self.shape)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))

    def sample(self, n: int, z_train: np.ndarray, seed: int = 0) -> np.ndarray:
        """Decodes draws from a Gaussian fitted to training codes (PCA's "generator")."""
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(z_train.mean(0), np.cov(z_train, rowvar=False), size=n)
        return self.decode(z.astype(np.float32))


def interpolate_codes(codec: Any, x_a: np.ndarray, x_b: np.ndarray, steps: int = 10) -> np.ndarray:
    """Decodes ``steps`` evenly spaced points on the line between the codes of two inputs."""
    z = codec.encode(np.stack([x_a, x_b]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return codec.decode(((1 - weights) * z[0] + weights * z[1]).astype(np.float32))


__all__ = ["EVAL_BATCH", "Codec", "ModelCodec", "PCACodec", "interpolate_codes"]
