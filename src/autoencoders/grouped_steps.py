"""Several optimizer steps per ``training_step`` call: our training speed, kept apart.

Lightning spends 0.5-1 ms of Python on every item its loop takes from the
training loader, as much as a small model's whole step. Our data modules ask
the module being fitted how many batches one call may take
(:meth:`GroupedSteps.optimizer_steps_per_call`) and hand them over as one
:class:`~autoencoders.data.loader.StepGroup`; :meth:`GroupedSteps.train_group`
then takes one optimizer step per batch itself. The arithmetic is that of one
step per call (a test compares the weights bit for bit).

The seam with the module is two methods it provides:

* ``training_losses(batch) -> dict``: one batch's loss terms (``"loss"`` is
  minimised), diagnostics and code ``"z"``;
* ``after_steps(outs, step)``: bookkeeping once per call, with every step's dict.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from autoencoders.data.loader import GroupedLoader, StepGroup

#: samples' worth of batches that one `training_step` call takes by default
SAMPLES_PER_CALL = 2048


class GroupedSteps(L.LightningModule):
    """A LightningModule that accepts :class:`StepGroup` batches (see the module's docstring)."""

    #: optimizer steps per `training_step` call (None: `SAMPLES_PER_CALL` samples' worth)
    steps_per_call: int | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` around every hook call (dozens per step);
        # nn.Module's attribute checks for it cost more than a small model's math.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def training_losses(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_steps(self, outs: list[dict[str, torch.Tensor]], step: int) -> None:
        raise NotImplementedError

    def optimizer_steps_per_call(self, batch_size: int) -> int:
        """How many batches (optimizer steps) one ``training_step`` call should take.

        It is 1 where Lightning itself must see every step: gradient clipping or
        accumulation configured on the Trainer. Set ``steps_per_call`` to choose.
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
            self.train_group(batch)
            return None
        if not self.automatic_optimization:
            raise RuntimeError(
                "with automatic_optimization off, this module expects grouped batches "
                "(a StepGroup from autoencoders.data.loader.GroupedLoader)"
            )
        out = self.training_losses(batch)
        self.after_steps([out], self.global_step + 1)  # the step Lightning is about to take
        return out["loss"]

    def train_group(self, group: StepGroup) -> None:
        """One optimizer step per batch of ``group``, stopping at the Trainer's ``max_steps``."""
        if self.automatic_optimization:
            raise RuntimeError(
                "grouped batches (StepGroup) need manual optimization: fit through a "
                "Trainer, whose on_train_start switches it on for a GroupedLoader"
            )
        optimizer = self.optimizers()
        max_steps = self.trainer.max_steps
        outs: list[dict[str, torch.Tensor]] = []
        for batch in group:
            if 0 <= max_steps <= self.global_step:
                break
            out = self.training_losses(batch)
            optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            self.manual_backward(out["loss"])
            optimizer.step()  # type: ignore[union-attr]
            outs.append(out)
        if outs:
            self.after_steps(outs, self.global_step)

    def logger_will_write(self) -> bool:
        """Whether Lightning writes this call's step metrics (true when it cannot tell).

        ``log`` costs ~2 ms a call, far more than a small model's step: calling it
        only when the logger writes the value keeps training at full speed.
        """
        connector = getattr(self._trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))


class EpochSums:
    """Batch-size-weighted sums of training metrics over an epoch, kept on the device.

    Nothing is synchronised with the host until :meth:`means`, once per epoch.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.keys: list[str] = []
        self.total: torch.Tensor | None = None
        self.count = 0

    def add(self, metrics: list[dict[str, torch.Tensor]], sizes: list[int]) -> None:
        """Adds several steps' scalar metrics, weighted by their batch sizes."""
        keys = list(metrics[0])
        values = torch.stack([m[k].detach().float() for m in metrics for k in keys])
        weights = torch.tensor(sizes, dtype=values.dtype).to(values.device, non_blocking=True)
        total = (values.view(len(metrics), len(keys)) * weights[:, None]).sum(dim=0)
        if keys != self.keys or self.total is None:
            self.keys, self.total, self.count = keys, torch.zeros_like(total), 0
        self.total.add_(total)
        self.count += sum(sizes)

    def means(self) -> dict[str, torch.Tensor]:
        """Each metric's epoch mean (empty before the first :meth:`add`)."""
        if not self.count or self.total is None:
            return {}
        totals = self.total / self.count
        return {k: totals[i] for i, k in enumerate(self.keys)}
