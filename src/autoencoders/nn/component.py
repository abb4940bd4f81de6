"""A base class that lets a checkpoint rebuild our building blocks.

Every encoder, bottleneck and decoder in this package derives from
:class:`Component`. When one is constructed, its constructor arguments are
recorded, so a checkpoint can store a small JSON-able *spec* and ``load`` can
rebuild the exact network without the user re-creating it by hand.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

_JSON_SCALARS = (str, int, float, bool, type(None))


def _to_jsonable(value: Any) -> Any:
    """Converts a constructor argument to plain JSON data, or raises TypeError."""
    if isinstance(value, Component):
        return value.spec()
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, (tuple, list)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    raise TypeError(f"argument of type {type(value).__name__} cannot be stored in a checkpoint")


class Component(nn.Module):
    """An ``nn.Module`` that remembers how it was built.

    Subclasses are registered by class name in :attr:`registry`; their
    constructor arguments must be plain data (numbers, strings, sequences) or
    other components.
    """

    registry: ClassVar[dict[str, type[Component]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Component.registry.setdefault(cls.__name__, cls)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Component, *args: Any, **kw: Any) -> None:
            # Only the outermost constructor records: a subclass calling
            # super().__init__ must not overwrite its own arguments.
            if "_spec_args" not in self.__dict__:
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))
                self.__dict__["_spec_args"] = arguments
                self.__dict__["_spec_type"] = type(self).__name__
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    def spec(self) -> dict[str, Any]:
        """Returns ``{"type": class name, "args": constructor arguments}`` as JSON data.

        Raises:
            TypeError: if an argument cannot be written as JSON data.
        """
        args = self.__dict__.get("_spec_args", {})
        try:
            stored = {name: _to_jsonable(value) for name, value in args.items()}
        except TypeError as err:
            raise TypeError(f"{type(self).__name__}: {err}") from err
        return {"type": self.__dict__.get("_spec_type", type(self).__name__), "args": stored}


def build_component(spec: Mapping[str, Any]) -> Component:
    """Rebuilds a component from the spec written by :meth:`Component.spec`.

    Raises:
        ValueError: if the spec names a class that is not a registered component.
    """
    type_name = spec.get("type")
    cls = Component.registry.get(str(type_name))
    if cls is None:
        known = ", ".join(sorted(Component.registry))
        raise ValueError(
            f"checkpoint names the module type {type_name!r}, which is not one of this package's "
            f"components ({known}); rebuild that module yourself and call load_state_dict"
        )
    args = {
        name: build_component(value) if _is_spec(value) else value
        for name, value in spec.get("args", {}).items()
    }
    return cls(**args)


def _is_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"type", "args"}
