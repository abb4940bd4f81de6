"""The stacked autoencoder: greedy layer-wise pre-training, then end-to-end fine-tuning.

Within one ``trainer.fit`` call, training runs in stages. With ``n`` linear
layers in the MLP encoder, stage ``k`` (``k = 1 .. n``) lasts
``pretrain_epochs`` epochs and trains only encoder layer ``k`` and the decoder
layer that mirrors it: the pair learns to reconstruct the output of the
already trained, now frozen, encoder layers ``1 .. k-1`` (for ``k = 1``, the
input itself). After the ``n`` greedy stages, every layer is fine-tuned
together for the remaining epochs, exactly like the ``deep`` model.

If the run has too few epochs for ``n * pretrain_epochs`` greedy epochs plus at
least one fine-tuning epoch, the greedy stages are shortened evenly (possibly
to nothing) and a warning says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.losses import reconstruction_loss
from autoencoders.module import AutoEncoder, batch_inputs, loss_scalars
from autoencoders.nn.decoders import MLPDecoder
from autoencoders.nn.encoders import MLPEncoder
from autoencoders.nn.noise import corrupt

if TYPE_CHECKING:
    from autoencoders.config import StackedConfig

log = logging.getLogger(__name__)

#: name of the last stage, in which all layers train together
FINE_TUNE = "fine-tune"


class StackedAutoEncoder(AutoEncoder):
    """An MLP autoencoder pre-trained greedily, one encoder/decoder layer pair at a time.

    Args:
        encoder: an :class:`~autoencoders.nn.encoders.MLPEncoder`.
        bottleneck: a bottleneck whose ``in_features`` equals its ``latent_dim``
            (the encoder and decoder must be mirror images).
        decoder: an :class:`~autoencoders.nn.decoders.MLPDecoder` mirroring ``encoder``.
        config: a :class:`~autoencoders.config.StackedConfig`; its
            ``pretrain_epochs`` are the greedy epochs per layer before fine-tuning.
        **kwargs: passed on to :class:`~autoencoders.module.AutoEncoder`.

    Attributes:
        stage_history: ``(epoch, stage name)`` for every stage begun, in order.

    Raises:
        ValueError: if the encoder and decoder are not mirrored MLPs.
    """

    def __init__(
        self,
        encoder: nn.Module,
        bottleneck: nn.Module,
        decoder: nn.Module,
        config: StackedConfig,
        **kwargs: Any,
    ) -> None:
        if not isinstance(encoder, MLPEncoder) or not isinstance(decoder, MLPDecoder):
            raise ValueError(
                "the stacked autoencoder pre-trains layer by layer, which needs the mlp "
                f"architecture (got {type(encoder).__name__} and {type(decoder).__name__}); "
                "use --architecture mlp"
            )
        if list(encoder.widths) != list(decoder.widths)[::-1]:
            raise ValueError(
                f"the decoder's widths {decoder.widths} do not mirror the encoder's "
                f"{encoder.widths}; the stacked autoencoder needs a bottleneck that keeps "
                "the code's size"
            )
        super().__init__(encoder, bottleneck, decoder, config, **kwargs)
        self.pretrain_epochs = int(config.pretrain_epochs)
        self.num_blocks = len(encoder.layers)
        self.epochs_per_layer = self.pretrain_epochs
        self.stage_history: list[tuple[int, str]] = []

    # ----------------------------------------------------------------- stages
    def stage_index(self, epoch: int) -> int:
        """The stage of an epoch: ``k`` (0-based) trains layer ``k + 1``; ``num_blocks`` fine-tunes."""
        if self.epochs_per_layer <= 0:
            return self.num_blocks
        return min(epoch // self.epochs_per_layer, self.num_blocks)

    def stage_name(self, index: int) -> str:
        """A readable name of a stage, e.g. ``"layer 2/3"`` or ``"fine-tune"``."""
        return FINE_TUNE if index >= self.num_blocks else f"layer {index + 1}/{self.num_blocks}"

    def on_fit_start(self) -> None:
        self.epochs_per_layer = self.pretrain_epochs
        trainer = self._trainer
        max_epochs = trainer.max_epochs if trainer is not None else None
        needed = self.num_blocks * self.pretrain_epochs
        if max_epochs is not None and max_epochs >= 0 and needed >= max_epochs:
            self.epochs_per_layer = max(max_epochs - 1, 0) // self.num_blocks
            log.warning(
                "stacked autoencoder: %d layer(s) x %d pre-training epoch(s) leave no "
                "fine-tuning in %d epoch(s); pre-training %d epoch(s) per layer instead. "
                "Train for at least %d epochs to pre-train fully.",
                self.num_blocks,
                self.pretrain_epochs,
                max_epochs,
                self.epochs_per_layer,
                needed + 1,
            )

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        epoch = self.current_epoch
        name = self.stage_name(self.stage_index(epoch))
        if not self.stage_history or self.stage_history[-1][1] != name:
            self.stage_history.append((epoch, name))
            log.info("stacked autoencoder: epoch %d starts stage %s", epoch, name)

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        stage = float(self.stage_index(self.current_epoch))
        self.log("train/stage", stage, on_step=False, on_epoch=True)

    # --------------------------------------------------------------- training
    def optimizer_steps_per_call(self, batch_size: int) -> int:
        # The greedy stages step through Lightning's automatic optimization, one
        # batch per call, so the data modules must not group batches for this model.
        return 1

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        stage = self.stage_index(self.current_epoch)
        if stage >= self.num_blocks:
            return super().training_step(batch, batch_idx)
        out = self.layer_losses(batch_inputs(batch), stage)
        self.train_sums.add([loss_scalars(out)], [len(out["z"])])
        if self.logger_will_write():
            self._log_stage("train", out, on_step=True, on_epoch=False)
        return out["loss"]

    def layer_losses(self, x: torch.Tensor, stage: int) -> dict[str, torch.Tensor]:
        """Loss of greedy stage ``stage`` (0-based) on a clean batch ``x``.

        Encoder layer ``stage`` and its mirrored decoder layer reconstruct the
        frozen output of the encoder layers before it: the input itself for the
        first layer (with the model's reconstruction loss, and its input noise
        if any), a hidden activation otherwise (squared error summed over units,
        averaged over the batch). The last layer's stage passes its code through
        the bottleneck and adds the bottleneck's loss.

        Returns:
            ``layer_recon``, ``bottleneck``, ``loss`` and the layer's code ``z`` (detached).
        """
        enc_layers = self.encoder.layers
        dec_layer = self.decoder.layers[self.num_blocks - 1 - stage]
        if stage == 0:
            cfg = self.cfg
            noisy = cfg.noise_ratio > 0
            inputs = (corrupt(x, cfg.noise, cfg.noise_ratio) if noisy else x).flatten(1)
            target = x
        else:
            frozen = enc_layers[:stage]
            was_training = frozen.training
            frozen.eval()  # frozen layers: no gradients and no BatchNorm statistics updates
            with torch.no_grad():
                inputs = frozen(x.flatten(1))
            frozen.train(was_training)
            target = inputs
        code = enc_layers[stage](inputs)
        aux = code.new_zeros(())
        if stage == self.num_blocks - 1:
            code, aux = self.bottleneck(code)
        output = dec_layer(code)
        if stage == 0:
            logits = getattr(self.decoder, "output_activation", "sigmoid") == "sigmoid"
            recon = reconstruction_loss(
                output.view_as(target), target, self.cfg.recon_loss, logits=logits
            )
        else:
            recon = F.mse_loss(output, target, reduction="sum") / max(target.shape[0], 1)
        return {"layer_recon": recon, "bottleneck": aux, "loss": recon + aux, "z": code.detach()}
