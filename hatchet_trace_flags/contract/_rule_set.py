"""Rule sets: which Hatchet tasks start a new trace with a span link ("link") and which stay children
of the span that spawned them ("parent").

A :class:`RuleSet` decides a mode for an ``action_id`` (``{namespace}{workflow name lowercased}:{task
name}``, e.g. ``prod_fanout-worker:process-item``). It is immutable, validated on construction and
evaluated without I/O, so the admin service, every flag provider and the worker share this one code::

    rules = RuleSet(
        tasks={"prod_fanout-worker:process-item": "parent"},
        patterns={"prod_fanout-worker:*": "link", "*:send-email": "link"},
    )
    rules.evaluate("prod_fanout-worker:resize").mode         # "link", by "prod_fanout-worker:*"
    rules.evaluate("prod_fanout-worker:process-item").mode   # "parent": exact beats pattern
    rules.evaluate("prod_fanout-worker:resize").use_links    # True
    rules.with_settings(links_enabled=False)                 # kill switch: everything parent

Precedence, highest first:

1. ``links_enabled`` false: ``parent`` for everything (reason ``disabled``).
2. An exact task setting for the action_id (reason ``exact``).
3. The matching pattern with the longest literal part; ``prefix*`` and ``*suffix`` of equal literal
   length that disagree resolve to ``parent`` (reason ``pattern``).
4. ``default`` (reason ``default``).

Character rules: an action_id is 1 to 255 characters, printable (:meth:`str.isprintable`), without
whitespace and without ``*``. A pattern is such a text with one ``*`` added at its start or its end.
Anything else raises :class:`RulesError`, whose ``field`` names the offending place
(``tasks['a:b']``, ``patterns['x*y']``, ``default``, ``version``, ``(document)``) and changes nothing.

The JSON document (``RuleSet.dumps``/``RuleSet.loads``, ``to_document``/``from_document``) is the one
format for files, exports and imports; ``rules.schema.json`` next to this module is its JSON Schema
and ``docs/rules.md`` documents it. ``RuleSet.links_for("a:b, fanout-worker:*")`` builds a rule set
from the short environment-variable form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.resources import files
from types import MappingProxyType
from typing import Final, cast

from ._decision import Decision, Mode, RulesError, json_type_name
from ._expiry import TIMED_DOCUMENT_VERSION, Expiries, Expiry
from ._names import MAX_ACTION_ID_LENGTH, validate_action_id, validate_bool, validate_mode, validate_pattern
from ._pattern_index import PatternIndex, build_index
from ._strict_json import NotJSON, reject_constant

__all__ = [
    "DEFAULT_FLAG_KEY",
    "DOCUMENT_VERSION",
    "MAX_ENTRIES",
    "RuleSet",
    "rules_json_schema",
]

DEFAULT_FLAG_KEY: Final = "hatchet.use-links-instead-of-parent"
DOCUMENT_VERSION: Final = 1
# Tasks and patterns together. Far above any real deployment, low enough that a runaway import or a
# hostile request cannot make every provider hold and re-export an enormous document.
MAX_ENTRIES: Final = 10_000

_DOCUMENT_KEYS: Final = frozenset(
    {"$schema", "version", "default", "links_enabled", "tasks", "patterns", "expiries"}
)
_ENV_SEPARATORS: Final = re.compile(r"[\s,]+")
# Decisions for action_ids that are not exact entries are memoized; the bound keeps a caller that
# feeds arbitrary strings from growing it without limit (it is simply emptied when full).
_MEMO_LIMIT: Final = 4096


def _validated_entries(
    entries: Mapping[str, object], *, name: str, validate_key: Callable[..., str]
) -> dict[str, Mode]:
    validated: dict[str, Mode] = {}
    for key, mode in entries.items():
        location = f"{name}[{key!r}]"
        validated[validate_key(key, field=location)] = validate_mode(mode, field=location)
    return dict(sorted(validated.items()))


def _check_size(task_count: int, pattern_count: int) -> None:
    if task_count + pattern_count > MAX_ENTRIES:
        raise RulesError(
            "(document)",
            f"too many entries: {task_count:,} tasks and {pattern_count:,} patterns; "
            f"at most {MAX_ENTRIES:,} in total are allowed",
        )


def _empty_rules() -> Mapping[str, Mode]:
    return MappingProxyType({})


@dataclass(frozen=True, repr=False)
class RuleSet:
    """An immutable, validated rule set. Construction raises :class:`RulesError` on bad input."""

    default: Mode = "parent"
    links_enabled: bool = True
    tasks: Mapping[str, Mode] = field(default_factory=_empty_rules)
    patterns: Mapping[str, Mode] = field(default_factory=_empty_rules)
    expiries: Expiries = field(default_factory=Expiries)
    _index: PatternIndex = field(init=False, repr=False, compare=False)
    _memo: dict[str, Decision] = field(init=False, repr=False, compare=False)
    _canonical: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        default = validate_mode(self.default, field="default")
        links_enabled = validate_bool(self.links_enabled, field="links_enabled")
        for name, entries in (("tasks", self.tasks), ("patterns", self.patterns)):
            if not isinstance(entries, Mapping):
                raise RulesError(
                    name,
                    f"must be an object mapping to 'link' or 'parent', got {json_type_name(entries)}",
                )
        _check_size(len(self.tasks), len(self.patterns))
        tasks = _validated_entries(self.tasks, name="tasks", validate_key=validate_action_id)
        patterns = _validated_entries(self.patterns, name="patterns", validate_key=validate_pattern)
        # Frozen: the validated, sorted, read-only copies replace whatever mapping the caller passed.
        object.__setattr__(self, "tasks", MappingProxyType(tasks))
        object.__setattr__(self, "patterns", MappingProxyType(patterns))
        Expiries.check(self.expiries, tasks, patterns)
        object.__setattr__(self, "_index", build_index(default, links_enabled, tasks, patterns))
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_canonical", [])

    def __repr__(self) -> str:
        return (
            f"RuleSet(default={self.default!r}, links_enabled={self.links_enabled!r}, "
            f"tasks={dict(self.tasks)!r}, patterns={dict(self.patterns)!r}"
            + (f", expiries={self.expiries!r})" if self.expiries else ")")
        )

    def __hash__(self) -> int:
        return hash(self.dumps())

    def __reduce__(
        self,
    ) -> tuple[type[RuleSet], tuple[Mode, bool, dict[str, Mode], dict[str, Mode], Expiries]]:
        # Mapping proxies do not pickle; rebuilding from plain dicts also re-validates.
        return (
            type(self),
            (self.default, self.links_enabled, dict(self.tasks), dict(self.patterns), self.expiries),
        )

    def evaluate(self, action_id: str) -> Decision:
        """The decision for ``action_id``. Pure and total: any string gets a decision, never an error."""
        index = self._index
        decision = index.exact.get(action_id)
        if decision is not None:
            return decision
        memo = self._memo
        decision = memo.get(action_id)
        if decision is None:
            decision = self._match(action_id)
            # Longer strings are no valid action_id; keeping them could only waste memory.
            if len(action_id) <= MAX_ACTION_ID_LENGTH:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[action_id] = decision
        return decision

    def _match(self, action_id: str) -> Decision:
        index = self._index
        size = len(action_id)
        for length, any_prefix, any_suffix in index.steps:
            if length > size:
                continue
            prefix = index.prefixes.get(action_id[:length]) if any_prefix else None
            suffix = index.suffixes.get(action_id[size - length :]) if any_suffix else None
            if prefix is None:
                if suffix is not None:
                    return suffix
                continue
            if suffix is not None and suffix.mode != prefix.mode:
                # A tie between equally specific patterns that disagree goes to parent.
                return prefix if prefix.mode == "parent" else suffix
            return prefix
        return index.fallback

    def with_task(self, action_id: str, mode: Mode | None, *, expiry: Expiry | None = None) -> RuleSet:
        """A copy with ``action_id`` set to ``mode``; ``None`` removes the setting. ``expiry`` makes
        the setting timed; without it a pending expiry of the task is cancelled."""
        validate_action_id(action_id, field=f"tasks[{action_id!r}]")
        return replace(
            self,
            tasks=_updated(self.tasks, action_id, mode, name="tasks"),
            expiries=replace(self.expiries, tasks=Expiries.updated(self.expiries.tasks, action_id, expiry)),
        )

    def with_pattern(self, pattern: str, mode: Mode | None, *, expiry: Expiry | None = None) -> RuleSet:
        """A copy with ``pattern`` set to ``mode``; ``None`` removes the pattern. ``expiry`` as in
        :meth:`with_task`."""
        validate_pattern(pattern, field=f"patterns[{pattern!r}]")
        return replace(
            self,
            patterns=_updated(self.patterns, pattern, mode, name="patterns"),
            expiries=replace(
                self.expiries, patterns=Expiries.updated(self.expiries.patterns, pattern, expiry)
            ),
        )

    def with_settings(
        self,
        *,
        default: Mode | None = None,
        links_enabled: bool | None = None,
        links_expiry: Expiry | None = None,
    ) -> RuleSet:
        """A copy with a new ``default`` and/or kill switch; ``None`` keeps the current value. Setting
        ``links_enabled`` replaces its pending expiry with ``links_expiry`` (``None``: cancels it)."""
        expiries = self.expiries
        if links_enabled is not None:
            expiries = replace(expiries, links_enabled=links_expiry)
        return replace(
            self,
            default=self.default if default is None else default,
            links_enabled=self.links_enabled if links_enabled is None else links_enabled,
            expiries=expiries,
        )

    @property
    def next_expiry(self) -> datetime | None:
        """When the earliest pending expiry ends, ``None`` without expiries."""
        return self.expiries.next_until

    def at(self, moment: datetime) -> RuleSet:
        """The rule set in force at ``moment``: every expiry whose ``until`` is not after it applied
        (its setting back to ``reverts_to``), later ones still pending. ``self`` when none is due."""
        expiries = self.expiries
        due_at = expiries.next_until
        if due_at is None or due_at > moment:
            return self
        tasks, patterns = dict(self.tasks), dict(self.patterns)
        pending: dict[str, dict[str, Expiry]] = {"tasks": {}, "patterns": {}}
        sections = (("tasks", tasks, expiries.tasks), ("patterns", patterns, expiries.patterns))
        for name, entries, timed in sections:
            for key, expiry in timed.items():
                if expiry.until > moment:
                    pending[name][key] = expiry
                elif expiry.reverts_to is None:
                    entries.pop(key, None)
                else:
                    entries[key] = cast(Mode, expiry.reverts_to)
        links_enabled, links_expiry = self.links_enabled, expiries.links_enabled
        if links_expiry is not None and links_expiry.until <= moment:
            links_enabled, links_expiry = bool(links_expiry.reverts_to), None
        return RuleSet(
            default=self.default,
            links_enabled=links_enabled,
            tasks=tasks,
            patterns=patterns,
            expiries=Expiries(pending["tasks"], pending["patterns"], links_expiry),
        )

    def settled(self, moment: datetime) -> RuleSet:
        """The values in force at ``moment`` with no expiry left: the version-1 view of a timed rule
        set, for readers that do not know expiries."""
        current = self.at(moment)
        return replace(current, expiries=Expiries()) if current.expiries else current

    def to_document(self) -> dict[str, object]:
        """The versioned JSON document (a fresh dict, keys sorted)."""
        document: dict[str, object] = {
            "default": self.default,
            "links_enabled": self.links_enabled,
            "patterns": dict(self.patterns),
            "tasks": dict(self.tasks),
            "version": DOCUMENT_VERSION,
        }
        if self.expiries:
            # Only a timed rule set needs version 2: every other document stays readable by older
            # libraries, whose parser refuses unknown versions and keys.
            document["expiries"] = self.expiries.to_json()
            document["version"] = TIMED_DOCUMENT_VERSION
        return document

    @classmethod
    def from_document(cls, document: object) -> RuleSet:
        """Build a rule set from a parsed JSON document, rejecting anything the format does not allow."""
        if not isinstance(document, Mapping):
            raise RulesError("(document)", f"must be a JSON object, got {json_type_name(document)}")
        for key in document:
            if key not in _DOCUMENT_KEYS:
                raise RulesError(
                    str(key),
                    f"unknown key; expected {', '.join(sorted(_DOCUMENT_KEYS))}",
                )
        if "$schema" in document and not isinstance(document["$schema"], str):
            raise RulesError("$schema", f"must be a string, got {json_type_name(document['$schema'])}")
        if "version" not in document:
            raise RulesError("version", f'missing; add "version": {DOCUMENT_VERSION}')
        version = document["version"]
        if isinstance(version, bool) or not isinstance(version, int | float):
            raise RulesError("version", f"must be a number, got {json_type_name(version)}")
        if version not in (DOCUMENT_VERSION, TIMED_DOCUMENT_VERSION):
            raise RulesError(
                "version",
                f"unsupported version; this release reads versions {DOCUMENT_VERSION} and "
                f"{TIMED_DOCUMENT_VERSION}",
            )
        if "expiries" in document and version != TIMED_DOCUMENT_VERSION:
            raise RulesError("expiries", f'needs "version": {TIMED_DOCUMENT_VERSION}')
        expiries = Expiries.from_json(document["expiries"]) if "expiries" in document else Expiries()
        tasks = document.get("tasks", {})
        patterns = document.get("patterns", {})
        # Size first, so an oversized document is refused before any per-entry work.
        if isinstance(tasks, Mapping) and isinstance(patterns, Mapping):
            _check_size(len(tasks), len(patterns))
        return cls(
            default=document.get("default", "parent"),
            links_enabled=document.get("links_enabled", True),
            tasks=tasks,
            patterns=patterns,
            expiries=expiries,
        )

    def dumps(self) -> str:
        """Canonical JSON: sorted keys, compact, equal rule sets give equal text (usable as ETag)."""
        canonical = self._canonical
        if not canonical:
            canonical.append(
                json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            )
        return canonical[0]

    @classmethod
    def loads(cls, text: str | bytes) -> RuleSet:
        """Parse and validate a JSON document (str or UTF-8/16/32 bytes)."""
        try:
            document = json.loads(
                text, object_pairs_hook=_reject_duplicate_keys, parse_constant=reject_constant
            )
        except RulesError:
            raise
        except NotJSON as error:
            raise RulesError("(document)", str(error)) from None
        except (ValueError, RecursionError) as error:
            raise RulesError("(document)", f"not valid JSON: {error}") from error
        return cls.from_document(document)

    @classmethod
    def links_for(cls, spec: str) -> RuleSet:
        """Rules from the environment-variable form: action_ids and patterns, separated by commas
        and/or whitespace, all in link mode; everything else parent. ``""`` links nothing."""
        if not isinstance(spec, str):
            raise RulesError("(spec)", f"must be a string, got {json_type_name(spec)}")
        tasks: dict[str, Mode] = {}
        patterns: dict[str, Mode] = {}
        for entry in _ENV_SEPARATORS.split(spec.strip()):
            if not entry:
                continue
            if "*" in entry:
                patterns[validate_pattern(entry, field=repr(entry))] = "link"
            else:
                tasks[validate_action_id(entry, field=repr(entry))] = "link"
        return cls(tasks=tasks, patterns=patterns)


def _updated(entries: Mapping[str, Mode], key: str, mode: Mode | None, *, name: str) -> dict[str, Mode]:
    updated = dict(entries)
    if mode is None:
        updated.pop(key, None)
    else:
        updated[key] = validate_mode(mode, field=f"{name}[{key!r}]")
    return updated


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json.loads silently keeps the last of duplicate keys; in a rule file that hides a mistake.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise RulesError("(document)", "duplicate key in a JSON object")
        result[key] = value
    return result


def rules_json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of the rule document, as shipped in ``rules.schema.json``."""
    text = files(__package__ or "hatchet_trace_flags").joinpath("rules.schema.json").read_text("utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema
