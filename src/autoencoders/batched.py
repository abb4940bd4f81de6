"""Many small models trained at once: one batched computation instead of a loop.

A small model leaves the CPU (or GPU) idle between its tiny kernels: ten
per-class models of the bake-off's one-class protocol, the seeds of
``bakeoff --seeds N`` or an ``AutoencoderOutlierDetector(n_models=8)`` each pay
the per-step overhead on their own. :func:`fit_many` trains K models of one
config as one computation: their parameters are stacked along a leading model
axis, every layer runs once for all of them (``bmm``, grouped convolutions,
batch norm over the stacked channels), one Adam step updates them all. Each
model still has its own

* seed: initialisation (``torch.manual_seed(seed)`` then
  :func:`~autoencoders.models.build_model`, as ``train_run`` does) and its own
  random stream for the denoising noise and the variational code, cloned from
  torch's generator right after that model was built;
* data: its own training rows, batch order (a permutation seeded with
  ``order_seed + epoch``, as :class:`~autoencoders.data.loader.TensorBatchLoader`
  draws it) and validation rows; data sets may differ in length, batches of
  different sizes are padded and masked (batch-norm statistics, losses and the
  code statistics count only a model's own rows);
* Adam state (elementwise, so one Adam over the stacked tensors is K Adams: the
  models take their steps together, so their step counts agree);
* early stopping: the rule of :class:`~autoencoders.stopping.StopRule` and
  :class:`~autoencoders.stopping.BestWeights` (Lightning's ``EarlyStopping``:
  patience in validation checks, one check per ~20 steps, ``min_steps``,
  ``max_epochs``, ``max_steps``, the grouped steps' stop points), decided per
  model; a model that stops leaves the stack (its rows are dropped, so it takes
  no further update) and gets its best weights back.

The arithmetic is that of training each model alone through the package's
normal path (``training.fit`` / the estimators' trainer on an
:class:`~autoencoders.data.ArrayDataModule`), up to float rounding (batched
matrix products sum in another order): ``tests/test_batched.py`` compares the
weights, the stop epochs and the best weights kept. Rounding can grow on both
paths alike: a parameter the loss cannot see (the deep mlp's last encoder bias,
behind the decoder's batch norm) gets rounding noise as its gradient, which Adam
turns into lr-sized steps, and batch norm over a short last batch amplifies
small differences over hundreds of steps; long runs then agree closely in loss
and mostly in their stop epoch, not to float tolerance. The result is K ordinary :class:`~autoencoders.module.AutoEncoder`
modules (``build_model(config)`` with the trained state loaded), so scoring,
``trainer.save_checkpoint``/:func:`save_checkpoint` and
:func:`autoencoders.load` work on them unchanged.

Models that cannot be batched are trained one by one with the normal Lightning
path, and the reason is logged (:func:`batch_problem`): a bottleneck with state
updated in place (the VQ codebook), training that differs per stage (the
stacked model), loss terms through the input's gradient (contractive), LSTMs,
and layers this module has no batched form for.

API::

    fit_many(configs, data, seeds, rule, *, batch_size=256, eval_batch_size=1024,
             steps_per_call=None, validate=True, validate_at_end=True, passes=1,
             device=None, batched=True) -> list[ManyFit]
    train_many(...same...) -> list[AutoEncoder]
    batch_problem(model) -> str | None        # why a model would train one by one
    save_checkpoint(model, path) -> Path      # a file autoencoders.load reads

* ``configs``: one :class:`~autoencoders.config.ModelConfig` (or its dict) for
  every model, or one per model; models with equal configs are batched together.
  ``input_shape`` must be the data's.
* ``data``: one per model, or one shared by all: a :class:`ModelData` (training
  tensor, optional validation tensor, optional batch-order seed and batch
  sizes), an :class:`~autoencoders.data.ArrayDataModule` (its splits, batch
  sizes and seed, exactly as ``fit`` would use them), or a plain tensor
  (training rows only).
* ``seeds``: one int per model: initialisation, noise, and (unless the data
  says otherwise) batch order.
* ``rule``: a :class:`~autoencoders.stopping.StopRule` or an epoch count.
* ``validate``: run the validation checks of a fixed-epoch rule too (as
  ``fit`` does; the estimators skip them). Early stopping always validates.
* ``validate_at_end``: the last epoch and the step that uses up ``max_steps``
  validate too, as ``training.fit`` (its ``ValidateAtEnd``) does; ``False`` for
  a plain trainer, as the estimators use.
* ``passes``: passes over the rows per trainer epoch, with one validation per
  trainer epoch (the estimators' set-up on small data); the rule counts passes.
* ``steps_per_call``: as ``--steps-per-call``: where in an epoch an early stop
  after ``min_steps`` may land (the grouped steps' boundaries).
* ``device``: where to train (default: the device of the first training tensor).
* ``batched=False`` trains every model one by one on the normal path (the
  reference this module is measured against).

Each :class:`ManyFit` holds the model (in eval mode, on ``device``), epochs,
optimizer steps, best epoch, the stop reason in the words of
:class:`~autoencoders.training.TrainResult`, and whether it was batched.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam

from autoencoders.config import ModelConfig, config_from_dict, config_to_dict
from autoencoders.data.loader import TensorBatchLoader, TensorImageDataset, group_for_trainer
from autoencoders.errors import ConfigError, NonFiniteLoss
from autoencoders.losses import RECON_LOSSES, BottleneckLoss
from autoencoders.module import GRID_IMAGES, AutoEncoder
from autoencoders.nn import decoders as dec
from autoencoders.nn import encoders as enc
from autoencoders.nn.bottlenecks import IdentityBottleneck, SparseBottleneck, VariationalBottleneck
from autoencoders.nn.noise import corrupt
from autoencoders.quiet import quiet
from autoencoders.stopping import StopRule, epochs_per_check

log = logging.getLogger(__name__)

#: steps whose batch indices are drawn and moved to the device at once
SCHEDULE_CHUNK = 64
#: the code-statistics buffers every AutoEncoder keeps (updated here, not by a layer)
CODE_BUFFERS = ("code_count", "code_sum", "code_outer", "code_epoch")

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


# --------------------------------------------------------------------- inputs
@dataclass
class ModelData:
    """One model's data stream.

    Attributes:
        train: training samples, float, shape ``(n, *input_shape)``.
        val: validation samples (needed for early stopping), or ``None``.
        order_seed: seed of the batch order (epoch ``e`` uses ``order_seed + e``);
            ``None``: the model's seed.
        batch_size: training batch size (``None``: ``fit_many``'s).
        eval_batch_size: validation batch size (``None``: ``fit_many``'s).
    """

    train: torch.Tensor
    val: torch.Tensor | None = None
    order_seed: int | None = None
    batch_size: int | None = None
    eval_batch_size: int | None = None

    @classmethod
    def from_datamodule(cls, datamodule: Any) -> ModelData:
        """The splits, seed and batch sizes an :class:`~autoencoders.data.ArrayDataModule` trains with."""
        datamodule.setup("fit")
        train = datamodule.full_arrays("train")[0]
        val = datamodule.full_arrays("val")[0] if len(datamodule.val_set) else None
        return cls(
            train,
            val,
            int(datamodule.seed),
            int(datamodule.batch_size),
            int(datamodule.eval_batch_size),
        )


@dataclass
class ManyFit:
    """One trained model of :func:`fit_many` and how its training went."""

    model: AutoEncoder
    seed: int
    #: epochs begun (as ``trainer.current_epoch`` after ``fit``)
    epochs: int
    #: optimizer steps taken
    steps: int
    #: the epoch (from 1) whose weights the model holds (early stopping), else 0
    best_epoch: int
    #: why training ended, in words
    stop_reason: str
    #: trained in a batched group (False: one by one, on the normal path)
    batched: bool
    #: why it was not batched ("" when it was)
    fallback_reason: str = ""
    #: wall time of the group it trained in (batched) or of its own run
    wall_time_s: float = 0.0
    #: the last validation loss (nan when it never validated)
    val_loss: float = math.nan


#: one model's data: a ModelData, an ArrayDataModule (or any data module with its
#: ``full_arrays``, ``batch_size``, ``eval_batch_size`` and ``seed``), or training rows
DataLike = ModelData | torch.Tensor | Any


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


# ------------------------------------------------------------ the stack
class _Pass:
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


class _Stack:
    """K models' parameters and buffers stacked along a leading axis, and their forward pass."""

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
    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        w = self.t(f"{name}.weight").transpose(1, 2)
        bias = self.params.get(f"{name}.bias")
        if x.dim() != 3:
            raise ValueError(f"batched linear {name} needs (K, B, F), got {tuple(x.shape)}")
        return torch.bmm(x, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, w)

    def _linear_features(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A linear layer on features-first activations ``(K, F, B)``: ``W @ x`` per model."""
        w = self.t(f"{name}.weight")
        bias = self.params.get(f"{name}.bias")
        return torch.bmm(w, x) if bias is None else torch.baddbmm(bias.unsqueeze(2), w, x)

    def _bn_features(self, name: str, m: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        """Batch norm of features-first ``(K, C, B)`` activations, per model over its rows."""
        k, c, b = x.shape
        w, bias = self.t(f"{name}.weight"), self.t(f"{name}.bias")
        rm, rv = self.buffers[f"{name}.running_mean"], self.buffers[f"{name}.running_var"]
        if p.training:
            self.buffers[f"{name}.num_batches_tracked"].add_(1)
        if p.mask is None or not p.training:
            # (1, K*C, B) is a view: the native kernel normalises each model's channel over
            # its batch, and updates the (stacked, viewed) running statistics in place
            y = F.batch_norm(
                x.reshape(1, k * c, b),
                rm.view(-1),
                rv.view(-1),
                w.reshape(-1),
                bias.reshape(-1),
                p.training,
                m.momentum,
                m.eps,
            )
            return y.view(k, c, b)
        mask = p.mask.unsqueeze(1)
        n = p.n.view(k, 1, 1)
        mean = (x * mask).sum(2, keepdim=True) / n
        centred = x - mean
        var = (centred * mask).pow(2).sum(2, keepdim=True) / n
        self._update_running(rm, rv, mean.view(k, c), var.view(k, c), p.n.view(k, 1), m.momentum)
        scale = torch.rsqrt(var + m.eps) * w.unsqueeze(2)
        return centred * scale + bias.unsqueeze(2)

    def _bn_rows(self, name: str, m: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        """Batch norm of ``(K, B, C)`` features, statistics per model over its rows."""
        k, b, c = x.shape
        w, bias = self.t(f"{name}.weight"), self.t(f"{name}.bias")
        rm, rv = self.buffers[f"{name}.running_mean"], self.buffers[f"{name}.running_var"]
        if p.training:
            self.buffers[f"{name}.num_batches_tracked"].add_(1)
        if p.mask is None or not p.training:
            # K models' features side by side as K*C channels: the native kernel, which
            # also updates the (stacked, viewed) running statistics in place.
            y = F.batch_norm(
                x.transpose(0, 1).reshape(b, k * c),
                rm.view(-1),
                rv.view(-1),
                w.reshape(-1),
                bias.reshape(-1),
                p.training,
                m.momentum,
                m.eps,
            )
            return y.view(b, k, c).transpose(0, 1)
        mask = p.mask.unsqueeze(2)
        n = p.n.view(k, 1, 1)
        mean = (x * mask).sum(1, keepdim=True) / n
        centred = x - mean
        var = (centred * mask).pow(2).sum(1, keepdim=True) / n
        self._update_running(rm, rv, mean.view(k, c), var.view(k, c), p.n.view(k, 1), m.momentum)
        scale = torch.rsqrt(var + m.eps) * w.unsqueeze(1)
        return centred * scale + bias.unsqueeze(1)

    def _bn_maps(self, name: str, m: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        """Batch norm of feature maps in the grouped layout ``(B, K*C, *S)``."""
        k = self.k
        w, bias = self.t(f"{name}.weight"), self.t(f"{name}.bias")
        rm, rv = self.buffers[f"{name}.running_mean"], self.buffers[f"{name}.running_var"]
        if p.training:
            self.buffers[f"{name}.num_batches_tracked"].add_(1)
        if p.mask is None or not p.training:
            return F.batch_norm(
                x,
                rm.view(-1),
                rv.view(-1),
                w.reshape(-1),
                bias.reshape(-1),
                p.training,
                m.momentum,
                m.eps,
            )
        b, c = x.shape[0], x.shape[1] // k
        xv = x.reshape(b, k, c, -1)
        mask = p.mask.t().reshape(b, k, 1, 1)
        count = (p.n * xv.shape[3]).view(1, k, 1, 1)
        mean = (xv * mask).sum((0, 3), keepdim=True) / count
        centred = xv - mean
        var = (centred * mask).pow(2).sum((0, 3), keepdim=True) / count
        self._update_running(rm, rv, mean.view(k, c), var.view(k, c), count.view(k, 1), m.momentum)
        scale = torch.rsqrt(var + m.eps) * w.view(1, k, c, 1)
        return (centred * scale + bias.view(1, k, c, 1)).view_as(x)

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

    def _conv(self, name: str, m: nn.Module, x: torch.Tensor) -> torch.Tensor:
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

    def _sequence(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        """Runs ``seq``'s children; ``(K, B, F)`` for linear layers, grouped maps for convs."""
        for child_name, child in seq.named_children():
            name = f"{prefix}.{child_name}"
            if isinstance(child, nn.Sequential):
                x = self._sequence(name, child, x, p)
            elif isinstance(child, nn.Linear):
                x = self._linear_features(name, x) if self._in_mlp else self._linear(name, x)
            elif isinstance(child, nn.ReLU):
                x = F.relu(x)
            elif isinstance(child, nn.modules.conv._ConvNd):
                x = self._conv(name, child, x)
            elif isinstance(child, nn.modules.batchnorm._BatchNorm):
                if self._in_conv:
                    x = self._bn_maps(name, child, x, p)
                elif self._in_mlp:
                    x = self._bn_features(name, child, x, p)
                else:
                    x = self._bn_rows(name, child, x, p)
            else:  # batch_problem refuses every other layer before training
                raise TypeError(f"no batched form for {type(child).__name__}")
        return x

    _in_conv = False
    _in_mlp = False

    def _mlp(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        """An mlp on ``(K, B, F)``, run features-first: batch norm then needs no copies."""
        self._in_mlp = True
        try:
            return self._sequence(prefix, seq, x.transpose(1, 2), p).transpose(1, 2)
        finally:
            self._in_mlp = False

    def _to_groups(self, x: torch.Tensor) -> torch.Tensor:
        """``(K, B, C, *S)`` to the grouped convolutions' ``(B, K*C, *S)``."""
        k, b, c = x.shape[:3]
        return x.transpose(0, 1).reshape(b, k * c, *x.shape[3:])

    def _from_groups(self, x: torch.Tensor) -> torch.Tensor:
        b, kc = x.shape[:2]
        k = self.k
        return x.view(b, k, kc // k, *x.shape[2:]).transpose(0, 1)

    def _convs(self, prefix: str, seq: nn.Module, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        self._in_conv = True
        try:
            return self._from_groups(self._sequence(prefix, seq, self._to_groups(x), p))
        finally:
            self._in_conv = False

    # ------------------------------------------------------------ model
    def encode_h(self, x: torch.Tensor, p: _Pass) -> torch.Tensor:
        e = self.template.encoder
        if isinstance(e, enc.LinearEncoder):
            return self._linear("encoder.layer", x.flatten(2))
        if isinstance(e, enc.MLPEncoder):
            return self._mlp("encoder.layers", e.layers, x.flatten(2), p)
        features = self._convs("encoder.convs", e.convs, x, p)
        return self._linear("encoder.head", features.flatten(2))

    def decode_logits(self, z: torch.Tensor, p: _Pass) -> torch.Tensor:
        d = self.template.decoder
        k, b = z.shape[:2]
        if isinstance(d, dec.LinearDecoder):
            return self._linear("decoder.layer", z).view(k, b, *d.output_shape)
        if isinstance(d, dec.MLPDecoder):
            return self._mlp("decoder.layers", d.layers, z, p).reshape(k, b, *d.output_shape)
        maps = self._linear("decoder.head", z).unflatten(2, d.feature_shape)
        return self._convs("decoder.deconvs", d.deconvs, maps, p)

    def bottleneck(
        self, h: torch.Tensor, p: _Pass, eps: torch.Tensor | None
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
        self, x_in: torch.Tensor, x: torch.Tensor, p: _Pass, eps: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per model loss ``(K,)`` (recon plus the weighted bottleneck term) and codes ``z``."""
        h = self.encode_h(x_in, p)
        z, aux = self.bottleneck(h, p, eps)
        logits = self.decode_logits(z, p)
        loss = self._recon(logits, x, p)
        for term in self.template.loss_terms:  # only BottleneckLoss (batch_problem)
            loss = loss + term.weight * aux
        return loss, z

    def _recon(self, out: torch.Tensor, x: torch.Tensor, p: _Pass) -> torch.Tensor:
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


def _mean_rows_features(z: torch.Tensor, p: _Pass) -> torch.Tensor:
    """Per model and feature, the mean over the model's own rows: ``(K, B, L) -> (K, L)``."""
    if p.mask is not None:
        z = z * p.mask.unsqueeze(2)
    return z.sum(1) / p.n.unsqueeze(1)


# ------------------------------------------------------------ data streams
class _Stream:
    """One model's batch order, as :class:`~autoencoders.data.loader.TensorBatchLoader` draws it.

    Rows are indices into the group's concatenated training data (``offset`` on);
    a short batch is padded with the model's first row and masked.
    """

    def __init__(self, n: int, batch_size: int, order_seed: int, offset: int) -> None:
        self.n, self.bs, self.seed, self.offset = n, batch_size, order_seed, offset
        batches = -(-n // batch_size)
        last = n - (batches - 1) * batch_size
        # ArrayDataModule's rule: batch norm cannot train on a lone leftover sample
        self.drop_last = batches > 1 and last == 1
        self.batches = n // batch_size if self.drop_last else batches
        self._rows: list[torch.Tensor] = []
        self._sizes: list[int] = []
        self._where: list[tuple[int, int]] = []
        self._epoch = 0

    def _draw_epoch(self) -> None:
        e = self._epoch
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e))
        used = min(self.n, self.batches * self.bs)
        rows = torch.full((self.batches * self.bs,), int(order[0]), dtype=torch.long)
        rows[:used] = order[:used]
        self._rows.extend((rows + self.offset).view(self.batches, self.bs).unbind(0))
        self._sizes.extend(min(self.bs, used - i * self.bs) for i in range(self.batches))
        self._where.extend((e, i) for i in range(self.batches))
        self._epoch += 1

    def take(self, count: int) -> tuple[torch.Tensor, list[int], list[tuple[int, int]]]:
        """The next ``count`` steps: row indices ``(count, bs)``, batch sizes, (epoch, batch)."""
        while len(self._rows) < count:
            self._draw_epoch()
        rows, self._rows = self._rows[:count], self._rows[count:]
        sizes, self._sizes = self._sizes[:count], self._sizes[count:]
        where, self._where = self._where[:count], self._where[count:]
        return torch.stack(rows), sizes, where


@dataclass
class _Member:
    """One model's progress and early-stopping state (Lightning's EarlyStopping + BestWeights)."""

    index: int
    seed: int
    data: ModelData
    model: AutoEncoder
    generator: torch.Generator
    stream: _Stream
    #: optimizer steps per grouped call (GroupedSteps)
    group: int
    #: trainer epochs between validation checks
    per_check: int
    validates: bool
    #: passes over the training rows per trainer epoch (the estimators' set-up)
    passes: int = 1
    #: the last epoch and the step budget's last step validate (training.ValidateAtEnd)
    validate_at_end: bool = False
    steps: int = 0
    #: the trainer epoch running (counted from 0)
    epoch: int = 0
    #: ValidateAtEnd asked for a check every epoch from now on
    end_check: bool = False
    best: torch.Tensor = dataclasses.field(default_factory=lambda: torch.tensor(math.inf))
    wait: int = 0
    should_stop: bool = False
    stopped_epoch: int = 0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    val_loss: float = math.nan

    @property
    def epoch_batches(self) -> int:
        return self.stream.batches * self.passes

    @property
    def groups_per_epoch(self) -> int:
        return -(-self.epoch_batches // self.group)

    def position(self, where: tuple[int, int]) -> tuple[int, int]:
        """(trainer epoch, batch within it) of a stream position (pass, batch)."""
        e, i = where
        return e // self.passes, (e % self.passes) * self.stream.batches + i


def _val_batches(val: torch.Tensor | None, size: int) -> list[torch.Tensor]:
    if val is None or len(val) == 0:
        return []
    return [val[i : i + size] for i in range(0, len(val), size)]


# ------------------------------------------------------------ the group's training
class _Group:
    """Trains the models of one config together; see the module's docstring."""

    def __init__(
        self, members: list[_Member], rule: StopRule, device: torch.device, user_rule: StopRule
    ) -> None:
        self.members = members
        #: the rule in trainer epochs (passes > 1: several passes per epoch)
        self.rule = rule
        self.user_rule = user_rule
        self.device = device
        self.stack = _Stack([m.model for m in members], device)
        self.cfg = self.stack.cfg
        self.shape = tuple(self.cfg.input_shape)
        self.x_all = torch.cat([m.data.train.to(device, torch.float32) for m in members])
        self.bs = max(m.stream.bs for m in members)
        self.variational = isinstance(self.stack.template.bottleneck, VariationalBottleneck)
        self._make_val()
        # Adam's state, stacked like the parameters; the step count is shared, since
        # every model of the group takes every step until it leaves the group
        self.exp_avg = [torch.zeros_like(v) for v in self.stack.params.values()]
        self.exp_avg_sq = [torch.zeros_like(v) for v in self.stack.params.values()]
        self.adam_steps = [
            torch.zeros((), dtype=torch.float32, device=device) for _ in self.exp_avg
        ]
        self.fused = _fused_adam_works(device)
        self._chunk_left = 0
        # Lightning's min_steps (and its implied min_epochs=1) only apply when stopping early
        self.min_steps = rule.min_steps if rule.early and rule.min_steps else 0
        self.min_epochs = 1 if self.min_steps else 0
        self.finished: dict[int, tuple[dict[str, torch.Tensor], str]] = {}

    # ---------------------------------------------------------------- set-up
    def _adam_step(self, grads: list[torch.Tensor]) -> None:
        """Torch's Adam (fused where it can, as AutoEncoder.configure_optimizers) on the stack.

        Adam is elementwise, so one over the stacked tensors is each model's own.
        """
        params = [p.detach() for p in self.stack.params.values()]
        options = {
            "amsgrad": False, "beta1": 0.9, "beta2": 0.999, "lr": self.cfg.lr,
            "weight_decay": self.cfg.weight_decay, "eps": 1e-8, "maximize": False,
        }  # fmt: skip
        adam(params, grads, self.exp_avg, self.exp_avg_sq, [], self.adam_steps,
             fused=self.fused, foreach=False if not self.fused else None, **options)  # fmt: skip

    def _make_val(self) -> None:
        """Validation rounds: round r holds every model's r-th validation batch, padded."""
        per_model = [
            _val_batches(m.data.val, int(m.data.eval_batch_size or 1024)) if m.validates else []
            for m in self.members
        ]
        self.val_sizes = [[len(b) for b in batches] for batches in per_model]
        self.val_rounds: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for r in range(max((len(b) for b in per_model), default=0)):
            width = max(len(b[r]) for b in per_model if len(b) > r)
            x = torch.zeros(len(self.members), width, *self.shape)
            n = torch.zeros(len(self.members))
            for k, batches in enumerate(per_model):
                if len(batches) > r:
                    x[k, : len(batches[r])] = batches[r].to(torch.float32).cpu()
                    n[k] = len(batches[r])
            mask = (torch.arange(width)[None, :] < n[:, None]).float()
            self.val_rounds.append((x.to(self.device), mask.to(self.device), n.to(self.device)))

    def _next_chunk(self) -> None:
        taken = [m.stream.take(SCHEDULE_CHUNK) for m in self.members]
        idx = torch.stack(
            [t[0] if t[0].shape[1] == self.bs else _widen(t[0], self.bs) for t in taken]
        )
        sizes = torch.tensor([t[1] for t in taken], dtype=torch.float32)
        self.chunk_idx = idx.to(self.device)
        self.chunk_n = sizes.to(self.device)
        self.chunk_mask = (
            (torch.arange(self.bs)[None, None, :] < sizes[..., None]).float().to(self.device)
        )
        self.chunk_sizes = [t[1] for t in taken]
        self.chunk_where = [t[2] for t in taken]
        self._chunk_pos, self._chunk_left = 0, SCHEDULE_CHUNK

    # ---------------------------------------------------------------- training
    def run(self) -> None:
        while self.members:
            if self._chunk_left == 0:
                self._next_chunk()
            self._step()

    def _step(self) -> None:
        t = self._chunk_pos
        self._chunk_pos += 1
        self._chunk_left -= 1
        sizes = [s[t] for s in self.chunk_sizes]
        where = [w[t] for w in self.chunk_where]
        width = max(sizes)
        uniform = min(sizes) == width
        x = self.x_all[self.chunk_idx[:, t, :width]]
        n = self.chunk_n[:, t]
        p = _Pass(True, None if uniform else self.chunk_mask[:, t, :width], n)
        places = [m.position(w) for m, w in zip(self.members, where, strict=True)]
        starting = [k for k, (_, j) in enumerate(places) if j == 0]
        if starting:
            self._reset_codes(starting, [places[k][0] for k in starting])
        x_in, eps = self._draws(x, sizes)
        loss, z = self.stack.losses(x_in, x, p, eps)
        grads = torch.autograd.grad(loss.sum(), list(self.stack.params.values()))
        with torch.no_grad():
            # the fused kernel walks the gradient in the parameter's (contiguous) layout
            self._adam_step([g.contiguous() for g in grads])
            self._add_codes(z.detach(), p)
        self._after_step(places, loss.detach())

    def _draws(self, x: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each model's noise and code samples, from its own generator in its own order."""
        cfg = self.cfg
        x_in = x
        if cfg.noise_ratio > 0:
            x_in = x.clone()
            for k, m in enumerate(self.members):
                x_in[k, : sizes[k]] = corrupt(
                    x[k, : sizes[k]], cfg.noise, cfg.noise_ratio, generator=m.generator
                )
        eps = None
        if self.variational:
            latent = self.stack.template.bottleneck.latent_dim
            eps = x.new_zeros(len(self.members), x.shape[1], latent)
            for k, m in enumerate(self.members):
                eps[k, : sizes[k]] = torch.randn(
                    sizes[k], latent, generator=m.generator, device=x.device, dtype=x.dtype
                )
        return x_in, eps

    @torch.no_grad()
    def _reset_codes(self, rows: list[int], epochs: list[int]) -> None:
        b = self.stack.buffers
        idx = torch.tensor(rows, device=self.device)
        for name in ("code_count", "code_sum", "code_outer"):
            b[name].index_fill_(0, idx, 0)
        b["code_epoch"].index_copy_(
            0, idx, torch.tensor(epochs, dtype=b["code_epoch"].dtype, device=self.device)
        )

    def _add_codes(self, z: torch.Tensor, p: _Pass) -> None:
        """The code statistics of AutoEncoder._accumulate_codes, over each model's own rows."""
        b = self.stack.buffers
        z = z.float()
        if p.mask is not None:
            z = z * p.mask.unsqueeze(2)
        b["code_count"].add_(p.n.to(b["code_count"].dtype))
        b["code_sum"].add_(z.sum(1))
        b["code_outer"].baddbmm_(z.transpose(1, 2), z)

    def _after_step(self, where: list[tuple[int, int]], loss: torch.Tensor) -> None:
        """Lightning's loop decisions per model: validation, end of epoch, end of training."""
        rule = self.rule
        ends: list[tuple[int, bool, bool]] = []  # (row, last group of its epoch, max_steps hit)
        for k, m in enumerate(self.members):
            m.steps += 1
            m.epoch, j = where[k]
            hit_max = rule.max_steps is not None and m.steps >= rule.max_steps
            if hit_max and m.validate_at_end and m.validates:
                m.end_check = m.should_stop = True  # ValidateAtEnd: validate, then stop
            group_end = (j + 1) % m.group == 0 or j + 1 == m.epoch_batches
            if group_end or hit_max:
                ends.append((k, j // m.group == m.groups_per_epoch - 1, hit_max))
        if not ends:
            return
        # As after_steps: one host sync per group, on the loss of its last step
        rows = torch.tensor([k for k, _, _ in ends], device=self.device)
        finite = torch.isfinite(loss.index_select(0, rows)).cpu()
        if not bool(finite.all()):
            m = self.members[ends[int((~finite).nonzero()[0])][0]]
            raise NonFiniteLoss(
                f"training loss of model {m.index} (seed {m.seed}) became non-finite by step "
                f"{m.steps} (epoch {m.epoch + 1})"
            )
        checks = [
            k
            for k, last_group, _ in ends
            if self._check_epoch(self.members[k])
            and (
                last_group
                or (self.members[k].should_stop and self._can_stop(self.members[k], False))
            )
        ]
        if checks:
            self._validate(checks)
        done: list[int] = []
        for k, last_group, hit_max in ends:
            m = self.members[k]
            epoch_over = last_group or hit_max
            if not epoch_over and m.should_stop and self._can_stop(m, False):
                epoch_over = True
            if not epoch_over:
                continue
            processed = m.epoch + 1
            if (
                hit_max
                or processed >= rule.epoch_limit
                or (m.should_stop and self._can_stop(m, True))
            ):
                done.append(k)
        if done:
            self._finish(done)

    def _check_epoch(self, m: _Member) -> bool:
        if not m.validates:
            return False
        last = m.validate_at_end and m.epoch + 1 >= self.rule.epoch_limit
        return last or m.end_check or (m.epoch + 1) % m.per_check == 0

    def _can_stop(self, m: _Member, epoch_done: bool) -> bool:
        """Lightning's ``_can_stop_early``: min_epochs (processed epochs) and min_steps met."""
        processed = m.epoch + 1 if epoch_done else m.epoch
        return processed >= self.min_epochs and m.steps >= self.min_steps

    # ---------------------------------------------------------------- validation
    @torch.no_grad()
    def _validate(self, rows: list[int]) -> None:
        total = torch.zeros(len(self.members), device=self.device)
        count = torch.zeros(len(self.members), device=self.device)
        for x, mask, n in self.val_rounds:
            p = _Pass(False, mask, n.clamp(min=1))
            loss, _ = self.stack.losses(x, x, p, None)
            total += torch.where(n > 0, loss * n, 0.0)
            count += n
        losses = (total / count.clamp(min=1)).cpu()
        for k in rows:
            self._advance_val_noise(k)
            self._early_stopping(k, losses[k].reshape(()))

    def _advance_val_noise(self, k: int) -> None:
        """Draws what the normal path's validation draws from torch's generator (denoising)."""
        cfg, m = self.cfg, self.members[k]
        if cfg.noise_ratio <= 0:
            return
        draw = torch.randn if cfg.noise == "gaussian" else torch.rand
        images = len(self.shape) == 3 and self.stack.template.log_images
        for b, size in enumerate(self.val_sizes[k]):
            draw((size, *self.shape), generator=m.generator, device=self.device)
            if b == 0 and images:  # the reconstruction grid's noisy row
                draw(
                    (min(GRID_IMAGES, size), *self.shape), generator=m.generator, device=self.device
                )

    def _early_stopping(self, k: int, current: torch.Tensor) -> None:
        m = self.members[k]
        m.val_loss = float(current)
        if not self.rule.early:
            return
        before = float(m.best)
        stop = False
        if not torch.isfinite(current):
            stop = True
        elif bool(current - self.rule.min_delta < m.best):
            m.best, m.wait = current, 0
        else:
            m.wait += 1
            stop = m.wait >= self.rule.patience
        m.should_stop = m.should_stop or stop
        if stop:
            m.stopped_epoch = m.epoch
        if float(m.best) < before:
            m.best_epoch = m.epoch + 1
            m.best_state = self.stack.state(k)

    # ---------------------------------------------------------------- the end
    def _finish(self, rows: list[int]) -> None:
        for k in rows:
            m = self.members[k]
            state = m.best_state if self.rule.early and m.best_state is not None else None
            self.finished[m.index] = (state or self.stack.state(k), self._reason(m))
        keep = [k for k in range(len(self.members)) if k not in rows]
        self.members = [self.members[k] for k in keep]
        if not keep:
            return
        rows_t = torch.tensor(keep, device=self.device)
        self.stack.keep(rows_t)
        self.exp_avg = [v.index_select(0, rows_t) for v in self.exp_avg]
        self.exp_avg_sq = [v.index_select(0, rows_t) for v in self.exp_avg_sq]
        self.chunk_idx = self.chunk_idx.index_select(0, rows_t)
        self.chunk_n = self.chunk_n.index_select(0, rows_t)
        self.chunk_mask = self.chunk_mask.index_select(0, rows_t)
        self.chunk_sizes = [self.chunk_sizes[k] for k in keep]
        self.chunk_where = [self.chunk_where[k] for k in keep]
        self.val_sizes = [self.val_sizes[k] for k in keep]
        self.val_rounds = [
            (x.index_select(0, rows_t), mask.index_select(0, rows_t), n.index_select(0, rows_t))
            for x, mask, n in self.val_rounds
        ]

    def _reason(self, m: _Member) -> str:
        """Why ``m`` stopped, in the words of BestWeights.reason and limit_reason.

        Epochs count passes over the rows, which is what the user's rule counts.
        """
        rule = self.user_rule
        epochs = (m.epoch + 1) * m.passes
        if rule.max_steps is not None and m.steps >= rule.max_steps:
            limit = f"reached the step budget (--max-steps {rule.max_steps})"
        elif rule.early:
            limit = f"reached --max-epochs {rule.max_epochs}"
        else:
            limit = f"trained the fixed --epochs {rule.epochs}"
        if not rule.early:
            return limit
        best = f"best validation loss {float(m.best):.4g} in epoch {m.best_epoch * m.passes}"
        at_limit = epochs >= rule.epoch_limit or (
            rule.max_steps is not None and m.steps >= rule.max_steps
        )
        if m.stopped_epoch and not at_limit:
            return (
                f"stopped early: no improvement of the validation loss in {rule.patience} "
                f"checks ({best})"
            )
        return f"{limit} before the validation loss stopped improving ({best})"


def _fused_adam_works(device: torch.device) -> bool:
    """Whether torch's fused Adam runs on ``device`` (AutoEncoder.configure_optimizers' test)."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError):
        return False
    return True


def _widen(rows: torch.Tensor, width: int) -> torch.Tensor:
    """Pads a ``(steps, bs)`` index block to ``width`` columns with its first column."""
    return torch.cat([rows, rows[:, :1].expand(-1, width - rows.shape[1])], dim=1)


# ------------------------------------------------------------ one by one
class _StreamData(L.LightningDataModule):
    """A :class:`ModelData` as the loaders :class:`~autoencoders.data.ArrayDataModule` makes."""

    def __init__(self, data: ModelData, passes: int = 1) -> None:
        super().__init__()
        self.data = data
        self.passes = passes

    def train_dataloader(self) -> Any:
        d = self.data
        loader = TensorBatchLoader(
            TensorImageDataset(d.train, None, 1.0),
            int(d.batch_size or 256),
            True,
            int(d.order_seed or 0),
        )
        if len(loader) > 1 and loader.last_batch_size == 1:
            loader.drop_last = True  # as ArrayDataModule: batch norm cannot train on one sample
        plain = loader if self.passes == 1 else _Passes(loader, self.passes)
        return group_for_trainer(plain, getattr(self, "trainer", None))

    def val_dataloader(self) -> Any:
        d = self.data
        val = d.val if d.val is not None else d.train[:0]
        return TensorBatchLoader(TensorImageDataset(val, None, 1.0), int(d.eval_batch_size or 1024))


def _fit_one(
    model: AutoEncoder,
    m: _Member,
    trainer_rule: StopRule,
    rule: StopRule,
    device: torch.device,
    reason: str,
) -> ManyFit:
    """Trains ``model`` alone with the package's trainer set-up (no files, no logger)."""
    from types import SimpleNamespace

    from autoencoders.stopping import BestWeights, limit_reason
    from autoencoders.training import ValidateAtEnd, make_trainer

    accelerator = {"cuda": "gpu"}.get(device.type, device.type)
    datamodule = _StreamData(m.data, m.passes)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="autoencoders-many-") as tmp, quiet():
        trainer = make_trainer(
            trainer_rule,
            logger=False,
            accelerator=accelerator,
            progress_bar=False,
            default_root_dir=tmp,
            check_val_every_n_epoch=m.per_check,
            callbacks=[ValidateAtEnd()] if m.validate_at_end else [],
            **({} if m.validates else {"limit_val_batches": 0}),
        )
        trainer.fit(model, datamodule=datamodule)
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, BestWeights)), None)  # type: ignore[attr-defined]
    epochs = int(trainer.current_epoch) * m.passes  # passes over the rows, as `rule` counts
    counted = SimpleNamespace(current_epoch=epochs, global_step=trainer.global_step)
    if stopper is not None:
        stopper.best_epoch *= m.passes
    stop_reason = (
        stopper.reason(counted, rule)  # type: ignore[arg-type]
        if stopper is not None
        else limit_reason(counted, rule)  # type: ignore[arg-type]
    )
    val = trainer.callback_metrics.get("val/loss")
    model.trainer = None  # type: ignore[assignment]  # it holds the data module
    return ManyFit(
        model.to(device).eval(),
        m.seed,
        epochs,
        int(trainer.global_step),
        stopper.best_epoch if stopper is not None else 0,
        stop_reason,
        batched=False,
        fallback_reason=reason,
        wall_time_s=time.perf_counter() - start,
        val_loss=float(val) if val is not None else math.nan,
    )


class _Passes:
    """Several passes over a loader as one trainer epoch (as the estimators' data module).

    Pass ``i`` of trainer epoch ``e`` is the loader's epoch ``e * passes + i``.
    """

    batch_sampler = None  # Lightning looks for set_epoch on `sampler`

    def __init__(self, loader: TensorBatchLoader, passes: int) -> None:
        self.loader, self.passes = loader, passes

    @property
    def sampler(self) -> _Passes:
        return self

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    @property
    def epoch(self) -> int:
        return self.loader.epoch // self.passes

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch * self.passes)

    def __len__(self) -> int:
        return len(self.loader) * self.passes

    def __iter__(self) -> Any:
        for _ in range(self.passes):
            yield from self.loader


# ------------------------------------------------------------ the library function
def fit_many(
    configs: ModelConfig | Mapping[str, Any] | Sequence[ModelConfig | Mapping[str, Any]],
    data: DataLike | Sequence[DataLike],
    seeds: Sequence[int],
    rule: StopRule | int,
    *,
    batch_size: int = 256,
    eval_batch_size: int = 1024,
    steps_per_call: int | None = None,
    validate: bool = True,
    validate_at_end: bool = True,
    passes: int = 1,
    device: torch.device | str | None = None,
    batched: bool = True,
) -> list[ManyFit]:
    """Trains one model per seed, batching those of one config (see the module's docstring).

    Args:
        configs: one config (or its dict) for all models, or one per model.
        data: one :class:`ModelData`, ``ArrayDataModule`` or training tensor for
            all models, or one per model.
        seeds: one seed per model: initialisation, noise, and (unless the data
            gives an ``order_seed``) batch order.
        rule: when each model stops: a :class:`~autoencoders.stopping.StopRule`
            or a fixed epoch count.
        batch_size: training batch size of data that does not give one.
        eval_batch_size: validation batch size of data that does not give one.
        steps_per_call: optimizer steps per grouped call (``--steps-per-call``;
            ``None``: 2048 samples' worth). It only decides where an early stop
            may land, as in the normal path.
        validate: validate every ~20 steps under a fixed epoch count too.
        validate_at_end: the last epoch, and the step that uses up ``max_steps``,
            validate too, as :func:`~autoencoders.training.fit` does (its
            ``ValidateAtEnd``); ``False`` is a plain Lightning trainer (the estimators').
        passes: passes over the training rows per trainer epoch, validating once
            per trainer epoch (the estimators' set-up for small data); ``rule``
            counts passes, and a fixed epoch count must be a multiple of it.
        device: where to train (default: the first training tensor's device).
        batched: ``False`` trains each model alone on the normal path.

    Returns:
        One :class:`ManyFit` per seed, in the order of ``seeds``.

    Raises:
        ConfigError: for counts that do not match, a config whose ``input_shape``
            is not the data's, or early stopping without validation rows.
        NonFiniteLoss: when a model's training loss stops being finite.
    """
    seeds = [int(s) for s in seeds]
    count = len(seeds)
    cfgs = _per_model(configs, count, "configs", (ModelConfig, Mapping))
    datas = _per_model(data, count, "data", (ModelData, torch.Tensor, L.LightningDataModule))
    rule = rule if isinstance(rule, StopRule) else StopRule(epochs=int(rule))
    passes = int(passes)
    if passes < 1 or (rule.epochs is not None and rule.epochs % passes):
        raise ConfigError(f"passes must be at least 1 and divide the epoch count, got {passes}")
    cfgs = [_as_config(c) for c in cfgs]
    resolved = [
        _resolve(d, s, batch_size, eval_batch_size) for d, s in zip(datas, seeds, strict=True)
    ]
    if not resolved:
        return []
    where = torch.device(device) if device is not None else resolved[0].train.device
    for i, (cfg, d) in enumerate(zip(cfgs, resolved, strict=True)):
        if tuple(cfg.input_shape) != tuple(d.train.shape[1:]):
            raise ConfigError(
                f"model {i}: input_shape {tuple(cfg.input_shape)} is not its data's sample "
                f"shape {tuple(d.train.shape[1:])}"
            )
        if rule.early and (d.val is None or len(d.val) == 0):
            raise ConfigError(
                f"model {i}: early stopping needs validation rows; give a fixed epoch count"
            )
    cohorts: dict[str, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        cohorts.setdefault(json.dumps(config_to_dict(cfg), sort_keys=True), []).append(i)
    results: list[ManyFit | None] = [None] * count
    for members in cohorts.values():
        for i, fit in zip(
            members, _fit_cohort(cfgs[members[0]], members, resolved, seeds, rule, validate,
                                 validate_at_end, passes, where, steps_per_call, batched),
            strict=True,
        ):  # fmt: skip
            results[i] = fit
    return [r for r in results if r is not None]


def train_many(
    configs: ModelConfig | Mapping[str, Any] | Sequence[ModelConfig | Mapping[str, Any]],
    data: DataLike | Sequence[DataLike],
    seeds: Sequence[int],
    rule: StopRule | int,
    **options: Any,
) -> list[AutoEncoder]:
    """:func:`fit_many`'s models alone: one trained ``AutoEncoder`` per seed, in eval mode."""
    return [fit.model for fit in fit_many(configs, data, seeds, rule, **options)]


def save_checkpoint(model: AutoEncoder, path: str | Path) -> Path:
    """Writes ``model``'s weights and config as a checkpoint :func:`autoencoders.load` reads."""
    import io

    from autoencoders.files import write_bytes

    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "autoencoder_config": model.config}, buffer)
    return write_bytes(path, buffer.getbuffer())


def _fit_cohort(
    cfg: ModelConfig,
    rows: list[int],
    data: list[ModelData],
    seeds: list[int],
    rule: StopRule,
    validate: bool,
    validate_at_end: bool,
    passes: int,
    device: torch.device,
    steps_per_call: int | None,
    batched: bool,
) -> list[ManyFit]:
    from autoencoders.models import build_model

    # the trainer's rule: its epochs are `passes` passes each (AutoencoderModelMixin._train)
    if rule.early:
        trainer_rule = dataclasses.replace(rule, max_epochs=-(-rule.max_epochs // passes))
    else:
        trainer_rule = dataclasses.replace(rule, epochs=int(rule.epochs or 0) // passes)

    members: list[_Member] = []
    offset = 0
    cuda = [device.index or 0] if device.type == "cuda" else []
    # fork_rng: seeding per model leaves the caller's random state as it was
    with torch.random.fork_rng(devices=cuda):
        for i in rows:
            torch.manual_seed(seeds[i])
            model = build_model(cfg)
            model.steps_per_call = steps_per_call
            generator = torch.Generator(device=device)
            if device.type == "cpu":
                # the normal path's noise comes next from torch's generator, after the init
                generator.set_state(torch.get_rng_state())
            else:
                generator.manual_seed(seeds[i])  # a device generator the init did not touch
            d = data[i]
            stream = _Stream(len(d.train), int(d.batch_size or 256), int(d.order_seed or 0), offset)
            offset += len(d.train)
            members.append(
                _Member(
                    i,
                    seeds[i],
                    d,
                    model,
                    generator,
                    stream,
                    group=model.optimizer_steps_per_call(stream.bs),
                    # fit validates every ~20 steps; the estimators once per (longer) epoch
                    per_check=epochs_per_check(stream.batches) if passes == 1 else 1,
                    validates=rule.early or (validate and d.val is not None and len(d.val) > 0),
                    passes=passes,
                    validate_at_end=validate_at_end,
                )
            )
    problem = batch_problem(members[0].model) if batched else "batched=False"
    if problem is not None or rule.epoch_limit == 0:
        if problem and batched:
            log.info("training %d %s model(s) one by one: %s", len(rows), cfg.model, problem)
        fits = []
        for m in members:
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(m.seed)
                model = build_model(cfg)  # the same init again, and torch's generator after it
                model.steps_per_call = steps_per_call
                fits.append(_fit_one(model, m, trainer_rule, rule, device, problem or ""))
        return fits
    start = time.perf_counter()
    group = _Group(list(members), trainer_rule, device, rule)
    group.run()
    wall = time.perf_counter() - start
    fits = []
    for m in members:
        state, reason = group.finished[m.index]
        m.model.load_state_dict(state)
        fits.append(
            ManyFit(
                m.model.to(device).eval(),
                m.seed,
                (m.epoch + 1) * passes,
                m.steps,
                m.best_epoch * passes if rule.early else 0,
                reason,
                batched=True,
                wall_time_s=wall,
                val_loss=m.val_loss,
            )
        )
    return fits


def _per_model(value: Any, count: int, what: str, single: tuple[type, ...]) -> list[Any]:
    if isinstance(value, single) or not isinstance(value, Sequence):
        return [value] * count
    items = list(value)
    if len(items) != count:
        raise ConfigError(
            f"{what}: give one for all models or one per seed ({count}), got {len(items)}"
        )
    return items


def _as_config(cfg: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    if isinstance(cfg, ModelConfig):
        return cfg
    from autoencoders.registry import variant

    data = dict(cfg)
    return config_from_dict(data, variant(str(data.get("model", "deep"))).config_cls)


def _resolve(data: Any, seed: int, batch_size: int, eval_batch_size: int) -> ModelData:
    if isinstance(data, torch.Tensor):
        data = ModelData(data)
    elif not isinstance(data, ModelData):
        data = ModelData.from_datamodule(data)
    return dataclasses.replace(
        data,
        train=data.train.float(),
        val=None if data.val is None else data.val.float(),
        order_seed=seed if data.order_seed is None else int(data.order_seed),
        batch_size=int(data.batch_size or batch_size),
        eval_batch_size=int(data.eval_batch_size or eval_batch_size),
    )
