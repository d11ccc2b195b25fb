"""The one case folding of names for search: Python's full Unicode case folding, applied to the
canonical decomposition and composed again, so ``ÄBC``, ``äbc`` and a decomposed ``a\u0308bc`` fold
alike, final and medial sigma fold to one letter, and sharp s folds like ``ss``.

Neither database folds this way (SQLite's ``lower()`` and ``LIKE`` fold ASCII only; PostgreSQL's
``lower()`` keeps a final sigma apart from a medial one and sharp s from ``ss``), so the folded name is
computed here and stored with the row (:func:`folded_or_none`), and a search text is folded here before
it is compared.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

__all__ = ["fold", "folded_column_default", "folded_or_none"]


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def folded_or_none(name: str) -> str | None:
    """What a row stores: the folded name, or NULL when folding changes nothing (nearly every real
    name, so the column costs nothing for them); readers use ``coalesce(folded, name)``."""
    folded = fold(name)
    return None if folded == name else folded


def folded_column_default(key: str) -> Callable[[Any], str | None]:
    """A SQLAlchemy column default that stores :func:`folded_or_none` of the row's ``key`` column, so
    every insert path (single rows, many rows, upserts) fills it without knowing about it."""

    def default(context: Any) -> str | None:
        return folded_or_none(context.get_current_parameters()[key])

    return default
