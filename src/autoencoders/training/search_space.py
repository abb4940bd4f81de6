"""The search space of ``autoencoders tune``: from the options' declared ranges, or a YAML file.

Every searchable option is a field of the run's :class:`~autoencoders.run_config.TrainConfig`
or of the model's config, declared with :func:`~autoencoders.options.option`; its
``range`` or ``choices`` bound the search. A range open on one side (``lr > 0``,
``batch_size >= 1``) is closed around the default: a tenth to ten times it for a
number, a quarter to four times for a count, on a log scale. :data:`DEFAULT_SEARCH`
names what is searched without a file.

A search-space file maps option names to what to try::

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    batch_size: [64, 128, 256]      # these values
    num_layers: {}                  # the range derived from its declaration
    weight_decay: null              # not searched (keeps the command line's value)
    latent_dim: 16                  # fixed for every trial

Each value is checked against the option's declaration before any trial runs.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoencoders.config import ModelConfig
from autoencoders.errors import UsageError
from autoencoders.options import Interval, check_option, option_choices
from autoencoders.run_config import TrainConfig

#: searched when no file says otherwise (where the model has them)
DEFAULT_SEARCH = ("lr", "batch_size")
#: run options a search may vary: those that shape training, not where it runs or writes
RUN_SEARCHABLE = (
    "batch_size", "epochs", "max_epochs", "max_steps", "min_steps", "patience", "min_delta",
    "train_size", "steps_per_call",
)  # fmt: skip
#: the keys of a range in a search-space file
RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class Dimension:
    """One searched option: a numeric range, or the values to choose from."""

    name: str
    #: "run" (TrainConfig) or "model" (the model's config)
    owner: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial draws for this option."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            step = int(self.step or 1)
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=step, log=self.log
            )  # type: ignore[arg-type]
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)  # type: ignore[arg-type]

    def describe(self) -> str:
        """``lr in [0.0001, 0.01] (log)`` or ``noise one of (gaussian, masking)``."""
        if self.choices:
            return f"{self.name} one of ({', '.join(map(str, self.choices))})"
        scale = " (log)" if self.log else ""
        return f"{self.name} in [{self.low:g}, {self.high:g}]{scale}"


@dataclass(frozen=True)
class SearchSpace:
    """What a study varies (:attr:`dimensions`) and what a file fixes for every trial."""

    dimensions: tuple[Dimension, ...]
    #: option -> value, fixed by the file, per owner ("run", "model")
    fixed: Mapping[str, Mapping[str, Any]]


def _kinds(cls: type) -> dict[str, tuple[dataclasses.Field, str]]:
    """The searchable fields of config class ``cls``: name -> (field, kind)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):  # `int | None`; `float | str` ("auto")
            skip = (type(None), str) if f.metadata.get("words") else (type(None),)
            (hint, *more) = [a for a in typing.get_args(hint) if a not in skip]
            if more:
                continue
        if hint is bool:
            out[f.name] = (f, "bool")
        elif hint is str and option_choices(f) is not None:
            out[f.name] = (f, "choice")
        elif hint in (int, float) and "range" in f.metadata:
            out[f.name] = (f, hint.__name__)
    return out


def searchable(model_cls: type[ModelConfig]) -> dict[str, tuple[str, dataclasses.Field, str]]:
    """Every option a study of ``model_cls`` may vary: name -> (owner, field, kind)."""
    found = {n: ("model", f, k) for n, (f, k) in _kinds(model_cls).items()}
    run = _kinds(TrainConfig)
    found.update({n: ("run", *run[n]) for n in RUN_SEARCHABLE if n in run})
    return found


def derived(name: str, owner: str, f: dataclasses.Field, kind: str, default: Any) -> Dimension:
    """The dimension an option's declaration implies (see the module's note).

    Raises:
        UsageError: for a number whose declared range is open and whose default is 0
            or unset, so that no range can be derived; the message asks for one.
    """
    if kind == "bool":
        return Dimension(name, owner, choices=(False, True))
    if kind == "choice":
        return Dimension(name, owner, choices=tuple(option_choices(f) or ()))
    interval: Interval = f.metadata["range"]
    integer = kind == "int"
    closed = interval.low is not None and interval.high is not None
    if closed and not (interval.low_open or interval.high_open):
        low, high = float(interval.low), float(interval.high)  # type: ignore[arg-type]
        return Dimension(name, owner, low, high, _log(low, high, integer), integer=integer)
    if not isinstance(default, (int, float)) or isinstance(default, bool) or default <= 0:
        raise UsageError(
            f"search space: {name} has no closed range to search (its default is "
            f"{default!r}); give one in a --space file, e.g. {name}: {{low: ..., high: ...}}"
        )
    factor = 4 if integer else 10
    low, high = default / factor, default * factor
    if interval.low is not None:
        low = max(low, interval.low)
    if interval.high is not None:
        high = min(high, interval.high)
    if integer:
        low, high = max(1, math.ceil(low)), math.floor(high)
    return Dimension(name, owner, low, high, _log(low, high, integer), integer=integer)


def _log(low: float, high: float, integer: bool) -> bool:
    """A log scale for positive ranges spanning a factor of 10 or more."""
    return low > 0 and high / low >= 10 and (not integer or high - low >= 8)


def build_space(
    model_cls: type[ModelConfig],
    defaults: Mapping[str, Any],
    spec: Mapping[str, Any] | None = None,
    source: str = "search space",
) -> SearchSpace:
    """The study's space: :data:`DEFAULT_SEARCH`, changed by ``spec`` (a file's mapping).

    Args:
        model_cls: the model's config class.
        defaults: each option's value for this study (the command line's, else the default);
            the centre of a derived range.
        spec: option -> range (mapping), values (list), a fixed value, or ``None``.
        source: how messages name ``spec`` (the file).

    Raises:
        UsageError: for an unknown or unsearchable option, a range that is empty or
            outside the option's declaration, or an empty list of values.
    """
    options = searchable(model_cls)
    chosen: dict[str, Any] = {n: {} for n in DEFAULT_SEARCH if n in options}
    if defaults.get("lr") == "auto":
        chosen.pop("lr", None)  # each trial's learning-rate finder chooses it
    for key, value in (spec or {}).items():
        name = str(key).replace("-", "_")
        if name not in options:
            raise UsageError(
                f"{source}: unknown option {key!r} for model {model_cls().model!r}; it can "
                f"search: {', '.join(sorted(options))}"
            )
        chosen[name] = value
    dims, fixed = [], {"run": {}, "model": {}}
    for name, value in chosen.items():
        owner, f, kind = options[name]
        cls = TrainConfig if owner == "run" else model_cls
        label = f"{source}: {name}"
        if value is None:
            continue
        if isinstance(value, Mapping):
            dims.append(_ranged(name, owner, f, kind, defaults.get(name), value, cls, label))
        elif isinstance(value, list):
            if not value:
                raise UsageError(f"{label}: an empty list of values; give at least one")
            values = tuple(check_option(cls, name, v, label=label) for v in value)
            dims.append(Dimension(name, owner, choices=tuple(dict.fromkeys(values))))
        else:
            fixed[owner][name] = check_option(cls, name, value, label=label)
    return SearchSpace(tuple(dims), fixed)


def _ranged(
    name: str,
    owner: str,
    f: dataclasses.Field,
    kind: str,
    default: Any,
    value: Mapping[str, Any],
    cls: type,
    label: str,
) -> Dimension:
    """A dimension from a file's ``{low, high, log, step}`` (``{}``: the derived one)."""
    extra = set(value) - RANGE_KEYS
    if extra:
        raise UsageError(f"{label}: unknown key(s) {', '.join(sorted(map(str, extra)))}; a "
                         "range takes low, high, log and step")  # fmt: skip
    base = derived(name, owner, f, kind, default) if not ({"low", "high"} <= set(value)) else None
    if kind in ("bool", "choice"):
        if value:
            raise UsageError(f"{label}: takes a list of values, not a range")
        assert base is not None
        return base
    low = value.get("low", base.low if base else None)
    high = value.get("high", base.high if base else None)
    low, high = (check_option(cls, name, v, label=f"{label} low/high") for v in (low, high))
    if isinstance(low, str) or isinstance(high, str):
        raise UsageError(f"{label}: low and high must be numbers, got {low!r} and {high!r}")
    if low > high:
        raise UsageError(f"{label}: empty range (low {low} > high {high}); give low <= high")
    log = bool(value.get("log", base.log if base and "log" not in value else False))
    if log and low <= 0:
        raise UsageError(f"{label}: a log scale needs low > 0, got {low}")
    step = value.get("step")
    if step is not None and (not isinstance(step, (int, float)) or step <= 0 or log):
        raise UsageError(f"{label}: step must be a number > 0, and not with log: true")
    return Dimension(name, owner, low, high, log, step, integer=kind == "int")


def read_space(path: Path | None) -> dict[str, Any] | None:
    """A search-space file's mapping (``None`` without a file).

    Raises:
        UsageError: for a missing or unreadable file, or one that holds no mapping.
    """
    if path is None:
        return None
    if not path.is_file():
        raise UsageError(f"search-space file {path} does not exist")
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise UsageError(f"cannot parse search-space file {path}: {reason}") from None
    if not isinstance(data, dict) or not data:
        raise UsageError(
            f"search-space file {path} must map option names to ranges, e.g. "
            "lr: {low: 1.0e-4, high: 1.0e-2, log: true}"
        )
    return data
