"""Argument checks shared by the constructors and the environment settings: one wording for each rule."""

from __future__ import annotations

import math

__all__ = ["check_count", "check_seconds", "check_seconds_or_zero"]


def check_seconds(name: str, value: object) -> float:
    """``value`` as a float when it is a finite number of seconds above zero, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_seconds_or_zero(name: str, value: object) -> float:
    """Like :func:`check_seconds`, but 0 is allowed (it turns the thing off)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be zero or a positive number of seconds, got {value!r}")
    return float(value)


def check_count(name: str, value: object) -> int:
    """``value`` when it is an integer of at least 1, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value
