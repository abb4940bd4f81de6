"""Bottlenecks: turn the encoder's output ``h`` into the code ``z`` plus a loss term.

The contract every bottleneck follows:

* ``forward(h) -> (z, aux_loss)``, ``aux_loss`` a scalar tensor on ``h``'s device
  (zero when the bottleneck adds no regularizer);
* ``sample(n, device) -> Tensor | None``: codes drawn from the bottleneck's prior,
  or ``None`` where it has none;
* ``in_features``: how many units the encoder must produce.

New regularizers belong here, not in the training module.
"""

from __future__ import annotations

import torch

from autoencoders.losses import kl_bernoulli
from autoencoders.nn.component import Component

SPARSE_LOSSES = ("kld", "log", "l1")


class Bottleneck(Component):
    """Base class of all bottlenecks."""

    latent_dim: int
    #: whether decoding each unit vector of the code is a meaningful picture
    shows_latent_influence: bool = False

    @property
    def in_features(self) -> int:
        return self.latent_dim

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor | None:
        """Codes drawn from the bottleneck's own prior, or ``None`` where it has none."""
        return None

    def metrics(self) -> dict[str, torch.Tensor]:
        """Detached diagnostics of the last forward pass (e.g. KL, codebook usage) to log."""
        return {}


class IdentityBottleneck(Bottleneck):
    """Passes the code through unchanged and adds no loss.

    Args:
        latent_dim: size of the code.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return h, h.new_zeros(())


class SparseBottleneck(Bottleneck):
    """A sigmoid code whose average activation is pushed towards a small target.

    With ``rho_hat_j`` the batch mean of unit ``j``:

    * ``"kld"``: ``beta * sum_j KL(Bernoulli(sparsity) || Bernoulli(rho_hat_j))``
      (Ng's sparse autoencoder lecture notes);
    * ``"log"``: ``beta * sum_j log(1 + rho_hat_j ** 2)`` (the lecture notebook's
      penalty, smooth and bounded);
    * ``"l1"``: ``beta`` times the batch mean of ``sum_j z_j``.

    Args:
        latent_dim: size of the code.
        loss_type: one of ``"kld"``, ``"log"``, ``"l1"``.
        sparsity: target mean activation for ``"kld"``, in (0, 1).
        beta: weight of the penalty.
    """

    shows_latent_influence = True

    def __init__(
        self,
        latent_dim: int = 20,
        loss_type: str = "kld",
        sparsity: float = 0.25,
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        if loss_type not in SPARSE_LOSSES:
            raise ValueError(f"loss_type must be one of {SPARSE_LOSSES}, got {loss_type!r}")
        if not 0.0 < sparsity < 1.0:
            raise ValueError(f"sparsity must lie strictly between 0 and 1, got {sparsity}")
        self.latent_dim = int(latent_dim)
        self.loss_type = loss_type
        self.sparsity = float(sparsity)
        self.beta = float(beta)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.sigmoid(h)
        return z, self.beta * self.penalty(z)

    def penalty(self, z: torch.Tensor) -> torch.Tensor:
        """The unweighted sparsity penalty of a batch of codes in [0, 1]."""
        rho_hat = z.mean(dim=0)
        if self.loss_type == "kld":
            return kl_bernoulli(self.sparsity, rho_hat)
        if self.loss_type == "log":
            return torch.log1p(rho_hat.pow(2)).sum()
        return z.sum(dim=1).mean()
