"""The stacked parameters of K models and their batched layers.

Linear layers are batched matrix products, convolutions one grouped
convolution over ``(B, K*C, *S)``, batch norm the native kernel over the K
models' channels side by side, or, where short batches are padded, statistics
over each model's own rows (:class:`Pass` says which rows are real).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.module import AutoEncoder

#: where batch norm's input keeps its batch: features-first ``(K, C, B)`` (an mlp's),
#: rows ``(K, B, C)``, or the grouped convolutions' maps ``(B, K*C, *S)``
Layout = Literal["features", "rows", "maps"]


class Pass:
    """One forward pass over the stack: training or not, and which rows are real."""

    def __init__(self, training: bool, mask: torch.Tensor | None, n: torch.Tensor) -> None:
        self.training = training
        #: (K, B) float, 1 for a model's own rows; None when every row is real
        self.mask = mask
        #: (K,) float rows per model
        self.n = n

    def mean_rows(self, values: torch.Tensor) -> torch.Tensor:
        """Per model, the mean over its own rows of per-row values ``(K, B)``."""
        if self.mask is not None:
            values = torch.where(self.mask > 0, values, values.new_zeros(()))
        return values.sum(1) / self.n


class StackedLayers:
    """K models' parameters and buffers stacked along a leading axis, and their batched layers."""

    def __init__(self, models: list[AutoEncoder], device: torch.device) -> None:
        self.template = models[0]
        self.cfg = models[0].cfg
        states = [m.state_dict() for m in models]
        param_names = [n for n, _ in models[0].named_parameters()]
        self.params: dict[str, torch.Tensor] = {
            # contiguous: stacking channels-last conv weights keeps their strides, and the
            # fused Adam kernel wants parameter, gradient and state in one layout
            n: torch.stack([s[n] for s in states]).to(device).contiguous().requires_grad_(True)
            for n in param_names
        }
        self.buffers: dict[str, torch.Tensor] = {
            n: torch.stack([s[n] for s in states]).to(device)
            for n in states[0]
            if n not in self.params
        }
        self.device = device
        self.sigmoid_logits = self.cfg.output_activation == "sigmoid"

    @property
    def k(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def t(self, name: str) -> torch.Tensor:
        return self.params[name] if name in self.params else self.buffers[name]

    def state(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k``'s state dict (copies, on the CPU)."""
        return {
            n: v[k].detach().to("cpu", copy=True)
            for n, v in (*self.params.items(), *self.buffers.items())
        }

    def keep(self, rows: torch.Tensor) -> None:
        """Keeps only the models at ``rows`` (new leaf tensors for the parameters)."""
        self.params = {
            n: v.detach().index_select(0, rows).requires_grad_(True) for n, v in self.params.items()
        }
        self.buffers = {n: v.index_select(0, rows) for n, v in self.buffers.items()}

    # ------------------------------------------------------------ layers
    def linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        w = self.t(f"{name}.weight").transpose(1, 2)
        bias = self.params.get(f"{name}.bias")
        if x.dim() != 3:
            raise ValueError(f"batched linear {name} needs (K, B, F), got {tuple(x.shape)}")
        return torch.bmm(x, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, w)

    def linear_features(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A linear layer on features-first activations ``(K, F, B)``: ``W @ x`` per model."""
        w = self.t(f"{name}.weight")
        bias = self.params.get(f"{name}.bias")
        return torch.bmm(w, x) if bias is None else torch.baddbmm(bias.unsqueeze(2), w, x)

    def batch_norm(
        self, name: str, m: nn.Module, x: torch.Tensor, p: Pass, layout: Layout
    ) -> torch.Tensor:
        """Batch norm per model over its own rows, in any of the three layouts (:data:`Layout`)."""
        w, bias = self.t(f"{name}.weight"), self.t(f"{name}.bias")
        rm, rv = self.buffers[f"{name}.running_mean"], self.buffers[f"{name}.running_var"]
        if p.training:
            self.buffers[f"{name}.num_batches_tracked"].add_(1)
        if p.mask is None or not p.training:
            # the K models' channels side by side as K*C channels: the native kernel, which
            # also updates the (stacked, viewed) running statistics in place
            y = F.batch_norm(
                _as_channels(x, layout),
                rm.view(-1),
                rv.view(-1),
                w.reshape(-1),
                bias.reshape(-1),
                p.training,
                m.momentum,
                m.eps,
            )
            return _from_channels(y, x, layout)
        xv, mask, count, dims = _masked_view(x, p.mask, p.n, layout, self.k)
        mean = (xv * mask).sum(dims, keepdim=True) / count
        centred = xv - mean
        var = (centred * mask).pow(2).sum(dims, keepdim=True) / count
        self._update_running(
            rm, rv, mean.view_as(w), var.view_as(w), count.reshape(-1, 1), m.momentum
        )
        # mean's shape puts each model's channels where they broadcast over its rows
        scale = torch.rsqrt(var + m.eps) * w.view(mean.shape)
        return (centred * scale + bias.view(mean.shape)).view_as(x)

    @staticmethod
    @torch.no_grad()
    def _update_running(
        rm: torch.Tensor,
        rv: torch.Tensor,
        mean: torch.Tensor,
        var: torch.Tensor,
        count: torch.Tensor,
        momentum: float,
    ) -> None:
        # torch's rule: the running variance takes the unbiased batch variance
        unbiased = var * count / (count - 1).clamp(min=1)
        rm.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
        rv.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)

    def conv(self, name: str, m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A convolution of all K models as one grouped convolution over ``(B, K*C, *S)``."""
        k = self.k
        w = self.t(f"{name}.weight")
        bias = self.params.get(f"{name}.bias")
        weight = w.reshape(k * w.shape[1], *w.shape[2:])
        flat_bias = None if bias is None else bias.reshape(-1)
        transposed = isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d))
        two_d = isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        if transposed:
            fn = F.conv_transpose2d if two_d else F.conv_transpose1d
            return fn(x, weight, flat_bias, m.stride, m.padding, m.output_padding, k, m.dilation)
        fn = F.conv2d if two_d else F.conv1d
        return fn(x, weight, flat_bias, m.stride, m.padding, m.dilation, k)


def _as_channels(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """``x`` as the native kernel's ``(N, K*C, ...)``; a view where the layout allows one."""
    if layout == "features":
        k, c, b = x.shape
        return x.reshape(1, k * c, b)
    if layout == "rows":
        k, b, c = x.shape
        return x.transpose(0, 1).reshape(b, k * c)
    return x


def _from_channels(y: torch.Tensor, x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The native kernel's output ``y`` back in ``x``'s layout."""
    if layout == "rows":
        k, b, c = x.shape
        return y.view(b, k, c).transpose(0, 1)
    return y.view_as(x)


def _masked_view(
    x: torch.Tensor, mask: torch.Tensor, n: torch.Tensor, layout: Layout, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int | tuple[int, int]]:
    """``x`` with each model's channels on their own axis, its row mask, row count and batch axes.

    ``mask`` ``(K, B)`` marks each model's own rows, ``n`` ``(K,)`` counts them.

    The statistics are then sums over the batch axes, of a shape that broadcasts
    back over ``x``: ``(K, C, 1)``, ``(K, 1, C)`` or ``(1, K, C, 1)``.
    """
    if layout == "features":  # (K, C, B)
        return x, mask.unsqueeze(1), n.view(k, 1, 1), 2
    if layout == "rows":  # (K, B, C)
        return x, mask.unsqueeze(2), n.view(k, 1, 1), 1
    b, c = x.shape[0], x.shape[1] // k  # (B, K*C, *S): every position of a map is a row
    xv = x.reshape(b, k, c, -1)
    return xv, mask.t().reshape(b, k, 1, 1), (n * xv.shape[3]).view(1, k, 1, 1), (0, 3)
