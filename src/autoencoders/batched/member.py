"""One model's place in a batched group: its data stream, step counters and early-stopping state."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from autoencoders.batched.data import ModelData, Stream
from autoencoders.module import AutoEncoder


@dataclass
class Member:
    """One model's progress and early-stopping state (Lightning's EarlyStopping + BestWeights)."""

    index: int
    seed: int
    data: ModelData
    model: AutoEncoder
    generator: torch.Generator
    stream: Stream
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
