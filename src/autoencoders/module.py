"""The one LightningModule that trains every autoencoder in this package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from autoencoders.data.loader import GroupedLoader, StepGroup
from autoencoders.errors import NonFiniteLoss
from autoencoders.losses import RECON_LOSSES, reconstruction_loss
from autoencoders.nn.bottlenecks import Bottleneck
from autoencoders.nn.component import Component
from autoencoders.nn.noise import NOISE_KINDS, corrupt
from autoencoders.visuals import image_rows, show_inline

log = logging.getLogger(__name__)

#: how many validation images the reconstruction grid shows
GRID_IMAGES = 8
#: samples' worth of batches that one `training_step` call takes by default
SAMPLES_PER_CALL = 2048


class AutoEncoder(L.LightningModule):
    """Encoder, bottleneck and decoder trained to reconstruct their input.

    ``loss = recon + bottleneck_loss (+ contractive penalty)``. Denoising is not a
    separate class: with ``noise_ratio > 0`` the training step corrupts its inputs
    and compares the reconstruction with the *clean* batch.

    Args:
        encoder: maps ``(B, *input_shape)`` to ``(B, bottleneck.in_features)``.
        bottleneck: maps ``h`` to ``(z, aux_loss)``; see :mod:`autoencoders.nn.bottlenecks`.
        decoder: maps ``(B, latent_dim)`` back to ``(B, *input_shape)``. Decoders of
            this package expose logits (``decode_logits``); any other module is
            taken to output values in [0, 1].
        lr: Adam's learning rate.
        noise_ratio: strength of the input corruption during training (``None`` or 0: off).
        recon_loss: ``"bce"``, ``"mse"`` or ``"rmse"``; see
            :func:`autoencoders.losses.reconstruction_loss`.
        prevent_tb_logging: show validation images inline (matplotlib, in a notebook)
            instead of sending them to TensorBoard.
        noise: kind of corruption: ``"salt_pepper"``, ``"gaussian"`` or ``"masking"``.
        contractive_weight: weight of the contractive penalty, the squared Frobenius
            norm of the encoder's Jacobian (one random projection per step).
        weight_decay: Adam's weight decay.
        log_images: log the input/reconstruction grid once per validation epoch.
        config: the model configuration this module was built from, stored in
            checkpoints (set by :func:`autoencoders.models.build_model`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        bottleneck: nn.Module,
        decoder: nn.Module,
        lr: float = 1e-3,
        noise_ratio: float | None = None,
        recon_loss: str = "bce",
        prevent_tb_logging: bool = False,
        *,
        noise: str = "salt_pepper",
        contractive_weight: float = 0.0,
        weight_decay: float = 0.0,
        log_images: bool = True,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        recon_loss = recon_loss.lower()
        if recon_loss not in RECON_LOSSES:
            raise ValueError(f"recon_loss must be one of {RECON_LOSSES}, got {recon_loss!r}")
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
        if recon_loss == "bce" and getattr(decoder, "output_activation", "sigmoid") != "sigmoid":
            raise ValueError(
                "recon_loss='bce' needs outputs in [0, 1]: use a decoder with "
                "output_activation='sigmoid', or recon_loss='mse' for unbounded data"
            )
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder
        self.lr = float(lr)
        self.noise_ratio = float(noise_ratio or 0.0)
        self.noise = noise
        self.recon_loss = recon_loss
        self.prevent_tb_logging = bool(prevent_tb_logging)
        self.contractive_weight = float(contractive_weight)
        self.weight_decay = float(weight_decay)
        self.log_images = bool(log_images)
        self.config = dict(config) if config else None
        #: optimizer steps per `training_step` call (None: `SAMPLES_PER_CALL` samples' worth)
        self.steps_per_call: int | None = None
        #: training samples each process saw in the last epoch (one entry per process)
        self.samples_per_process: list[int] = []
        latent_dim = int(getattr(bottleneck, "latent_dim", 0))
        self.latent_dim = latent_dim
        # Running moments of the training codes: a Gaussian fitted to them is the
        # prior that lets a plain autoencoder generate (see `sample`).
        self.register_buffer("code_count", torch.zeros(()))
        self.register_buffer("code_sum", torch.zeros(latent_dim))
        self.register_buffer("code_outer", torch.zeros(latent_dim, latent_dim))
        # The epoch those sums cover: a run resumed inside an epoch keeps adding to them.
        self.register_buffer("code_epoch", torch.tensor(-1))

    # ----------------------------------------------------------------- verbs
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructs ``x`` (no noise is added, whatever the mode)."""
        z, _ = self.bottleneck(self.encoder(x))
        return self.decoder(z)

    reconstruct = forward

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of ``x``; in eval mode variational models return the posterior mean."""
        z, _ = self.bottleneck(self.encoder(x))
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decodes codes to outputs in the data's range."""
        return self.decoder(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws ``n`` new outputs by decoding codes from the model's prior.

        Models whose bottleneck has a prior (variational, vector-quantized) use
        it; the others use a Gaussian fitted to the codes seen in the last
        training epoch.

        Raises:
            RuntimeError: if the model has no prior and has not been trained.
        """
        z = (
            self.bottleneck.sample(n, device=self.device)
            if isinstance(self.bottleneck, Bottleneck)
            else None
        )
        if z is None:
            z = self._sample_fitted_prior(n, generator)
        return self.decoder(z)

    def _sample_fitted_prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        count = float(self.code_count)
        if count < 2:
            raise RuntimeError(
                "this model has no prior to sample from yet: train it for at least one epoch "
                "(a Gaussian is fitted to its training codes)"
            )
        mean = self.code_sum / count
        cov = self.code_outer / count - torch.outer(mean, mean)
        jitter = 1e-5 * torch.eye(self.latent_dim, device=cov.device, dtype=cov.dtype)
        chol = torch.linalg.cholesky(cov + jitter)
        eps = torch.randn(n, self.latent_dim, device=mean.device, generator=generator)
        return mean + eps @ chol.T

    # -------------------------------------------------------------- training
    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The fused Adam kernel updates all parameters in one call; on 2 CPU cores it
        # makes a small model's whole training step ~40% faster than the default.
        params = [p for p in self.parameters() if p.requires_grad]
        try:
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)
        except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around every hook call (dozens per step);
        # nn.Module's attribute checks for it cost more than a small model's math.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def compute_losses(self, x: torch.Tensor, noisy: bool) -> dict[str, torch.Tensor]:
        """All loss terms of one batch, plus the code ``z`` (detached).

        Args:
            x: a clean batch.
            noisy: corrupt the input first (denoising training) and compare the
                reconstruction with the clean ``x``.
        """
        x_in = corrupt(x, self.noise, self.noise_ratio) if noisy and self.noise_ratio > 0 else x
        contractive = self.contractive_weight > 0 and torch.is_grad_enabled()
        if contractive:
            x_in = x_in.detach().requires_grad_(True)
        h = self.encoder(x_in)
        z, aux = self.bottleneck(h)
        recon = self._recon(z, x)
        out = {"recon": recon, "bottleneck": aux, "z": z.detach()}
        loss = recon + aux
        if contractive:
            out["contractive"] = _jacobian_penalty(h, x_in)
            loss = loss + self.contractive_weight * out["contractive"]
        out["loss"] = loss
        return out

    def _recon(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # Logits only come from a sigmoid decoder; an identity decoder's output is the value.
        sigmoid = getattr(self.decoder, "output_activation", "sigmoid") == "sigmoid"
        if sigmoid and hasattr(self.decoder, "decode_logits"):
            return reconstruction_loss(self.decoder.decode_logits(z), x, self.recon_loss)
        return reconstruction_loss(self.decoder(z), x, self.recon_loss, logits=False)

    def optimizer_steps_per_call(self, batch_size: int) -> int:
        """How many batches (optimizer steps) one ``training_step`` call should take.

        Our data modules ask this and deliver the training batches in groups of
        that size (:class:`~autoencoders.data.loader.StepGroup`), so Lightning's
        per-item cost is paid once per group. Set ``steps_per_call`` to choose
        the number; it is 1 where Lightning itself must see every step: gradient
        clipping or accumulation configured on the Trainer.
        """
        trainer = self._trainer
        if trainer is not None and (
            trainer.gradient_clip_val or trainer.accumulate_grad_batches != 1
        ):
            return 1
        if self.steps_per_call is not None:
            return max(1, int(self.steps_per_call))
        return max(1, SAMPLES_PER_CALL // max(int(batch_size), 1))

    def on_train_start(self) -> None:
        # Grouped batches need the steps taken here, in `training_step`.
        loader = self.trainer.train_dataloader
        self.automatic_optimization = not isinstance(loader, GroupedLoader)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if isinstance(batch, StepGroup):
            return self._train_group(batch)
        if not self.automatic_optimization:
            raise RuntimeError(
                "with automatic_optimization off, AutoEncoder expects grouped batches "
                "(a StepGroup from autoencoders.data.loader.GroupedLoader)"
            )
        out = self._train_batch(_inputs(batch))
        self._check_finite(out["loss"], self.global_step + 1)  # the step about to be taken
        trainer = self._trainer
        if trainer is not None and self.global_step % max(trainer.log_every_n_steps, 1) == 0:
            # Lightning's `log` costs far more than a small model's step; calling it
            # only when the logger would write anyway keeps training at full speed.
            self._log_stage("train", out, on_step=True, on_epoch=False)
        return out["loss"]

    def _train_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.compute_losses(x, noisy=True)
        self._accumulate_codes(out["z"])
        self._accumulate_train_metrics([self._metrics(out)], [len(out["z"])])
        return out

    def _train_group(self, group: StepGroup) -> None:
        """One optimizer step per batch of ``group``; the last step's metrics are logged."""
        if self.automatic_optimization:
            raise RuntimeError(
                "grouped batches (StepGroup) need manual optimization: fit through a "
                "Trainer, whose on_train_start switches it on for a GroupedLoader"
            )
        optimizer = self.optimizers()
        max_steps = self.trainer.max_steps
        out = None
        steps: list[tuple[dict[str, torch.Tensor], torch.Tensor]] = []
        for batch in group:
            if 0 <= max_steps <= self.global_step:
                break
            out = self.compute_losses(_inputs(batch), noisy=True)
            optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            self.manual_backward(out["loss"])
            optimizer.step()  # type: ignore[union-attr]
            steps.append((self._metrics(out), out["z"]))
        if not steps:
            return
        # One host sync per group: a NaN in any step has reached the last step's loss.
        self._check_finite(out["loss"], self.global_step)  # type: ignore[index]
        # Bookkeeping once per group, not per step: a few small ops fewer per step.
        self._accumulate_codes(torch.cat([z for _, z in steps]))
        self._accumulate_train_metrics([m for m, _ in steps], [len(z) for _, z in steps])
        if _logger_will_write(self._trainer):
            # `log` costs ~2 ms a call: only call it when the logger writes the value.
            self._log_stage("train", out, on_step=True, on_epoch=False)

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLoss(
                f"training loss became {float(loss.detach())} by step {step} "
                f"(epoch {self.current_epoch + 1})"
            )

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.encode(_inputs(batch))

    def on_train_epoch_start(self) -> None:
        if int(self.code_epoch) != self.current_epoch:
            self.code_epoch.fill_(self.current_epoch)
            self.code_count.zero_()
            self.code_sum.zero_()
            self.code_outer.zero_()
        self.__dict__["_train_sums"] = {}

    def _accumulate_train_metrics(
        self, metrics: list[dict[str, torch.Tensor]], sizes: list[int]
    ) -> None:
        """Adds steps' metrics, weighted by their batch sizes, to the epoch's sums on the device.

        Nothing is synchronised with the host: the sums are read once, at the epoch's end.
        """
        keys = list(metrics[0])
        values = torch.stack([m[k].detach().float() for m in metrics for k in keys])
        weights = torch.tensor(sizes, dtype=values.dtype).to(values.device, non_blocking=True)
        total = (values.view(len(metrics), len(keys)) * weights[:, None]).sum(dim=0)
        sums = self.__dict__.setdefault("_train_sums", {})
        if sums.get("_keys") != keys:
            sums.clear()
            sums.update(_keys=keys, _total=torch.zeros_like(total), _count=0)
        sums["_total"].add_(total)
        sums["_count"] += sum(sizes)

    def on_train_epoch_end(self) -> None:
        sums = self.__dict__.get("_train_sums") or {}
        if not sums.get("_count"):
            return
        totals = sums["_total"] / sums["_count"]
        means = {f"train/{k}_epoch": totals[i] for i, k in enumerate(sums["_keys"])}
        self.log_dict(means, on_step=False, on_epoch=True, sync_dist=self._several_processes())
        # Each process's share of the epoch, so a run can show that every one took part.
        counts = self.all_gather(torch.tensor(float(sums["_count"]), device=self.device))
        self.samples_per_process = [int(c) for c in counts.reshape(-1).tolist()]

    def _several_processes(self) -> bool:
        trainer = self._trainer
        return trainer is not None and trainer.world_size > 1

    def _accumulate_codes(self, z: torch.Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            return
        z = z.float()
        self.code_count.add_(z.shape[0])
        self.code_sum.add_(z.sum(dim=0))
        self.code_outer.addmm_(z.T, z)

    def _evaluate(self, batch: Any, batch_idx: int, stage: str) -> None:
        x = _inputs(batch)
        out = self.compute_losses(x, noisy=False)
        if self.noise_ratio > 0:
            # How well the model cleans corrupted inputs: the point of denoising.
            out["denoised_recon"] = self.compute_losses(x, noisy=True)["recon"]
        self._log_stage(stage, out, on_step=False)
        if stage == "val" and batch_idx == 0 and self.log_images and x.dim() == 4:
            self._log_image_grids(x[:GRID_IMAGES], stage)

    def _metrics(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loggable scalars of a step: loss terms and the bottleneck's diagnostics."""
        metrics = {k: v for k, v in out.items() if k != "z"}
        if isinstance(self.bottleneck, Bottleneck):
            metrics.update(self.bottleneck.metrics())
        return metrics

    def _log_stage(
        self, stage: str, out: dict[str, torch.Tensor], on_step: bool, on_epoch: bool = True
    ) -> None:
        metrics = {f"{stage}/{k}": v for k, v in self._metrics(out).items()}
        loss = metrics.pop(f"{stage}/loss")
        kw = {
            "on_step": on_step,
            "on_epoch": on_epoch,
            "batch_size": out["z"].shape[0],
            # epoch means over every process's share, where there are several
            "sync_dist": on_epoch and not on_step and self._several_processes(),
        }
        self.log_dict(metrics, **kw)
        self.log(f"{stage}/loss", loss, prog_bar=True, **kw)

    @torch.no_grad()
    def _log_image_grids(self, x: torch.Tensor, stage: str) -> None:
        rows = [x]
        if self.noise_ratio > 0:
            noisy = corrupt(x, self.noise, self.noise_ratio)
            rows += [noisy, self(noisy)]
        else:
            rows.append(self(x))
        grids = {f"{stage}/reconstructions": image_rows(rows)}
        if getattr(self.bottleneck, "shows_latent_influence", False):
            eye = torch.eye(self.latent_dim, device=x.device, dtype=x.dtype)
            grids[f"{stage}/latent_influence"] = image_rows([self.decoder(eye)])
        for tag, grid in grids.items():
            if self.prevent_tb_logging:
                show_inline(grid, f"{tag} at step {self.global_step}")
            elif self.logger is not None and hasattr(self.logger.experiment, "add_image"):
                self.logger.experiment.add_image(tag, grid.cpu(), self.global_step)

    # ----------------------------------------------------------- checkpoints
    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this model, as JSON data."""
        for part in ("encoder", "bottleneck", "decoder"):
            if not isinstance(getattr(self, part), Component):
                raise TypeError(
                    f"the {part} ({type(getattr(self, part)).__name__}) is not one of this "
                    "package's components, so a checkpoint cannot rebuild it"
                )
        return {
            "format": 1,
            "module": type(self).__name__,
            "encoder": self.encoder.spec(),
            "bottleneck": self.bottleneck.spec(),
            "decoder": self.decoder.spec(),
            "hparams": self.hparams_for_spec(),
        }

    def hparams_for_spec(self) -> dict[str, Any]:
        """Constructor arguments besides the three networks (subclasses add theirs)."""
        return {
            "lr": self.lr,
            "noise_ratio": self.noise_ratio,
            "recon_loss": self.recon_loss,
            "prevent_tb_logging": self.prevent_tb_logging,
            "noise": self.noise,
            "contractive_weight": self.contractive_weight,
            "weight_decay": self.weight_decay,
            "log_images": self.log_images,
            "config": self.config,
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["autoencoder_config"] = self.config
        checkpoint["samples_per_process"] = list(self.samples_per_process)
        try:
            checkpoint["autoencoder_spec"] = self.spec()
        except TypeError as err:
            log.warning("checkpoint will hold weights only: %s", err)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = None, **_: Any
    ) -> AutoEncoder:
        """Rebuilds a model from a checkpoint written by this package (``weights_only`` loading)."""
        from autoencoders.checkpoint import load

        return load(checkpoint_path, map_location=map_location)


def _logger_will_write(trainer: Any) -> bool:
    """Whether Lightning writes this call's step metrics (true when it cannot tell)."""
    connector = getattr(trainer, "_logger_connector", None)
    return bool(getattr(connector, "should_update_logs", True))


def _inputs(batch: Any) -> torch.Tensor:
    """The input tensor of a batch that is either ``x`` or ``(x, y)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _jacobian_penalty(h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Unbiased one-sample estimate of ``||dh/dx||_F^2``, averaged over the batch.

    For ``v ~ N(0, I)``, ``E ||J^T v||^2 = ||J||_F^2`` (Hutchinson), so one
    vector-Jacobian product replaces ``latent_dim`` backward passes.
    """
    v = torch.randn_like(h)
    (grad,) = torch.autograd.grad((h * v).sum(), x, create_graph=True)
    return grad.pow(2).sum() / h.shape[0]
