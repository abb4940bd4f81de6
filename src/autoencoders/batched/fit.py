"""``fit_many`` and ``train_many``: the models of each config batched, the rest one by one."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch

from autoencoders.batched.data import DataLike, ModelData, Stream, resolve_data
from autoencoders.batched.group import Group
from autoencoders.batched.member import Member
from autoencoders.batched.model import batch_problem
from autoencoders.batched.results import ManyFit
from autoencoders.batched.sequential import fit_one
from autoencoders.config import ModelConfig, config_from_dict, config_to_dict
from autoencoders.errors import ConfigError
from autoencoders.models import build_model
from autoencoders.module import AutoEncoder
from autoencoders.registry import variant
from autoencoders.training.in_memory import trainer_rule
from autoencoders.training.stopping import StopRule, epochs_per_check

# one logger for the whole package, named as when it was one module
log = logging.getLogger("autoencoders.batched")


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
    """Trains one model per seed, batching those of one config (see :mod:`autoencoders.batched`).

    Args:
        configs: one config (or its dict) for all models, or one per model.
        data: one :class:`ModelData`, ``ArrayDataModule`` or training tensor for
            all models, or one per model.
        seeds: one seed per model: initialisation, noise, and (unless the data
            gives an ``order_seed``) batch order.
        rule: when each model stops: a :class:`~autoencoders.training.stopping.StopRule`
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
        resolve_data(d, s, batch_size, eval_batch_size) for d, s in zip(datas, seeds, strict=True)
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
    # the trainer's rule: its epochs are `passes` passes each, as in train_on_rows
    rule_per_epoch = trainer_rule(rule, passes)

    members: list[Member] = []
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
            stream = Stream(len(d.train), int(d.batch_size or 256), int(d.order_seed or 0), offset)
            offset += len(d.train)
            members.append(
                Member(
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
                fits.append(fit_one(model, m, rule_per_epoch, rule, device, problem or ""))
        return fits
    start = time.perf_counter()
    group = Group(list(members), rule_per_epoch, device, rule)
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
    data = dict(cfg)
    return config_from_dict(data, variant(str(data.get("model", "deep"))).config_cls)
