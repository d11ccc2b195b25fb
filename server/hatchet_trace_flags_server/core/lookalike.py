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

from typing import Final

from confusable_homoglyphs import categories  # type: ignore[import-untyped]

__all__ = ["look_alike"]

_ANY_SCRIPT: Final = frozenset({"COMMON", "INHERITED"})
_WRITTEN_TOGETHER: Final = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "BOPOMOFO"}),
    frozenset({"HAN", "HANGUL"}),
)


def look_alike(name: str) -> str | None:
    """Why ``name`` may be mistaken for another name, or None. Pure ASCII names never are."""
    if name.isascii():
        return None
    scripts = {categories.alias(character) for character in name} - _ANY_SCRIPT
    others = scripts - {"LATIN"}
    if len(scripts) <= 1 or any(others <= allowed for allowed in _WRITTEN_TOGETHER):
        return None
    listed = ", ".join(sorted(script.title() for script in scripts))
    return f"mixes scripts ({listed}): it may render like another task's name"
