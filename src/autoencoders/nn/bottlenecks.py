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

from collections.abc import Callable

import torch
from torch import nn

from autoencoders.choices import SPARSE_LOSSES
from autoencoders.losses import kl_bernoulli, kl_normal

#: where to put sampled codes (None: the module's device)
Device = torch.device | str | None
#: a random-number generator for reproducible samples (None: torch's global one)
Generator = torch.Generator | None


class Bottleneck(nn.Module):
    """Base class of all bottlenecks."""

    latent_dim: int
    #: whether decoding each unit vector of the code is a meaningful picture
    shows_latent_influence: bool = False

    @property
    def in_features(self) -> int:
        return self.latent_dim

    def sample(
        self, n: int, device: Device = None, *, generator: Generator = None
    ) -> torch.Tensor | None:
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
        latent_dim: int,
        loss_type: str,
        sparsity: float,
        beta: float,
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


class VariationalBottleneck(Bottleneck):
    """The reparameterised Gaussian code of a (beta-)variational autoencoder.

    The encoder produces ``2 * latent_dim`` values per sample: the mean ``mu``
    and the log-variance ``log_var`` of the posterior ``q(z | x)``. In training
    ``z = mu + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``; in eval mode
    ``z = mu`` (the posterior mean), so codes and reconstructions are
    deterministic. The loss term is
    ``beta * warmup * KL(q(z | x) || N(0, I))`` (per sample, averaged over the
    batch), where ``warmup`` rises linearly from 0 to 1 over the first
    ``kl_warmup_steps`` training steps (1 throughout when that is 0).

    Args:
        latent_dim: size of the code.
        beta: weight of the KL term (1: the VAE; above 1: a beta-VAE that trades
            reconstruction for a more regular code).
        kl_warmup_steps: training steps over which the KL weight ramps up.

    Shape:
        ``h: (B, 2 * latent_dim) -> z: (B, latent_dim)``
    """

    def __init__(self, latent_dim: int, beta: float = 1.0, kl_warmup_steps: int = 0) -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f"beta must not be negative, got {beta}")
        if kl_warmup_steps < 0:
            raise ValueError(f"kl_warmup_steps must not be negative, got {kl_warmup_steps}")
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self._last: dict[str, torch.Tensor] = {}

    @property
    def in_features(self) -> int:
        return 2 * self.latent_dim

    def warmup_factor(self) -> torch.Tensor:
        """The KL weight's ramp (0 to 1) at the current training step."""
        if self.kl_warmup_steps == 0:
            return torch.ones((), device=self.steps.device)
        return (self.steps.float() / self.kl_warmup_steps).clamp(max=1.0)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = h.chunk(2, dim=1)
        # Bounding log_var keeps exp() finite early in training without changing
        # any sensible posterior (std between 2e-9 and 2e4).
        log_var = log_var.clamp(-40.0, 20.0)
        if self.training:
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        else:
            z = mu
        kl = kl_normal(mu, log_var)
        weight = self.warmup_factor()
        if self.training and torch.is_grad_enabled():
            self.steps.add_(1)
        self._last = {"kl": kl.detach(), "kl_weight": (self.beta * weight).detach()}
        return z, self.beta * weight.to(kl.dtype) * kl

    def sample(self, n: int, device: Device = None, *, generator: Generator = None) -> torch.Tensor:
        """``n`` codes from the prior ``N(0, I)``.

        Args:
            n: number of codes.
            device: where to put them (default: this module's device).
            generator: random-number generator for reproducible draws.
        """
        return _draw(
            lambda dev: torch.randn(n, self.latent_dim, device=dev, generator=generator),
            device or self.steps.device,
            generator,
        )

    def metrics(self) -> dict[str, torch.Tensor]:
        """``kl`` (unweighted, per sample) and ``kl_weight`` (beta times the warm-up factor)."""
        return dict(self._last)


def _draw(
    make: Callable[[torch.device], torch.Tensor],
    device: torch.device | str,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Calls ``make`` on the generator's device (if any), then moves the result to ``device``."""
    where = generator.device if generator is not None else torch.device(device)
    return make(where).to(device)


class VectorQuantizer(Bottleneck):
    """Vector quantisation (VQ-VAE): each group of the code snaps to its nearest codebook entry.

    The encoder's output of ``latent_dim`` values is split into
    ``latent_dim // code_dim`` groups of ``code_dim`` values; each group is
    replaced by the nearest of ``num_codes`` learned vectors (Euclidean
    distance). Gradients pass straight through the rounding to the encoder.

    Loss terms (summed over the code, averaged over the batch):

    * ``ema=False``: ``||sg(h) - e||^2 + commitment * ||h - sg(e)||^2``, the
      first term moving the codebook towards the encoder outputs by gradient;
    * ``ema=True``: only the commitment term; the codebook is a buffer moved by
      exponential moving averages of the assigned encoder outputs (``decay``).

    To keep the whole codebook in use, the codebook is initialised from the
    first training batch's encoder outputs, and any code not chosen for
    ``dead_after`` training steps is restarted at a random encoder output
    of the current batch.

    :meth:`sample` assumes a *uniform* prior over codes (every group drawn
    independently); a learned prior over code indices would generate better
    pictures.

    Args:
        latent_dim: size of the code; divisible by ``code_dim``.
        num_codes: number of codebook entries.
        code_dim: size of each codebook entry (and group).
        commitment: weight of the commitment term.
        ema: update the codebook by moving averages instead of gradients.
        decay: the moving averages' decay (``ema=True``).
        dead_after: training steps without use after which a code is restarted
            (0: never restart).
        usage_window: training steps over which ``codes_used`` and ``perplexity``
            are measured.

    Shape:
        ``h: (B, latent_dim) -> z: (B, latent_dim)``
    """

    def __init__(
        self,
        latent_dim: int,
        num_codes: int = 512,
        code_dim: int = 4,
        commitment: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        dead_after: int = 20,
        usage_window: int = 50,
    ) -> None:
        super().__init__()
        latent_dim, code_dim = int(latent_dim), int(code_dim)
        if code_dim < 1 or latent_dim % code_dim:
            raise ValueError(
                f"latent_dim={latent_dim} must be a multiple of code_dim={code_dim}: the code is "
                "split into groups of code_dim values, each quantised separately"
            )
        if num_codes < 2:
            raise ValueError(f"num_codes must be at least 2, got {num_codes}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie strictly between 0 and 1, got {decay}")
        self.latent_dim = latent_dim
        self.num_codes = int(num_codes)
        self.code_dim = code_dim
        self.groups = latent_dim // code_dim
        self.commitment = float(commitment)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.dead_after = int(dead_after)
        self.usage_window = max(int(usage_window), 1)
        codebook = torch.randn(self.num_codes, code_dim)
        if self.ema:
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_count", torch.ones(self.num_codes))
            self.register_buffer("ema_sum", codebook.clone())
        else:
            self.codebook = nn.Parameter(codebook)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("idle_steps", torch.zeros(self.num_codes, dtype=torch.long))
        self.register_buffer("recent_counts", torch.zeros(self.usage_window, self.num_codes))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))
        self._last: dict[str, torch.Tensor] = {}

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = h.reshape(-1, self.code_dim)
        update = self.training and torch.is_grad_enabled()
        if update and not self._ready():
            self._initialise(flat.detach())
        codes = self._nearest(flat.detach())
        counts = torch.bincount(codes, minlength=self.num_codes).float()
        if update:
            self._track_usage(counts)
            if self.ema:
                self._ema_update(flat.detach(), codes, counts)
        chosen = self.codebook[codes].to(flat.dtype)
        batch = max(h.shape[0], 1)
        commit = (flat - chosen.detach()).pow(2).sum() / batch
        aux = self.commitment * commit
        if not self.ema:
            aux = aux + (flat.detach() - chosen).pow(2).sum() / batch
        # Straight-through estimator: the forward pass uses the codebook entries,
        # the backward pass copies the gradient to the encoder output unchanged.
        quantised = flat + (chosen - flat).detach()
        self._last = {
            "perplexity": _perplexity(counts),
            "codes_used": self.codes_used(),
            "commitment": commit.detach(),
        }
        if update:
            self._restart_dead_codes(flat.detach())
        return quantised.reshape(h.shape), aux

    def _ready(self) -> bool:
        # Reading the buffer waits for the device, so the answer is cached once true.
        if not self.__dict__.get("_initialised_seen", False):
            self.__dict__["_initialised_seen"] = bool(self.initialised)
        return self.__dict__["_initialised_seen"]

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        book = self.codebook.detach().to(flat.dtype)
        distances = (
            flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.T + book.pow(2).sum(1)[None, :]
        )
        return distances.argmin(dim=1)

    @torch.no_grad()
    def _initialise(self, flat: torch.Tensor) -> None:
        """Sets the codebook to random encoder outputs of the first training batch."""
        picks = torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)
        if flat.shape[0] >= self.num_codes:
            picks = torch.randperm(flat.shape[0], device=flat.device)[: self.num_codes]
        self.codebook.data.copy_(flat[picks].to(self.codebook.dtype))
        if self.ema:
            self.ema_count.fill_(1.0)
            self.ema_sum.copy_(self.codebook)
        self.initialised.fill_(True)
        self.__dict__["_initialised_seen"] = True

    @torch.no_grad()
    def _track_usage(self, counts: torch.Tensor) -> None:
        slot = (self.steps % self.usage_window).reshape(1)
        self.recent_counts.index_copy_(0, slot, counts[None].to(self.recent_counts.dtype))
        self.steps.add_(1)
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, codes: torch.Tensor, counts: torch.Tensor) -> None:
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat.to(self.ema_sum.dtype))
        self.ema_count.mul_(self.decay).add_(counts.to(self.ema_count.dtype), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0.
        total = self.ema_count.sum()
        eps = 1e-5
        smoothed = (self.ema_count + eps) / (total + self.num_codes * eps) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        """Moves every code idle for ``dead_after`` steps onto a random encoder output.

        Done with masks rather than indexing so the device never waits for the host.
        """
        if self.dead_after <= 0:
            return
        dead = self.idle_steps >= self.dead_after
        picks = torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)
        fresh = flat[picks].to(self.codebook.dtype)
        self.codebook.data.copy_(torch.where(dead[:, None], fresh, self.codebook.data))
        if self.ema:
            self.ema_count.masked_fill_(dead, 1.0)
            self.ema_sum.copy_(torch.where(dead[:, None], fresh, self.ema_sum))
        self.restarts.add_(dead.sum())
        self.idle_steps.masked_fill_(dead, 0)

    def codes_used(self) -> torch.Tensor:
        """Fraction of the codebook chosen at least once in the last ``usage_window`` steps."""
        return (self.recent_counts.sum(0) > 0).float().mean()

    def sample(self, n: int, device: Device = None, *, generator: Generator = None) -> torch.Tensor:
        """``n`` codes with each group's entry drawn uniformly from the codebook.

        A uniform prior over codes: real VQ-VAEs fit an autoregressive prior over
        code indices instead, so these samples show the codebook's range rather
        than convincing images.
        """
        device = device or self.codebook.device
        codes = _draw(
            lambda dev: torch.randint(
                self.num_codes, (n, self.groups), device=dev, generator=generator
            ),
            device,
            generator,
        )
        return self.codebook.detach()[codes].reshape(n, self.latent_dim)

    def metrics(self) -> dict[str, torch.Tensor]:
        """Diagnostics of the last forward pass.

        ``perplexity``: the effective number of codes the last batch chose
        (``num_codes`` at most); ``codes_used``: fraction of the codebook chosen
        within the last ``usage_window`` training steps; ``commitment``: the
        unweighted squared distance of the encoder outputs to their codes.
        """
        return dict(self._last)


def _perplexity(counts: torch.Tensor) -> torch.Tensor:
    """``exp`` of the entropy of the code frequencies: the effective number of codes in use."""
    probs = counts / counts.sum().clamp(min=1)
    return torch.exp(-(probs * torch.log(probs.clamp(min=1e-12))).sum())
