"""Options that say what they accept: the one validator behind every config's fields.

A field made with :func:`option` carries its help text, a numeric ``range``
and/or a set of ``choices``; its type comes from the dataclass annotation.
:func:`check_fields` reads that for any dataclass, so each rule is written once,
where the field is declared. Every refusal is a
:class:`~autoencoders.errors.ConfigError` whose one-line message names the option
as typed on the command line, the value given and what would be valid.

This is our own code rather than a validation library's because each rule
must also read as ``--help`` text and name the command-line flag in its message.
The command line (jsonargparse) reads each value as the field's annotated type;
the ranges, choices and combined rules are checked here, so a config built in
Python is held to the same rules as one typed on the command line.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import reprlib
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from autoencoders.errors import ConfigError

#: Integers must fit in 64 bits, as torch and numpy store them.
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Interval:
    """The numbers a field accepts; a side left ``None`` is unbounded.

    ``str`` gives the range as a message shows it: ``[0, 1)``, ``>= 1`` or ``> 0``.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        x = typing.cast(float, value)
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or (x < self.high if self.high_open else x <= self.high)

    def __str__(self) -> str:
        if self.low is None and self.high is None:
            return "any value"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{self.low}, {self.high}{right}"

    @property
    def phrase(self) -> str:
        """The range after "must be": ``in [0, 1]`` for a bounded one, else ``>= 1``."""
        both = self.low is not None and self.high is not None
        return f"in {self}" if both else str(self)


def at_least(low: float) -> Interval:
    """The numbers ``>= low``."""
    return Interval(low)


def above(low: float) -> Interval:
    """The numbers ``> low``."""
    return Interval(low, low_open=True)


#: a ratio, closed at both ends
UNIT = Interval(0, 1)

Choices = tuple[str, ...] | Callable[[], Iterable[str]]


def option(
    default: Any,
    help: str,
    *,
    cli: bool = True,
    range: Interval | tuple[float, float] | None = None,
    choices: Choices | None = None,
    flag: str | None = None,
    words: tuple[str, ...] = (),
) -> Any:
    """A dataclass field with a help text for the command line and what it accepts.

    Args:
        default: the field's default (tuples, not lists, for sequences).
        help: one line for ``--help``.
        cli: whether the command line offers the field as a flag.
        range: the numbers accepted, an :class:`Interval` or a closed ``(low, high)``;
            for a tuple field, the range of each entry.
        choices: the strings accepted, or a function returning them (for registries
            that cannot be imported here without a cycle).
        flag: what messages call the field, when not ``--<name>`` (or the bare name
            for fields the command line does not offer).
        words: strings a number field also accepts (``"auto"``); annotate it
            ``float | str``, and the number is checked against ``range`` as usual.
    """
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    metadata: dict[str, Any] = {"help": help, "cli": cli}
    if range is not None:
        metadata["range"] = range if isinstance(range, Interval) else Interval(*range)
    if choices is not None:
        metadata["choices"] = choices
    if flag is not None:
        metadata["flag"] = flag
    if words:
        metadata["words"] = tuple(words)
    return field(default=default, metadata=metadata)


# ------------------------------------------------------------- validation
def option_label(f: dataclasses.Field, *, flags: bool = True) -> str:
    """How messages name field ``f``: ``--noise-ratio`` (``flags``), else ``noise_ratio``."""
    if not flags:
        return f.name
    if "flag" in f.metadata:
        return str(f.metadata["flag"])
    return "--" + f.name.replace("_", "-") if f.metadata.get("cli", True) else f.name


def option_choices(f: dataclasses.Field) -> tuple[str, ...] | None:
    """The strings field ``f`` accepts, or ``None`` where any string will do."""
    choices = f.metadata.get("choices")
    if choices is None:
        return None
    return tuple(choices() if callable(choices) else choices)


def option_constraint(f: dataclasses.Field) -> str:
    """What field ``f`` accepts, in words for ``--help``: ``in [0, 1]``, ``one of (a, b)``."""
    choices = option_choices(f)
    if choices is not None:
        return f"one of ({', '.join(choices)})"
    interval = f.metadata.get("range")
    return interval.phrase if interval is not None else ""


def value_text(value: Any) -> str:
    """``value`` as a one-line message shows it: its repr, shortened, on one line."""
    return " ".join(reprlib.repr(value).splitlines())


@functools.cache
def _field_kinds(cls: type) -> dict[str, tuple[str, bool]]:
    """``{field: (kind, optional)}`` read from the annotations of dataclass ``cls``.

    ``kind`` is ``bool``, ``int``, ``float``, ``str`` or ``ints`` (a tuple of ints);
    ``optional`` says whether ``None`` is accepted (``int | None``).
    """
    hints = typing.get_type_hints(cls)
    kinds = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if f.metadata.get("words"):  # `float | str`: a number, or one of its words
            hint = next(a for a in typing.get_args(hint) if a is not str)
        args = typing.get_args(hint)
        optional = type(None) in args
        if optional:
            (hint,) = (a for a in args if a is not type(None))
        if typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (int,):
            kinds[f.name] = ("ints", optional)
        elif hint in (bool, int, float, str):
            kinds[f.name] = (hint.__name__, optional)
        elif "range" in f.metadata or "choices" in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name}: no validation for type {hint}")
        # else a free-form field (a list of names, a dict of options), checked where it is used
    return kinds


def _requirement(kind: str, interval: Interval | None, choices: tuple[str, ...] | None) -> str:
    """What a field of this kind accepts, after "must be"."""
    if kind == "bool":
        return "true or false"
    if kind == "str":
        return f"one of ({', '.join(choices)})" if choices is not None else "a non-empty string"
    if kind == "float":
        bounded = interval is not None and interval.low is not None and interval.high is not None
        noun = "a number" if bounded else "a finite number"
        return f"{noun} {interval.phrase}" if interval is not None else noun
    noun = "an integer" if kind == "int" else "a non-empty list of integers"
    if interval is None:
        return noun
    return f"{noun} {interval.phrase}" if kind == "int" else f"{noun}, each {interval.phrase}"


def _normalized(kind: str, value: Any, interval: Interval | None, choices: Any) -> Any:
    """``value`` as the Python type of ``kind``, or ``None`` if it is not acceptable."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "str":
        if (
            not isinstance(value, str)
            or not value
            or (choices is not None and value not in choices)
        ):
            return None
        return value
    if kind == "ints":
        if not isinstance(value, (list, tuple)) or not value:
            return None
        entries = [_normalized("int", v, interval, None) for v in value]
        return None if any(e is None for e in entries) else tuple(entries)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if kind == "int":
        if not isinstance(value, numbers.Integral) or abs(int(value)) > INT64_MAX:
            return None
        number: float = int(value)
    else:
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None
        if not math.isfinite(number):
            return None
    return number if interval is None or number in interval else None


def _check_value(f: dataclasses.Field, kind: str, optional: bool, value: Any, label: str) -> Any:
    """Checks one value of field ``f`` and returns it normalised.

    Normalised means: lists become tuples, numpy scalars become Python numbers
    and an ``int`` in a float field becomes a ``float``.

    Raises:
        ConfigError: ``<label> must be <what the field accepts>, got <value>``.
    """
    if optional and value is None:
        return None
    words = f.metadata.get("words", ())
    if isinstance(value, str) and value in words:
        return value
    interval = f.metadata.get("range")
    choices = option_choices(f)
    normal = _normalized(kind, value, interval, choices)
    if normal is not None:
        return normal
    wanted = _requirement(kind, interval, choices) + "".join(f" or {w}" for w in words)
    if kind in ("int", "ints") and _exceeds_int64(value):
        wanted += " (and within 64 bits)"
    if optional:
        wanted += " (or unset)"
    raise ConfigError(f"{label} must be {wanted}, got {value_text(value)}")


def _exceeds_int64(value: Any) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and abs(int(v)) > INT64_MAX
        for v in values
    )


def check_option(cls: type, name: str, value: Any, *, label: str | None = None) -> Any:
    """Checks ``value`` against field ``name`` of config class ``cls``, returning it normalised.

    For callers with parameters of their own that mirror a config field (the
    scikit-learn estimator's ``batch_size``): the same rule, their own name.

    Raises:
        ConfigError: naming ``label`` (default: the field's flag).
    """
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    kind, optional = _field_kinds(cls)[name]
    return _check_value(f, kind, optional, value, label or option_label(f))


def field_requirement(cls: type, name: str) -> str:
    """What field ``name`` of dataclass ``cls`` accepts, after "must be": ``an integer >= 1``.

    For messages about a value refused before it reaches a config (the command
    line's parser could not read ``--latent-dim abc`` as a number).
    """
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    kind, optional = _field_kinds(cls)[name]
    wanted = _requirement(kind, f.metadata.get("range"), option_choices(f))
    return wanted + " (or unset)" if optional else wanted


def check_fields(cfg: Any, *, flags: bool = True) -> None:
    """Checks every field of dataclass ``cfg`` on its own, normalising the values in place.

    Args:
        cfg: a config object.
        flags: name fields as command-line flags (``--noise-ratio``); ``False`` names
            them as in Python (``noise_ratio``).

    Raises:
        ConfigError: for the first field whose value is not acceptable.
    """
    kinds = _field_kinds(type(cfg))
    for f in dataclasses.fields(cfg):
        if f.name not in kinds:
            continue
        kind, optional = kinds[f.name]
        value = _check_value(f, kind, optional, getattr(cfg, f.name), option_label(f, flags=flags))
        setattr(cfg, f.name, value)


def field_labeller(cfg: Any, flags: bool) -> Callable[[str], str]:
    """``name -> label`` for the fields of ``cfg``, for messages about several fields."""
    by_name = {f.name: f for f in dataclasses.fields(cfg)}
    return lambda name: option_label(by_name[name], flags=flags)
