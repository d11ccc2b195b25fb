"""The admin service's last snapshot, kept on local disk so a worker can start without the service.

The file is JSON: the rule document under ``rules`` plus where and when it came from::

    {"format": "hatchet-trace-flags snapshot", "format_version": 1, "url": "http://flags:8080",
     "etag": "\\"12-4be1...\\"", "revision": 12, "store": "9f2c...", "saved_at": "2025-01-01T00:00:00+00:00",
     "rules": {"version": 1, "default": "parent", ...}}

``store`` is the identity of the service's database, when the service sends one (older files have none).

Writes are atomic (a temporary file in the same directory, flushed, fsynced and renamed over the old
one), so a reader, a crash or several worker processes writing at once never leave a half-written
file behind: the last complete write wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from hatchet_trace_flags.contract import RulesError, RuleSet

__all__ = [
    "PersistedSnapshot",
    "SnapshotFileError",
    "default_snapshot_path",
    "load_snapshot",
    "save_snapshot",
    "set_aside",
]

_FORMAT: Final = "hatchet-trace-flags snapshot"
_FORMAT_VERSION: Final = 1
# The largest rule document (MAX_ENTRIES entries of at most 255 characters) is a few MB.
_MAX_FILE_BYTES: Final = 32 * 1024 * 1024


class SnapshotFileError(Exception):
    """The snapshot file cannot be read or written; the message names the path and the problem."""


@dataclass(frozen=True, slots=True)
class PersistedSnapshot:
    rules: RuleSet
    url: str
    etag: str | None
    revision: int | None
    saved_at: str
    store: str | None = None


def default_snapshot_path(url: str) -> Path:
    """Where a snapshot of ``url`` is kept by default: the user's cache directory, one file per URL."""
    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache_home) if cache_home else Path.home() / ".cache"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return base / "hatchet-trace-flags" / f"snapshot-{digest}.json"


def load_snapshot(path: Path) -> PersistedSnapshot | None:
    """The snapshot saved at ``path``; ``None`` when there is no file. Raises :class:`SnapshotFileError`
    for an unreadable or invalid one."""
    try:
        with path.open("rb") as file:
            content = file.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SnapshotFileError(f"cannot read the snapshot file {path}: {error.strerror or error}") from None
    if len(content) > _MAX_FILE_BYTES:
        raise SnapshotFileError(f"the snapshot file {path} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as error:
        raise SnapshotFileError(f"the snapshot file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise SnapshotFileError(f"the snapshot file {path} is not a hatchet-trace-flags snapshot")
    if document.get("format_version") != _FORMAT_VERSION:
        raise SnapshotFileError(
            f"the snapshot file {path} has format_version {document.get('format_version')!r}, "
            f"this version reads {_FORMAT_VERSION}"
        )
    try:
        rules = RuleSet.from_document(document.get("rules"))
    except RulesError as error:
        raise SnapshotFileError(f"the snapshot file {path} holds invalid rules: {error}") from None
    url, etag, revision, saved_at, store = (
        document.get(key) for key in ("url", "etag", "revision", "saved_at", "store")
    )
    return PersistedSnapshot(
        rules=rules,
        url=url if isinstance(url, str) else "",
        etag=etag if isinstance(etag, str) else None,
        revision=revision if type(revision) is int else None,
        saved_at=saved_at if isinstance(saved_at, str) else "",
        store=store if isinstance(store, str) and store.isascii() and store.isalnum() else None,
    )


def save_snapshot(
    path: Path,
    *,
    rules: RuleSet,
    url: str,
    etag: str | None,
    revision: int | None,
    store: str | None = None,
) -> PersistedSnapshot:
    """Write a snapshot to ``path`` atomically (creating its directory). Raises :class:`SnapshotFileError`."""
    saved_at = datetime.now(UTC).isoformat(timespec="seconds")
    document = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "url": url,
        "etag": etag,
        "revision": revision,
        "store": store,
        "saved_at": saved_at,
        "rules": rules.to_document(),
    }
    content = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the rules are not secret
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        raise SnapshotFileError(f"cannot write the snapshot file {path}: {error.strerror or error}") from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return PersistedSnapshot(rules, url, etag, revision, saved_at, store)


def set_aside(path: Path, store: str) -> Path | None:
    """Copy the snapshot at ``path`` next to it as ``<name>.store-<store>.json`` (before a snapshot of
    another store replaces it); the copy's path, or None when there was nothing to keep or it failed."""
    kept = path.with_name(f"{path.stem}.store-{store}.json")
    try:
        content = path.read_bytes()
        kept.write_bytes(content)
    except OSError:
        return None
    return kept
