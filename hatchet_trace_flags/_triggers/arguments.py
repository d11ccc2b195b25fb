"""Cheap argument binding for the wrappers we inherit from hatchet-sdk's instrumentor.

Every stock wrapper calls ``extract_bound_args``, which on Python < 3.14 tries ``import annotationlib`` (a
failed import is not cached, so Python searches all of ``sys.path`` each time) and then builds
``inspect.signature`` from scratch: about 90 µs per task start and per trigger. The result only depends on the
wrapped function, so we build the signature once per function and, for the plain positional-or-keyword
signatures that make up almost every call, bind by hand. The result is exactly what ``Signature.bind`` +
``apply_defaults`` would produce.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_MISSING: Any = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class _CallShape:
    signature: inspect.Signature
    names: tuple[str, ...]
    defaults: tuple[Any, ...]  # _MISSING where a parameter is required
    simple: bool  # only positional-or-keyword parameters: hand binding is exact


_shapes: dict[Any, _CallShape] = {}
_shapes_lock = threading.Lock()


def _shape_of(func: Callable[..., Any]) -> _CallShape:
    key = getattr(func, "__func__", func)
    shape = _shapes.get(key)
    if shape is None:
        signature = inspect.signature(func)
        parameters = list(signature.parameters.values())
        shape = _CallShape(
            signature=signature,
            names=tuple(p.name for p in parameters),
            defaults=tuple(p.default for p in parameters),
            simple=all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters),
        )
        with _shapes_lock:
            _shapes[key] = shape
    return shape


def bound_arguments(func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Any]:
    """The values of ``func``'s parameters for this call, defaults applied, in declaration order."""
    shape = _shape_of(func)
    if not shape.simple:
        bound = shape.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return list(bound.arguments.values())

    names = shape.names
    count = len(args)
    if count == len(names) and not kwargs:
        return list(args)
    if not count and len(kwargs) == len(names) and all(name in kwargs for name in names):
        return [kwargs[name] for name in names]  # all by keyword, as hatchet-sdk's own callers do
    if count > len(names) or any(name not in names[count:] for name in kwargs):
        # Too many, unknown or duplicated arguments: let inspect raise the TypeError the call would raise.
        shape.signature.bind(*args, **kwargs)
    values = list(args)
    for index in range(count, len(names)):
        name = names[index]
        if name in kwargs:
            values.append(kwargs[name])
        elif shape.defaults[index] is not _MISSING:
            values.append(shape.defaults[index])
        else:
            shape.signature.bind(*args, **kwargs)  # a required argument is missing: same TypeError
    return values
