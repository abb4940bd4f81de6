"""Loss terms: pure functions of tensors, and the terms a model adds to its loss.

Reductions follow the bake-off protocol: a per-sample quantity is *summed* over
the sample's values and *averaged* over the batch, so numbers are "per image".

A model's loss is its reconstruction error plus ``weight * term(step)`` for each
:class:`LossTerm` of its variant (:func:`autoencoders.models.parts.loss_terms`).
Regularizers that need a bottleneck's internals (sparsity, KL, vector
quantisation) are computed by the bottleneck and reach the loss through
:class:`BottleneckLoss`; others, like :class:`ContractivePenalty`, look at the
step's tensors directly. A new term is one class here (or anywhere) and one
line in its variant's parts (``autoencoders.models.parts.PARTS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from autoencoders.choices import RECON_LOSSES


def reconstruction_loss(
    output: torch.Tensor, x: torch.Tensor, kind: str = "bce", *, logits: bool = True
) -> torch.Tensor:
    """Reconstruction error of a batch, as a scalar.

    Args:
        output: decoder output, logits when ``logits`` is true, else values in [0, 1].
        x: the target batch, same shape as ``output``.
        kind: ``"bce"`` (binary cross-entropy summed over values, averaged over the
            batch), ``"mse"`` (squared error summed over values, averaged over the
            batch) or ``"rmse"`` (root of the mean squared error over all values,
            the lecture notebook's loss).
        logits: whether ``output`` holds pre-sigmoid logits.

    Returns:
        A scalar tensor on the inputs' device.
    """
    if output.shape != x.shape:
        raise ValueError(
            f"decoder output has shape {tuple(output.shape)} but the input has shape "
            f"{tuple(x.shape)}: the decoder's output_shape must match the data"
        )
    batch = max(x.shape[0], 1)
    if kind == "bce":
        if logits:
            return F.binary_cross_entropy_with_logits(output, x, reduction="sum") / batch
        return F.binary_cross_entropy(output.clamp(1e-6, 1 - 1e-6), x, reduction="sum") / batch
    x_hat = torch.sigmoid(output) if logits else output
    if kind == "mse":
        return F.mse_loss(x_hat, x, reduction="sum") / batch
    if kind == "rmse":
        return torch.sqrt(F.mse_loss(x_hat, x))
    raise ValueError(f"recon_loss must be one of {RECON_LOSSES}, got {kind!r}")


def kl_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)), summed over dimensions, averaged over the batch.

    Closed form: ``0.5 * sum(mu^2 + var - log_var - 1)``.
    """
    per_sample = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(dim=1)
    return per_sample.mean()


def kl_bernoulli(target: float, rho_hat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Sum over units of KL(Bernoulli(target) || Bernoulli(rho_hat)).

    ``rho_hat`` is clamped to ``[eps, 1 - eps]`` so an average activation of
    exactly 0 or 1 gives a large but finite penalty.
    """
    rho = torch.as_tensor(target, dtype=rho_hat.dtype, device=rho_hat.device)
    rho_hat = rho_hat.clamp(eps, 1.0 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def jacobian_penalty(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Unbiased one-sample estimate of ``||dh/dx||_F^2``, averaged over the batch.

    For ``v ~ N(0, I)``, ``E ||J^T v||^2 = ||J||_F^2`` (Hutchinson), so one
    vector-Jacobian product replaces ``latent_dim`` backward passes. ``x`` must
    require gradients and ``h`` must have been computed from it.
    """
    v = torch.randn_like(h)
    (grad,) = torch.autograd.grad((h * v).sum(), x, create_graph=True)
    return grad.pow(2).sum() / h.shape[0]


@dataclass(slots=True)
class StepTensors:
    """What one forward pass leaves for the loss terms to look at."""

    #: the clean batch, the reconstruction's target
    x: torch.Tensor
    #: what the encoder saw (corrupted when denoising)
    x_in: torch.Tensor
    #: the encoder's output, the bottleneck's input
    h: torch.Tensor
    #: the code
    z: torch.Tensor
    #: the bottleneck's own (already weighted) regularizer
    bottleneck_loss: torch.Tensor


class LossTerm(Protocol):
    """One term of a model's loss; logged under ``name``, added as ``weight * value``."""

    name: str
    weight: float
    #: differentiates through the encoder's input: ``x_in`` then requires a gradient,
    #: and the term is left out where gradients are off (validation)
    needs_input_grad: bool

    def __call__(self, step: StepTensors) -> torch.Tensor: ...


@dataclass(frozen=True)
class BottleneckLoss:
    """The bottleneck's regularizer (sparsity, KL, commitment), weighted inside it."""

    name: str = "bottleneck"
    weight: float = 1.0
    needs_input_grad: bool = False

    def __call__(self, step: StepTensors) -> torch.Tensor:
        return step.bottleneck_loss


@dataclass(frozen=True)
class ContractivePenalty:
    """The squared Frobenius norm of the encoder's Jacobian (one random projection)."""

    weight: float
    name: str = "contractive"
    needs_input_grad: bool = True

    def __call__(self, step: StepTensors) -> torch.Tensor:
        return jacobian_penalty(step.h, step.x_in)
