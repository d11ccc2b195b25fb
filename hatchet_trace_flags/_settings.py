"""``WorkerSettings``: every ``HATCHET_TRACE_FLAGS_*`` environment variable the library reads, in one place.

Each field is one variable: its name is ``HATCHET_TRACE_FLAGS_`` + the field name in capitals, its type and
parser are the field's annotation, its default the field's default, and its meaning the field's description.
``predicate_from_env``, ``AdminServiceProvider.from_env`` and ``LocalProvider.from_env`` all read their
settings from here; docs/configuration.md lists the same table, and a test keeps the two in agreement.

Blank values count as unset. A bad value raises ``ValueError`` naming the variable, before anything is
registered. A near miss of one of these names (``HATCHET_TRACE_FLAGS_LINK``, ``HATCHET_TRACE_LINKS``) is
reported once as a warning with the name meant: a misspelt variable would otherwise be ignored silently.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hatchet_trace_flags._checks import check_seconds, check_seconds_or_zero

__all__ = ["ENV_PREFIX", "WorkerSettings", "decision_events_switch", "env_var"]

ENV_PREFIX: Final = "HATCHET_TRACE_FLAGS_"
_LOOKALIKE_PREFIXES: Final = ("HATCHET_TRACE_", "HATCHET_TRACEFLAGS_", "HATCHET_FLAGS_")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

logger = logging.getLogger("hatchet_trace_flags")


def env_var(field: str) -> str:
    """The environment variable of a :class:`WorkerSettings` field."""
    return ENV_PREFIX + field.upper()


def _seconds(value: object) -> float:
    return check_seconds("value", _number(value))


def _seconds_or_zero(value: object) -> float:
    return check_seconds_or_zero("value", _number(value))


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
    return value


def _switch(value: object) -> object:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("must be true or false")
    return value


Seconds = Annotated[float, BeforeValidator(_seconds)]
SecondsOrZero = Annotated[float, BeforeValidator(_seconds_or_zero)]
Switch = Annotated[bool, BeforeValidator(_switch)]


class WorkerSettings(BaseSettings):
    """The library's environment variables (see the module documentation)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Which provider predicate_from_env registers: the first of url, rules_file, links that is set.
    url: str | None = Field(None, description="the admin service's base URL; workers follow it live")
    token: SecretStr | None = Field(None, description="the admin service's API token (read scope is enough)")
    rules_file: str | None = Field(None, description="a rules file, followed for changes")
    links: str | None = Field(
        None,
        description='tasks and patterns that use links, e.g. "prod_fanout-worker:*, prod_billing:send-email"',
    )
    # FlagPredicate
    cache_ttl: Seconds = Field(
        10.0, description="seconds a decision is cached when the provider emits no event"
    )
    first_decision_budget: SecondsOrZero = Field(
        0.005, description="seconds a task start may wait for a provider's first answer (0: never wait)"
    )
    # AdminServiceProvider
    stream: Switch = Field(True, description="follow the service's change stream (false: poll only)")
    poll_interval: Seconds = Field(10.0, description="seconds between snapshot polls without a stream")
    timeout: Seconds = Field(5.0, description="seconds allowed per request to the service")
    startup_timeout: Seconds = Field(1.0, description="seconds the provider waits for the service at start")
    stream_idle_timeout: Seconds = Field(
        20.0, description="seconds of stream silence taken for a dead stream"
    )
    backoff_max: Seconds = Field(30.0, description="the longest wait between retries, in seconds")
    snapshot_file: str | None = Field(
        None, description="where to keep the last snapshot (default under ~/.cache); off: nowhere"
    )
    ca_file: str | None = Field(None, description="CA bundle (PEM) to verify the service's certificate")
    report_tasks: Switch = Field(
        True,
        description="report the tasks this worker evaluates, and the revision it applies, to the service",
    )
    worker_name: str | None = Field(None, description="the worker name sent with task reports (<host>/<pid>)")
    # HatchetInstrumentor
    hatchet_run_view: Switch = Field(
        True,
        description="with hatchet-sdk's engine exporter on, send the engine a parent-shaped copy of linked "
        "runs so Hatchet's run view stays whole (false: the engine gets the link shape)",
    )
    decision_events: Switch = Field(
        True, description="record each task start's decision as a feature_flag.evaluation span event"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values come only through from_environ, which reads the mapping it is given (os.environ by default):
        # entry points accept an explicit environment, and settings must never mix two of them.
        return (init_settings,)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """The settings in ``environ`` (default ``os.environ``); ``ValueError`` naming a variable on a bad
        value. Warns once about variables that look like ours but are not."""
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            text = environ.get(env_var(name), "").strip()
            if text:
                values[name] = text
        _warn_about_lookalikes(environ)
        try:
            return cls(**values)  # type: ignore[arg-type]  # pydantic parses the strings
        except ValidationError as error:
            raise ValueError(_describe(error, values)) from None


def _describe(error: ValidationError, values: Mapping[str, str]) -> str:
    problems = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        # The shared checks name their argument "value" and quote it; the variable's text is quoted below.
        message = message.removeprefix("value ").split(", got ")[0]
        shown = "<hidden>" if field == "token" else repr(values.get(field))
        problems.append(f"{env_var(field)} {message}, got {shown}")
    return "; ".join(problems)


_warned: set[str] = set()


def _warn_about_lookalikes(environ: Mapping[str, str]) -> None:
    known = {name.upper(): env_var(name) for name in WorkerSettings.model_fields}
    for variable in environ:
        if variable in _warned or not variable.startswith((ENV_PREFIX, *_LOOKALIKE_PREFIXES)):
            continue
        # Compare what follows the prefix: the admin service and its CLI share our prefix with names of
        # their own (HATCHET_TRACE_FLAGS_ADMIN_TOKENS, ..._CLI_TOKEN), which are not typos of ours.
        if variable.startswith(ENV_PREFIX):
            suffix = variable.removeprefix(ENV_PREFIX)
            if suffix in known:
                continue
        else:
            suffix = variable.split("_", 2)[-1]
        guess = difflib.get_close_matches(suffix, list(known), n=1, cutoff=0.8)
        if guess:
            _warned.add(variable)
            logger.warning(
                "hatchet-trace-flags: %s is not a worker setting and is ignored; did you mean %s?",
                variable,
                known[guess[0]],
            )


def decision_events_switch(decision_events: bool | None) -> bool:
    """The instrumentor's ``decision_events``: as given, or from the environment when ``None``."""
    if decision_events is None:
        return WorkerSettings.from_environ().decision_events
    if not isinstance(decision_events, bool):
        raise TypeError(f"decision_events must be a bool or None, got {decision_events!r}")
    return decision_events
