"""Which texts are action_ids and patterns, and which values are modes: the checks every rule, report and
request goes through, with one wording for each refusal.

An action_id is 1 to 255 characters, printable (:meth:`str.isprintable`), without whitespace and without
``*``. A pattern is such a text with one ``*`` added at its start or its end.

A refusal names the field and what is wrong, never the refused value: the service returns these words to
whoever sent the value (it can be large, and it can be someone else's), and the field path already says
which entry of a rules file is meant.
"""

from __future__ import annotations

import re
from typing import Final, TypeGuard

from ._decision import Mode, RulesError, json_type_name

__all__ = [
    "MAX_ACTION_ID_LENGTH",
    "is_mode",
    "pattern_literal",
    "validate_action_id",
    "validate_bool",
    "validate_mode",
    "validate_pattern",
]

MAX_ACTION_ID_LENGTH: Final = 255

_MODES: Final = ("link", "parent")
_WHITESPACE_OR_STAR: Final = re.compile(r"[\s*]")


def _is_clean_text(text: str) -> bool:
    return text.isprintable() and _WHITESPACE_OR_STAR.search(text) is None


def _explain_bad_character(text: str, *, offset: int, kind: str) -> str:
    """The message for a text that failed :func:`_is_clean_text` (slow path, errors only)."""
    for position, character in enumerate(text, start=offset):
        if character.isspace():
            return f"{kind} must not contain whitespace (found U+{ord(character):04X} at position {position})"
        if not character.isprintable():
            return (
                f"{kind} must not contain control or invisible characters "
                f"(found U+{ord(character):04X} at position {position})"
            )
    raise AssertionError("unreachable: the text passed the character check")


def validate_action_id(value: object, *, field: str = "action_id") -> str:
    """Return ``value`` if it is a valid action_id, else raise :class:`RulesError` naming ``field``."""
    if not isinstance(value, str):
        raise RulesError(field, f"an action_id must be a string, got {json_type_name(value)}")
    if not value:
        raise RulesError(field, "an action_id must not be empty")
    if len(value) > MAX_ACTION_ID_LENGTH:
        raise RulesError(
            field,
            f"an action_id must be at most {MAX_ACTION_ID_LENGTH} characters, got {len(value)}",
        )
    if not _is_clean_text(value):
        if "*" in value:
            raise RulesError(field, "an action_id must not contain '*' (patterns go in 'patterns')")
        raise RulesError(field, _explain_bad_character(value, offset=0, kind="an action_id"))
    return value


def pattern_literal(pattern: str) -> tuple[str, bool]:
    """``(literal part, is_prefix)`` of a pattern that already passed :func:`validate_pattern`."""
    if pattern.endswith("*"):
        return pattern[:-1], True
    return pattern[1:], False


def validate_pattern(value: object, *, field: str = "pattern") -> str:
    """Return ``value`` if it is a valid pattern, else raise :class:`RulesError` naming ``field``.

    A pattern is ``literal*`` (action_ids starting with ``literal``) or ``*literal`` (ending with it);
    the literal follows the action_id rules.
    """
    if not isinstance(value, str):
        raise RulesError(field, f"a pattern must be a string, got {json_type_name(value)}")
    stars = value.count("*")
    if stars == 0:
        raise RulesError(
            field,
            "a pattern needs one '*' at its start or end (a single task goes in 'tasks')",
        )
    if value == "*":
        raise RulesError(field, "a bare '*' would match every task; set 'default' instead")
    if stars > 1 or not (value.startswith("*") or value.endswith("*")):
        raise RulesError(field, "a pattern has exactly one '*', at its start or its end")
    literal, is_prefix = pattern_literal(value)
    if len(literal) > MAX_ACTION_ID_LENGTH:
        raise RulesError(
            field,
            f"a pattern's literal part must be at most {MAX_ACTION_ID_LENGTH} characters, got {len(literal)}",
        )
    if not _is_clean_text(literal):
        raise RulesError(
            field, _explain_bad_character(literal, offset=0 if is_prefix else 1, kind="a pattern")
        )
    return value


def validate_mode(value: object, *, field: str = "mode") -> Mode:
    """Return ``value`` if it is ``"link"`` or ``"parent"``, else raise :class:`RulesError`."""
    if is_mode(value):
        return value
    raise RulesError(field, "mode must be 'link' or 'parent'")


def is_mode(value: object) -> TypeGuard[Mode]:
    return isinstance(value, str) and value in _MODES


def validate_bool(value: object, *, field: str) -> bool:
    # Not isinstance: bool is an int subclass the other way round, but JSON 1 and 0 parse to int and
    # must not quietly mean true and false.
    if type(value) is not bool:
        raise RulesError(field, f"must be true or false, got {json_type_name(value)}")
    return value
