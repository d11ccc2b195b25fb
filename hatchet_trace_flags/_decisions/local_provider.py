"""``LocalProvider``: rule-based link/parent decisions with no server and no network.

An OpenFeature provider (a :class:`~hatchet_trace_flags.RulesProvider`) whose rules come from one of:

- a rule set object: ``LocalProvider(RuleSet(patterns={"fanout-worker:*": "link"}))``;
- a rules file (the JSON document of ``docs/rules.md``), watched for changes:
  ``LocalProvider.from_file("/etc/hatchet/trace-flags.json")``;
- an environment variable listing the tasks and patterns that use links, everything else parent:
  ``HATCHET_TRACE_FLAGS_LINKS="prod_fanout-worker:*, prod_billing:send-email"`` and
  ``LocalProvider.from_env()``. An unset or blank variable links nothing.

Register it on the domain :class:`~hatchet_trace_flags.FlagPredicate` reads::

    api.set_provider(LocalProvider.from_file(path), "hatchet-trace-flags")

**The rules file.** Read once when the provider is built, then polled by a daemon thread every
``poll_interval`` seconds (0.25 by default) from ``initialize`` (that is, once the provider is registered)
until ``shutdown``; no extra dependency, works on every filesystem and with Kubernetes ConfigMap volumes
(whose symlink swap changes the inode). Each poll compares the file's ``(mtime_ns, size, inode)``; when
that changed it reads the file and compares a content hash, and only a new valid document replaces the
rules, emitting ``PROVIDER_CONFIGURATION_CHANGED``. So an edit takes effect within about a poll
interval, whether the file is replaced atomically (write a temporary file, then rename it over) or
rewritten in place. A content change on a filesystem whose timestamps are too coarse to show it, with
the same size and inode, is not seen: prefer atomic replacement.

A missing, unreadable or invalid file never crashes anything and never changes the rules: the last
good rules stay in force and the provider reports ``PROVIDER_ERROR`` with a message naming the path and
the problem (for an invalid document, the offending field, e.g. ``patterns['x*y']: ...``), logged once
per distinct problem. A failure is only reported when it is seen on two polls in a row, so a reader
catching an in-place write half done does not flap. When the file is good again the provider emits
``PROVIDER_READY`` (and ``PROVIDER_CONFIGURATION_CHANGED`` if the rules differ).

If the file is missing or invalid when the provider is built, it serves parent mode everywhere (what
stock Hatchet does) and ``initialize`` raises with that message, so OpenFeature marks the provider
``ERROR`` (evaluations still work, ``set_provider_and_wait`` re-raises) while the watcher keeps polling
and recovers as above.

After ``os.fork()`` the child restarts its own watcher thread. ``shutdown`` stops and joins it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Self

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import GeneralError

from hatchet_trace_flags._checks import check_seconds
from hatchet_trace_flags._decisions.rules_provider import RulesProvider
from hatchet_trace_flags._settings import env_var
from hatchet_trace_flags.contract import DEFAULT_FLAG_KEY, RulesError, RuleSet

__all__ = ["LINKS_ENV_VAR", "LocalProvider"]

LINKS_ENV_VAR: Final = env_var("links")

logger = logging.getLogger("hatchet_trace_flags")

_FileSignature = tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino)


class _RulesFile:
    """Polling state of one rules file. Only the watcher thread (or the constructor) touches it."""

    def __init__(self, path: Path, poll_interval: float) -> None:
        self.path = path
        self.poll_interval = poll_interval
        self.seen: _FileSignature | None = None  # signature of the content last acted on
        self.good_digest: str | None = None  # hash of the content currently served
        self.suspect: tuple[_FileSignature | None, str] | None = None  # a failure seen once, unconfirmed
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()


class LocalProvider(RulesProvider):
    """An OpenFeature provider serving link/parent rules from an object, a file or an environment variable.

    :param rules: the rules to serve; default: parent mode everywhere.
    :param flag_key: the boolean flag it answers.
    """

    def __init__(self, rules: RuleSet | None = None, *, flag_key: str = DEFAULT_FLAG_KEY) -> None:
        super().__init__(rules, flag_key=flag_key, name="hatchet-trace-flags local")
        self._file: _RulesFile | None = None

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        poll_interval: float = 0.25,
        flag_key: str = DEFAULT_FLAG_KEY,
    ) -> Self:
        """Serve the rules document at ``path`` and follow its changes once registered.

        A missing or invalid file is not an error here (see the module documentation); a bad
        ``poll_interval`` is.
        """
        check_seconds("poll_interval", poll_interval)
        provider = cls(flag_key=flag_key)
        provider._file = _RulesFile(Path(os.fspath(path)).absolute(), float(poll_interval))
        provider._poll(confirm_failures=False)
        return provider

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        variable: str = LINKS_ENV_VAR,
        flag_key: str = DEFAULT_FLAG_KEY,
    ) -> Self:
        """Link the tasks and patterns listed in ``variable`` (comma/whitespace separated), parent for the
        rest. Raises :class:`~hatchet_trace_flags.RulesError` naming the variable for a bad entry."""
        environ = os.environ if environ is None else environ
        try:
            rules = RuleSet.links_for(environ.get(variable, ""))
        except RulesError as error:
            raise RulesError(variable, str(error)) from error
        return cls(rules, flag_key=flag_key)

    @property
    def path(self) -> Path | None:
        """The rules file followed, if any."""
        return None if self._file is None else self._file.path

    # -- OpenFeature lifecycle -------------------------------------------------------------------------

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        watched = self._file
        if watched is None:
            return
        self._start_watcher(watched)
        problem = self.last_error
        if problem is not None:
            raise GeneralError(problem)

    def shutdown(self) -> None:
        super().shutdown()
        watched = self._file
        if watched is None or watched.thread is None:
            return
        watched.stop.set()
        if watched.thread is not threading.current_thread():
            watched.thread.join()
        watched.thread = None

    def _after_fork_in_child(self) -> None:
        watched = self._file
        if watched is not None and watched.thread is not None:
            watched.thread = None  # it did not survive the fork
            self._start_watcher(watched)

    # -- watching ----------------------------------------------------------------------------------------

    def _start_watcher(self, watched: _RulesFile) -> None:
        if watched.thread is not None and watched.thread.is_alive():
            return
        watched.stop = threading.Event()
        watched.thread = threading.Thread(
            target=self._watch,
            args=(watched, watched.stop),
            name=f"hatchet-trace-flags-rules-file[{watched.path.name}]",
            daemon=True,
        )
        watched.thread.start()

    def _watch(self, watched: _RulesFile, stop: threading.Event) -> None:
        while not stop.wait(watched.poll_interval):
            try:
                self._poll(confirm_failures=True)
            except Exception:  # a bug here must not kill the watcher: log it and keep polling
                logger.exception("hatchet-trace-flags: polling %s failed", watched.path)

    def _poll(self, *, confirm_failures: bool) -> None:
        watched = self._file
        assert watched is not None
        path = watched.path
        try:
            status = os.stat(path)
        except OSError as error:
            self._failed(watched, None, f"rules file {path}: {error.strerror or error}", confirm_failures)
            return
        signature = (status.st_mtime_ns, status.st_size, status.st_ino)
        if signature == watched.seen:
            return
        try:
            content = path.read_bytes()
        except OSError as error:
            self._failed(
                watched, signature, f"rules file {path}: {error.strerror or error}", confirm_failures
            )
            return
        digest = hashlib.sha256(content).hexdigest()
        if digest == watched.good_digest:
            # Touched or rewritten with the same content (possibly after a bad version): nothing new.
            watched.seen, watched.suspect = signature, None
            self._recover()
            return
        try:
            rules = RuleSet.loads(content)
        except RulesError as error:
            self._failed(watched, signature, f"rules file {path} is invalid: {error}", confirm_failures)
            return
        watched.seen, watched.suspect, watched.good_digest = signature, None, digest
        self._replace_rules(rules, version=digest[:16])

    def _failed(
        self,
        watched: _RulesFile,
        signature: _FileSignature | None,
        message: str,
        confirm: bool,
    ) -> None:
        if confirm and watched.suspect != (signature, message):
            watched.suspect = (signature, message)  # maybe a write in progress: look again next poll
            return
        watched.seen = signature
        if watched.good_digest is None:
            self._report_error(f"{message}; no rules loaded yet, every task uses parent mode")
        else:
            self._report_error(f"{message}; keeping the last good rules")
