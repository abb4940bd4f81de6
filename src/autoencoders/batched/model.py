"""The stacked model: which models can be batched, and their encoder, bottleneck, decoder and loss.

:class:`Stack` runs K models of one config as one computation on top of the
batched layers of :mod:`~autoencoders.batched.layers`; :func:`batch_problem`
names what keeps a model out of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.batched.layers import Pass, StackedLayers
from autoencoders.losses import RECON_LOSSES, BottleneckLoss
from autoencoders.module import AutoEncoder
from autoencoders.nn import decoders as dec
from autoencoders.nn import encoders as enc
from autoencoders.nn.bottlenecks import IdentityBottleneck, SparseBottleneck, VariationalBottleneck

_ENCODERS = (enc.LinearEncoder, enc.MLPEncoder, enc.ConvEncoder, enc.Conv1dEncoder)
_DECODERS = (dec.LinearDecoder, dec.MLPDecoder, dec.ConvDecoder, dec.Conv1dDecoder)
_BOTTLENECKS = (IdentityBottleneck, SparseBottleneck, VariationalBottleneck)
_LEAVES = (
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.Sequential,
)


# ------------------------------------------------------------ batchability
def batch_problem(model: AutoEncoder) -> str | None:
    """Why ``model`` cannot be trained in a batched group, or ``None`` if it can."""
    if type(model) is not AutoEncoder:
        return f"{type(model).__name__} trains differently from AutoEncoder (its own steps)"
    if type(model.encoder) not in _ENCODERS:
        return f"encoder {type(model.encoder).__name__} has no batched form here"
    if type(model.decoder) not in _DECODERS:
        return f"decoder {type(model.decoder).__name__} has no batched form here"
    if type(model.bottleneck) not in _BOTTLENECKS:
        return (
            f"bottleneck {type(model.bottleneck).__name__} updates its own state in place "
            "(e.g. a codebook), which has no batched form here"
        )
    for term in model.loss_terms:
        if not isinstance(term, BottleneckLoss):
            return f"loss term {term.name!r} is not the bottleneck's own (e.g. an input gradient)"
    if model.cfg.recon_loss not in RECON_LOSSES:
        return f"reconstruction loss {model.cfg.recon_loss!r} has no batched form"
    for name, module in [*model.encoder.named_modules(), *model.decoder.named_modules()]:
        if name and type(module) not in _LEAVES:
            return f"layer {name} ({type(module).__name__}) has no batched form here"
        problem = _layer_problem(module)
        if problem:
            return f"layer {name}: {problem}"
    return None


def _layer_problem(m: nn.Module) -> str | None:
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if not (m.affine and m.track_running_stats and m.momentum is not None):
            return "batch norm without affine weights, running stats or a momentum"
    if isinstance(m, nn.modules.conv._ConvNd):
        if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
            return "grouped, non-zero-padded or 'same' convolution"
    return None


class Stack(StackedLayers):
    """K models' forward pass: their layers in order, the bottleneck and the losses."""

    def sequence(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: Pass) -> torch.Tensor:
        """Runs ``seq``'s children; ``(K, B, F)`` for linear layers, grouped maps for convs."""
        for child_name, child in seq.named_children():
            name = f"{prefix}.{child_name}"
            if isinstance(child, nn.Sequential):
                x = self.sequence(name, child, x, p)
            elif isinstance(child, nn.Linear):
                x = self.linear_features(name, x) if self._in_mlp else self.linear(name, x)
            elif isinstance(child, nn.ReLU):
                x = F.relu(x)
            elif isinstance(child, nn.modules.conv._ConvNd):
                x = self.conv(name, child, x)
            elif isinstance(child, nn.modules.batchnorm._BatchNorm):
                layout = "maps" if self._in_conv else "features" if self._in_mlp else "rows"
                x = self.batch_norm(name, child, x, p, layout)
            else:  # batch_problem refuses every other layer before training
                raise TypeError(f"no batched form for {type(child).__name__}")
        return x

    _in_conv = False
    _in_mlp = False

    def mlp(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: Pass) -> torch.Tensor:
        """An mlp on ``(K, B, F)``, run features-first: batch norm then needs no copies."""
        self._in_mlp = True
        try:
            return self.sequence(prefix, seq, x.transpose(1, 2), p).transpose(1, 2)
        finally:
            self._in_mlp = False

    def to_groups(self, x: torch.Tensor) -> torch.Tensor:
        """``(K, B, C, *S)`` to the grouped convolutions' ``(B, K*C, *S)``."""
        k, b, c = x.shape[:3]
        return x.transpose(0, 1).reshape(b, k * c, *x.shape[3:])

    def from_groups(self, x: torch.Tensor) -> torch.Tensor:
        b, kc = x.shape[:2]
        k = self.k
        return x.view(b, k, kc // k, *x.shape[2:]).transpose(0, 1)

    def convs(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: Pass) -> torch.Tensor:
        self._in_conv = True
        try:
            return self.from_groups(self.sequence(prefix, seq, self.to_groups(x), p))
        finally:
            self._in_conv = False

    # ------------------------------------------------------------ model
    def encode_h(self, x: torch.Tensor, p: Pass) -> torch.Tensor:
        e = self.template.encoder
        if isinstance(e, enc.LinearEncoder):
            return self.linear("encoder.layer", x.flatten(2))
        if isinstance(e, enc.MLPEncoder):
            return self.mlp("encoder.layers", e.layers, x.flatten(2), p)
        features = self.convs("encoder.convs", e.convs, x, p)
        return self.linear("encoder.head", features.flatten(2))

    def decode_logits(self, z: torch.Tensor, p: Pass) -> torch.Tensor:
        d = self.template.decoder
        k, b = z.shape[:2]
        if isinstance(d, dec.LinearDecoder):
            return self.linear("decoder.layer", z).view(k, b, *d.output_shape)
        if isinstance(d, dec.MLPDecoder):
            return self.mlp("decoder.layers", d.layers, z, p).reshape(k, b, *d.output_shape)
        maps = self.linear("decoder.head", z).unflatten(2, d.feature_shape)
        return self.convs("decoder.deconvs", d.deconvs, maps, p)

    def bottleneck(
        self, h: torch.Tensor, p: Pass, eps: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, aux)`` with ``aux`` of shape ``(K,)``, as the model's bottleneck computes them."""
        bn = self.template.bottleneck
        if isinstance(bn, SparseBottleneck):
            z = torch.sigmoid(h)
            if bn.loss_type == "l1":
                return z, bn.beta * p.mean_rows(z.sum(2))
            rho_hat = _mean_rows_features(z, p)
            if bn.loss_type == "log":
                return z, bn.beta * torch.log1p(rho_hat.pow(2)).sum(1)
            rho = torch.as_tensor(bn.sparsity, dtype=rho_hat.dtype, device=rho_hat.device)
            r = rho_hat.clamp(1e-6, 1.0 - 1e-6)
            kl = (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum(1)
            return z, bn.beta * kl
        if isinstance(bn, VariationalBottleneck):
            mu, log_var = h.chunk(2, dim=2)
            log_var = log_var.clamp(-40.0, 20.0)
            z = mu + torch.exp(0.5 * log_var) * eps if p.training and eps is not None else mu
            kl = p.mean_rows(0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(2))
            steps = self.buffers["bottleneck.steps"]
            if bn.kl_warmup_steps == 0:
                weight = torch.ones_like(kl)
            else:
                weight = (steps.float() / bn.kl_warmup_steps).clamp(max=1.0)
            if p.training:
                steps.add_(1)
            return z, bn.beta * weight.to(kl.dtype) * kl
        return h, h.new_zeros(h.shape[0])

    def losses(
        self, x_in: torch.Tensor, x: torch.Tensor, p: Pass, eps: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per model loss ``(K,)`` (recon plus the weighted bottleneck term) and codes ``z``."""
        h = self.encode_h(x_in, p)
        z, aux = self.bottleneck(h, p, eps)
        logits = self.decode_logits(z, p)
        loss = self._recon(logits, x, p)
        for term in self.template.loss_terms:  # only BottleneckLoss (batch_problem)
            loss = loss + term.weight * aux
        return loss, z

    def _recon(self, out: torch.Tensor, x: torch.Tensor, p: Pass) -> torch.Tensor:
        kind = self.cfg.recon_loss
        logits = self.sigmoid_logits
        out, x = out.flatten(2), x.flatten(2)
        if kind == "bce":
            per = (
                F.binary_cross_entropy_with_logits(out, x, reduction="none")
                if logits
                else F.binary_cross_entropy(out.clamp(1e-6, 1 - 1e-6), x, reduction="none")
            )
            return p.mean_rows(per.sum(2))
        x_hat = torch.sigmoid(out) if logits else out
        sq = (x_hat - x).pow(2).sum(2)
        if kind == "mse":
            return p.mean_rows(sq)
        return torch.sqrt(p.mean_rows(sq) / x.shape[2])  # rmse: over every value


def _mean_rows_features(z: torch.Tensor, p: Pass) -> torch.Tensor:
    """Per model and feature, the mean over the model's own rows: ``(K, B, L) -> (K, L)``."""
    if p.mask is not None:
        z = z * p.mask.unsqueeze(2)
    return z.sum(1) / p.n.unsqueeze(1)
