"""The PCA baseline every autoencoder is compared with."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.decomposition import PCA

log = logging.getLogger(__name__)


class PCABaseline:
    """Principal component analysis as a linear "autoencoder" over flat inputs.

    Args:
        n_components: Code size (capped at what the training data allows).
        random_state: Seed of the randomised SVD solver, where sklearn picks it.
    """

    def __init__(self, n_components: int, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.pca: PCA | None = None

    def fit(self, x_flat: np.ndarray) -> PCABaseline:
        """Fits the principal components.

        Args:
            x_flat: Training inputs, shape ``(N, F)``.

        Returns:
            ``self``.
        """
        x_flat = np.asarray(x_flat, dtype=np.float64)
        k = min(self.n_components, *x_flat.shape)
        if k < self.n_components:
            log.warning("PCA: %d components requested, data allows %d", self.n_components, k)
        self.pca = PCA(n_components=k, random_state=self.random_state).fit(x_flat)
        return self

    def _fitted(self) -> PCA:
        if self.pca is None:
            raise RuntimeError("PCABaseline is not fitted; call fit() first")
        return self.pca

    def encode(self, x_flat: np.ndarray) -> np.ndarray:
        """Projects inputs onto the components.

        Args:
            x_flat: Inputs, shape ``(N, F)``.

        Returns:
            Codes, shape ``(N, n_components)``, float32.
        """
        z = self._fitted().transform(np.asarray(x_flat, dtype=np.float64))
        return z.astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Maps codes back to input space, clipped to [0, 1].

        The linear reconstruction can leave [0, 1]; clipping keeps it a valid
        intensity so the binary cross-entropy against the input is defined.

        Args:
            z: Codes, shape ``(N, n_components)``.

        Returns:
            Reconstructions, shape ``(N, F)``, float32 in [0, 1].
        """
        x_hat = self._fitted().inverse_transform(np.asarray(z, dtype=np.float64))
        return np.clip(x_hat, 0.0, 1.0).astype(np.float32)
