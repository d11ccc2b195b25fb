"""What an import would change, worked out on the CLI's side before anything is replaced.

An import replaces the whole rule set, settings included. The CLI reads the current rule set, parses
the file (our rules document, or a flagd document written by ``to_flagd()``), and shows the
difference, with a warning for the two changes that move every task at once: the kill switch and the
default mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from hatchet_trace_flags.contract import (
    FlagdConversionError,
    RulesError,
    RuleSet,
    is_flagd_document,
    rules_from_flagd,
)

__all__ = ["EntryChanges", "ImportPlan", "ImportSource", "parse_import"]

_SHOWN_PER_KIND = 20  # the rest is counted; --json has every entry


@dataclass(frozen=True)
class ImportSource:
    """The parsed file: its rules, and which format it was (``rules`` or ``flagd`` with its flag key)."""

    rules: RuleSet
    format: str
    flag_key: str | None = None


def parse_import(content: bytes) -> ImportSource:
    """Parse a rules document or a flagd document; :class:`ValueError` with a readable message else."""
    try:
        document = json.loads(content)
    except ValueError:
        document = None  # RuleSet.loads says what is wrong with it
    if is_flagd_document(document):
        try:
            key, rules = rules_from_flagd(document)
        except FlagdConversionError as error:
            raise ValueError(f"a flagd document, but not one this tool can import: {error}") from None
        return ImportSource(rules, "flagd", key)
    try:
        return ImportSource(RuleSet.loads(content), "rules")
    except RulesError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class EntryChanges:
    """Added, removed and changed entries of ``tasks`` or ``patterns`` (key -> (before, after))."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    unchanged: int = 0

    @classmethod
    def between(cls, before: Mapping[str, str], after: Mapping[str, str]) -> EntryChanges:
        return cls(
            added={key: mode for key, mode in after.items() if key not in before},
            removed={key: mode for key, mode in before.items() if key not in after},
            changed={
                key: (before[key], mode)
                for key, mode in after.items()
                if key in before and before[key] != mode
            },
            unchanged=sum(1 for key, mode in after.items() if before.get(key) == mode),
        )

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {key: {"from": old, "to": new} for key, (old, new) in self.changed.items()},
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class ImportPlan:
    """The difference between the current rule set and the imported one."""

    current: RuleSet
    incoming: ImportSource

    @property
    def tasks(self) -> EntryChanges:
        return EntryChanges.between(self.current.tasks, self.incoming.rules.tasks)

    @property
    def patterns(self) -> EntryChanges:
        return EntryChanges.between(self.current.patterns, self.incoming.rules.patterns)

    @property
    def changes_anything(self) -> bool:
        return self.current != self.incoming.rules

    @property
    def changes_switches(self) -> bool:
        """Whether the import changes the default mode or the kill switch: every task at once."""
        before, after = self.current, self.incoming.rules
        return before.default != after.default or before.links_enabled != after.links_enabled

    def warnings(self) -> list[str]:
        before, after = self.current, self.incoming.rules
        found: list[str] = []
        if before.links_enabled and not after.links_enabled:
            found.append(
                "this import turns the kill switch ON (links_enabled: false): every task will run in "
                "parent mode, whatever its setting"
            )
        elif after.links_enabled and not before.links_enabled:
            found.append(
                "this import turns the kill switch OFF (links_enabled: true): tasks set to link will "
                "start new traces again"
            )
        if before.default != after.default:
            found.append(
                f"this import changes the default mode from {before.default} to {after.default}: "
                "every task without its own setting or a matching pattern follows it"
            )
        if (
            self.incoming.format == "flagd"
            and not (after.tasks or after.patterns)
            and (before.tasks or before.patterns)
        ):
            found.append(
                "the flagd document carries no tasks or patterns (an export taken while the kill switch "
                f"was on looks like this): the import removes all {len(before.tasks)} task setting(s) "
                f"and {len(before.patterns)} pattern(s)"
            )
        return found

    def summary(self, base_revision: str | None) -> list[str]:
        before, after = self.current, self.incoming.rules
        source = (
            "rules document"
            if self.incoming.format == "rules"
            else (f"flagd document (flag {self.incoming.flag_key}), read back as rules")
        )
        lines = [f"import of a {source}, against revision {base_revision or '?'}:"]
        if not self.changes_anything:
            return [*lines, "  no change: the rule set already is that document"]
        for name, old, new in (
            ("default", before.default, after.default),
            ("links_enabled", str(before.links_enabled).lower(), str(after.links_enabled).lower()),
        ):
            lines.append(f"  {name}: {old} -> {new}" if old != new else f"  {name}: {new} (unchanged)")
        for kind, changes in (("tasks", self.tasks), ("patterns", self.patterns)):
            lines.append(
                f"  {kind}: {len(changes.added)} added, {len(changes.removed)} removed, "
                f"{len(changes.changed)} changed, {changes.unchanged} unchanged"
            )
            entries = [
                *(f"    + {key}: {mode}" for key, mode in changes.added.items()),
                *(f"    - {key}: {mode}" for key, mode in changes.removed.items()),
                *(f"    ~ {key}: {old} -> {new}" for key, (old, new) in changes.changed.items()),
            ]
            lines += entries[:_SHOWN_PER_KIND]
            if len(entries) > _SHOWN_PER_KIND:
                lines.append(f"    ... and {len(entries) - _SHOWN_PER_KIND} more (--json lists them all)")
        return lines

    def to_json(self) -> dict[str, object]:
        before, after = self.current, self.incoming.rules
        return {
            "format": self.incoming.format,
            "changes_anything": self.changes_anything,
            "default": {"from": before.default, "to": after.default},
            "links_enabled": {"from": before.links_enabled, "to": after.links_enabled},
            "tasks": self.tasks.to_json(),
            "patterns": self.patterns.to_json(),
            "warnings": self.warnings(),
        }
