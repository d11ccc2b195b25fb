"""Look-alike names (Unicode TS #39, mixed-script detection): a name whose letters come from scripts that
are not normally written together, such as a Cyrillic o (U+043E) in ``fanout-worker:process-item``, renders
like another task's name. The dashboard and the CLI mark such names; nothing is refused (Hatchet accepts
them, and a worker may report them).

A name passes when its letters resolve to one script, characters common to all scripts (digits,
punctuation, combining marks) aside, or to Latin with one of the sets CJK writing mixes (Han with
Hiragana and Katakana, with Bopomofo, with Hangul): UTS #39's "highly restrictive" level. Each
character's script comes from the ``confusable-homoglyphs`` package (Unicode's Scripts data).
"""

from __future__ import annotations

import functools
from typing import Final

from confusable_homoglyphs import categories, confusables  # type: ignore[import-untyped]

__all__ = ["ascii_twin", "look_alike"]

_ANY_SCRIPT: Final = frozenset({"COMMON", "INHERITED"})
_WRITTEN_TOGETHER: Final = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "BOPOMOFO"}),
    frozenset({"HAN", "HANGUL"}),
)


@functools.lru_cache(maxsize=4096)
def ascii_twin(name: str) -> str | None:
    """The ASCII name that ``name`` renders like, letter for letter: each non-ASCII character replaced
    by an ASCII homoglyph from Unicode's confusables data (the first one listed). None for an ASCII name
    or when some character has no ASCII look-alike. Whether that twin is a known task is the caller's
    question (``FlagService.list_tasks``): a whole-script look-alike, all Cyrillic say, mixes nothing."""
    if name.isascii():
        return None
    letters: list[str] = []
    for character in name:
        if character.isascii():
            letters.append(character)
            continue
        found = confusables.is_confusable(character, greedy=True, preferred_aliases=["latin", "common"]) or []
        twin = next(
            (glyph["c"] for entry in found for glyph in entry["homoglyphs"] if glyph["c"].isascii()), None
        )
        if twin is None:
            return None
        letters.append(twin)
    return "".join(letters)


def look_alike(name: str, *, imitates: str | None = None) -> str | None:
    """Why ``name`` may be mistaken for another name, or None. Pure ASCII names never are.
    ``imitates``: a known task it renders like (:func:`ascii_twin`)."""
    reasons = [] if imitates is None else [f"renders like {imitates}, another task, letter for letter"]
    if not name.isascii():
        scripts = {categories.alias(character) for character in name} - _ANY_SCRIPT
        others = scripts - {"LATIN"}
        if len(scripts) > 1 and not any(others <= allowed for allowed in _WRITTEN_TOGETHER):
            listed = ", ".join(sorted(script.title() for script in scripts))
            reasons.append(f"mixes scripts ({listed}): it may render like another task's name")
    return "; ".join(reasons) or None
