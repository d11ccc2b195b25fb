"""Entity tags and the ``If-Match`` / ``If-None-Match`` conditions (RFC 9110 §13.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ConditionError", "EntityTags", "parse_entity_tags", "quote_etag"]

# An entity tag is "opaque" (optionally W/-prefixed); bare tokens are accepted too because shell
# users often drop the quotes.
_TAG = re.compile(r'\s*(?:(W/)?"([\x21\x23-\x7e]*)"|([\x21\x23-\x2b\x2d-\x7e]+))\s*(?:,|$)')


class ConditionError(ValueError):
    """A conditional header is not a list of entity tags."""


@dataclass(frozen=True, slots=True)
class EntityTags:
    """A parsed ``If-Match`` or ``If-None-Match`` header: ``*`` or a set of tags."""

    any: bool
    strong: frozenset[str]
    weak: frozenset[str]

    def strong_match(self, opaque: str | None) -> bool:
        """If-Match semantics: ``*`` matches any existing resource; weak tags never match."""
        if opaque is None:
            return False
        return self.any or opaque in self.strong

    def weak_match(self, opaque: str) -> bool:
        """If-None-Match semantics: weak comparison, ``W/"x"`` matches ``"x"``."""
        return self.any or opaque in self.strong or opaque in self.weak


def parse_entity_tags(header: str | None, *, name: str) -> EntityTags | None:
    """``None`` when the header is absent; :class:`ConditionError` when it is malformed."""
    if header is None:
        return None
    text = header.strip()
    if text == "*":
        return EntityTags(any=True, strong=frozenset(), weak=frozenset())
    strong: set[str] = set()
    weak: set[str] = set()
    position = 0
    while position < len(text):
        match = _TAG.match(text, position)
        if match is None or match.end() == position:
            raise ConditionError(f'{name}: expected "*" or a list of entity tags like "3"')
        is_weak, quoted, bare = match.groups()
        tag = quoted if quoted is not None else bare
        (weak if is_weak else strong).add(tag)
        position = match.end()
    if not strong and not weak:
        raise ConditionError(f'{name}: expected "*" or a list of entity tags like "3"')
    return EntityTags(any=False, strong=frozenset(strong), weak=frozenset(weak))


def quote_etag(opaque: str) -> str:
    return f'"{opaque}"'
