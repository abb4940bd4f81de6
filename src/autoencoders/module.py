"""The one LightningModule that trains every autoencoder in this package."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autoencoders.config import ModelConfig, config_to_dict
from autoencoders.errors import ConfigError, NonFiniteLoss
from autoencoders.grouped_steps import EpochSums, GroupedSteps
from autoencoders.images import image_rows, show_inline
from autoencoders.losses import BottleneckLoss, LossTerm, StepTensors, reconstruction_loss
from autoencoders.nn.bottlenecks import Bottleneck
from autoencoders.nn.noise import corrupt

#: how many validation images the reconstruction grid shows
GRID_IMAGES = 8


class AutoEncoder(GroupedSteps):
    """Encoder, bottleneck and decoder trained to reconstruct their input.

    ``loss = recon + sum(weight * term)`` over its ``loss_terms`` (the
    bottleneck's own regularizer, a contractive penalty, ...; see
    :func:`autoencoders.models.parts.loss_terms`). Denoising is not a separate class:
    with ``noise_ratio > 0`` training corrupts the inputs and compares the
    reconstruction with the *clean* batch. Grouped optimizer steps (our speed)
    come from :class:`~autoencoders.grouped_steps.GroupedSteps`.

    Build one with :func:`autoencoders.models.build_model`; every setting is read
    from ``config``, which checkpoints store, so :func:`autoencoders.load`
    rebuilds the model from it.

    Args:
        encoder: maps ``(B, *input_shape)`` to ``(B, bottleneck.in_features)``.
        bottleneck: maps ``h`` to ``(z, aux_loss)``; see :mod:`autoencoders.nn.bottlenecks`.
        decoder: maps ``(B, latent_dim)`` back to ``(B, *input_shape)``. Decoders of
            this package expose logits (``decode_logits``); any other module is
            taken to output values in [0, 1].
        config: the configuration the three networks were built from.
        loss_terms: the terms added to the reconstruction error (default: the
            bottleneck's own loss only); ``build_model`` passes the variant's.
        prevent_tb_logging: show validation images inline (matplotlib, in a notebook)
            instead of sending them to TensorBoard.
        log_images: log the input/reconstruction grid once per validation epoch.
    """

    def __init__(
        self,
        encoder: nn.Module,
        bottleneck: nn.Module,
        decoder: nn.Module,
        config: ModelConfig,
        *,
        loss_terms: Sequence[LossTerm] | None = None,
        prevent_tb_logging: bool = False,
        log_images: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder
        self.cfg = config
        # A term of weight 0 is not computed: the contractive one costs an extra backward pass.
        terms = [BottleneckLoss()] if loss_terms is None else loss_terms
        self.loss_terms = [t for t in terms if t.weight != 0]
        # Where gradients are off (validation), terms through the input's gradient are left out.
        self._terms_without_grad = [t for t in self.loss_terms if not t.needs_input_grad]
        self._needs_input_grad = len(self._terms_without_grad) < len(self.loss_terms)
        self.prevent_tb_logging = bool(prevent_tb_logging)
        self.log_images = bool(log_images)
        self.latent_dim = int(getattr(bottleneck, "latent_dim", config.latent_dim))
        #: training samples each process saw in the last epoch (one entry per process)
        self.samples_per_process: list[int] = []
        self.train_sums = EpochSums()
        # Running moments of the training codes: a Gaussian fitted to them is the
        # prior that lets a plain autoencoder generate (see `sample`).
        self.register_buffer("code_count", torch.zeros(()))
        self.register_buffer("code_sum", torch.zeros(self.latent_dim))
        self.register_buffer("code_outer", torch.zeros(self.latent_dim, self.latent_dim))
        # The epoch those sums cover: a run resumed inside an epoch keeps adding to them.
        self.register_buffer("code_epoch", torch.tensor(-1))

    @property
    def config(self) -> dict[str, Any]:
        """The model's config as JSON data: what ``config.json`` and checkpoints hold."""
        return config_to_dict(self.cfg)

    # ----------------------------------------------------------------- verbs
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructs ``x`` (no noise is added, whatever the mode)."""
        with self._graph_for(x):
            z, _ = self.bottleneck(self.encoder(x))
            return self.decoder(z)

    reconstruct = forward

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of ``x``; in eval mode variational models return the posterior mean."""
        with self._graph_for(x):
            z, _ = self.bottleneck(self.encoder(x))
            return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decodes codes to outputs in the data's range."""
        with self._graph_for(z):
            return self.decoder(z)

    def _graph_for(self, x: torch.Tensor) -> Any:
        """Autograd as the caller needs it: none for a model in eval mode.

        A loaded model is in eval mode, and its users want plain tensors
        (``model.encode(x).numpy()``); an input that requires grad (saliency,
        a Jacobian) or a model in training mode keeps the graph.
        """
        if self.training or x.requires_grad:
            return contextlib.nullcontext()
        return torch.no_grad()

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
            self.bottleneck.sample(n, device=self.device, generator=generator)
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

    # ---------------------------------------------------------------- losses
    def compute_losses(self, x: torch.Tensor, noisy: bool) -> dict[str, torch.Tensor]:
        """Every loss term of one batch, their weighted sum ``loss``, and the code ``z`` (detached).

        Args:
            x: a clean batch.
            noisy: corrupt the input first (denoising training) and compare the
                reconstruction with the clean ``x``.
        """
        cfg = self.cfg
        x_in = corrupt(x, cfg.noise, cfg.noise_ratio) if noisy and cfg.noise_ratio > 0 else x
        grad = torch.is_grad_enabled()
        terms = self.loss_terms if grad else self._terms_without_grad
        if grad and self._needs_input_grad:
            x_in = x_in.detach().requires_grad_(True)
        h = self.encoder(x_in)
        z, aux = self.bottleneck(h)
        out = {"recon": self._recon(z, x)}
        loss = out["recon"]
        step = StepTensors(x=x, x_in=x_in, h=h, z=z, bottleneck_loss=aux)
        for term in terms:
            out[term.name] = term(step)
            loss = loss + term.weight * out[term.name]
        out["loss"] = loss
        out["z"] = z.detach()
        return out

    def _recon(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # Logits only come from a sigmoid decoder; an identity decoder's output is the value.
        sigmoid = getattr(self.decoder, "output_activation", "sigmoid") == "sigmoid"
        if sigmoid and hasattr(self.decoder, "decode_logits"):
            return reconstruction_loss(self.decoder.decode_logits(z), x, self.cfg.recon_loss)
        return reconstruction_loss(self.decoder(z), x, self.cfg.recon_loss, logits=False)

    def _metrics(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loggable scalars of a step: loss terms and the bottleneck's diagnostics."""
        metrics = {k: v for k, v in out.items() if k != "z"}
        if isinstance(self.bottleneck, Bottleneck):
            metrics.update(self.bottleneck.metrics())
        return metrics

    # -------------------------------------------------------------- training
    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The fused Adam kernel updates all parameters in one call; on 2 CPU cores it
        # makes a small model's whole training step ~40% faster than the default.
        params = [p for p in self.parameters() if p.requires_grad]
        lr, decay = self.cfg.lr, self.cfg.weight_decay
        if isinstance(lr, str):  # "auto" is replaced by a rate before training starts
            raise ConfigError(
                f"lr={lr!r} is chosen by the learning-rate finder of `autoencoders train` and "
                "autoencoders.training.job.train_run only; give this model a number"
            )
        try:
            return torch.optim.Adam(params, lr=lr, weight_decay=decay, fused=True)
        except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
            return torch.optim.Adam(params, lr=lr, weight_decay=decay)

    def training_losses(self, batch: Any) -> dict[str, torch.Tensor]:
        """One training batch's loss terms and diagnostics, taken right after its forward pass."""
        out = self.compute_losses(batch_inputs(batch), noisy=True)
        return {**self._metrics(out), "z": out["z"]}

    def after_steps(self, outs: list[dict[str, torch.Tensor]], step: int) -> None:
        """Bookkeeping once per ``training_step`` call, over the optimizer steps it took."""
        # One host sync per call: a NaN in any step has reached the last step's loss.
        self._check_finite(outs[-1]["loss"], step)
        self._accumulate_codes(torch.cat([o["z"] for o in outs]))
        self.train_sums.add([loss_scalars(o) for o in outs], [len(o["z"]) for o in outs])
        if self.logger_will_write():
            self._log_stage("train", outs[-1], on_step=True, on_epoch=False)

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLoss(
                f"training loss became {float(loss.detach())} by step {step} "
                f"(epoch {self.current_epoch + 1})"
            )

    def on_train_epoch_start(self) -> None:
        if int(self.code_epoch) != self.current_epoch:
            self.code_epoch.fill_(self.current_epoch)
            self.code_count.zero_()
            self.code_sum.zero_()
            self.code_outer.zero_()
        self.train_sums.reset()

    def on_train_epoch_end(self) -> None:
        means = self.train_sums.means()
        if not means:
            return
        self.log_dict(
            {f"train/{k}_epoch": v for k, v in means.items()},
            on_step=False,
            on_epoch=True,
            sync_dist=self._several_processes(),
        )
        # Each process's share of the epoch, so a run can show that every one took part.
        count = torch.tensor(float(self.train_sums.count), device=self.device)
        self.samples_per_process = [int(c) for c in self.all_gather(count).reshape(-1).tolist()]

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

    # ------------------------------------------------------------ evaluation
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.encode(batch_inputs(batch))

    def _evaluate(self, batch: Any, batch_idx: int, stage: str) -> None:
        x = batch_inputs(batch)
        out = self.compute_losses(x, noisy=False)
        if self.cfg.noise_ratio > 0:
            # How well the model cleans corrupted inputs: the point of denoising.
            out["denoised_recon"] = self.compute_losses(x, noisy=True)["recon"]
        self._log_stage(stage, {**self._metrics(out), "z": out["z"]}, on_step=False)
        if stage == "val" and batch_idx == 0 and self.log_images and x.dim() == 4:
            self._log_image_grids(x[:GRID_IMAGES], stage)

    def _log_stage(
        self, stage: str, out: dict[str, torch.Tensor], on_step: bool, on_epoch: bool = True
    ) -> None:
        """Logs a step's scalars (``out`` as :meth:`training_losses` returns it)."""
        metrics = {f"{stage}/{k}": v for k, v in loss_scalars(out).items()}
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
        if self.cfg.noise_ratio > 0:
            noisy = corrupt(x, self.cfg.noise, self.cfg.noise_ratio)
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
                continue
            # every logger that takes images: TensorBoard's writer, or one of ours
            # (the MLflow logger of autoencoders.training.loggers) with its own add_image
            for logger in self.loggers:
                add = getattr(logger, "add_image", None) or getattr(
                    logger.experiment, "add_image", None
                )
                if add is not None:
                    add(tag, grid.cpu(), self.global_step)

    # ----------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["autoencoder_config"] = self.config
        checkpoint["samples_per_process"] = list(self.samples_per_process)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = None, **_: Any
    ) -> AutoEncoder:
        """Not Lightning's way (it re-runs ``__init__`` from saved arguments): use ``autoencoders.load``.

        Raises:
            TypeError: always, naming the function that rebuilds a model from its config.
        """
        raise TypeError(
            "rebuild a model from its checkpoint with autoencoders.load(path): the checkpoint "
            "holds the model's config, which build_model turns back into the model"
        )


def loss_scalars(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in out.items() if k != "z"}


def batch_inputs(batch: Any) -> torch.Tensor:
    """The input tensor of a batch that is either ``x`` or ``(x, y)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch
