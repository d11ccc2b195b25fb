"""Strict JSON: RFC 8259 text only, for every JSON the worker and the service exchange.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity``, which other JSON parsers refuse and which
cannot be written back out as JSON; the rule document parser and the service's request bodies both refuse
them with :func:`reject_constant` as ``parse_constant``.
"""

from __future__ import annotations

from typing import NoReturn

__all__ = ["NotJSON", "reject_constant"]


class NotJSON(ValueError):
    """The text parsed only because Python's ``json`` is lenient."""


def reject_constant(name: str) -> NoReturn:
    """``parse_constant`` for :func:`json.loads`: refuse ``NaN``, ``Infinity`` and ``-Infinity``."""
    raise NotJSON(f"{name} is not JSON (Python's json module accepts it, others do not)")
