"""What a rule set answers for one action_id (:class:`Decision`: a :data:`Mode` and a :class:`Reason`), and
the one error every invalid rule or document raises (:class:`RulesError`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "Mode", "Reason", "RulesError", "json_type_name"]

Mode = Literal["link", "parent"]


class Reason(enum.StrEnum):
    """Why a :class:`Decision` came out the way it did."""

    EXACT = "exact"
    PATTERN = "pattern"
    DEFAULT = "default"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Decision:
    """The mode for one action_id, why, and the rule (action_id or pattern) that decided it."""

    mode: Mode
    reason: Reason
    rule: str | None

    @property
    def use_links(self) -> bool:
        return self.mode == "link"


class RulesError(ValueError):
    """A rule or rule document is invalid. ``str(error)`` is ``"{field}: {message}"``."""

    field: str
    message: str

    def __init__(self, field: str, message: str) -> None:
        # Both parts go to ValueError so the exception pickles and copies like any other.
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
