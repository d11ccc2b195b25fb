"""``predicate_from_env()``: the default wiring of flags, from environment variables.

::

    from hatchet_trace_flags import HatchetInstrumentor, predicate_from_env

    HatchetInstrumentor(use_links_instead_of_parent=predicate_from_env()).instrument()

The first of ``HATCHET_TRACE_FLAGS_URL`` (the admin service, followed live, with
``HATCHET_TRACE_FLAGS_TOKEN``), ``HATCHET_TRACE_FLAGS_RULES_FILE`` (a rules file, followed for changes) and
``HATCHET_TRACE_FLAGS_LINKS`` (a list of tasks and patterns that use links) that is set picks the provider.
Every variable, with its default and meaning, is a field of :class:`~hatchet_trace_flags.WorkerSettings`
and a row of docs/configuration.md.

With none of them, ``predicate_from_env()`` returns ``None``: the instrumentor then behaves exactly like
stock Hatchet (parent everywhere), with no provider registered and no thread started.

The provider is registered on the OpenFeature domain ``hatchet-trace-flags`` (so it does not replace a
global provider the application uses for other flags) and initialized with a bounded wait
(``startup_timeout``, 2 s by default): a provider that is slow or failing to start never holds up the
worker. Until it is ready, and whenever it fails, task starts use parent mode or their last known
decision. A rules file that is missing or invalid at start-up is logged as a warning and followed
until it becomes valid.

A bad value (a TTL that is not a positive number, an invalid entry in ``HATCHET_TRACE_FLAGS_LINKS``, a
token without URL) raises ``ValueError`` naming the variable, before anything is registered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from openfeature import api
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider import ProviderStatus
from opentelemetry.metrics import MeterProvider

from hatchet_trace_flags._admin.provider import AdminServiceProvider
from hatchet_trace_flags._decisions.local_provider import LINKS_ENV_VAR, LocalProvider
from hatchet_trace_flags._decisions.predicate import OPENFEATURE_DOMAIN, FlagPredicate
from hatchet_trace_flags._decisions.rules_provider import RulesProvider
from hatchet_trace_flags._settings import WorkerSettings, env_var

__all__ = ["install_provider", "predicate_from_env", "provider_from_env", "provider_from_settings"]

logger = logging.getLogger("hatchet_trace_flags")


def predicate_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    startup_timeout: float = 2.0,
    meter_provider: MeterProvider | None = None,
) -> FlagPredicate | None:
    """The predicate the environment asks for, with its provider registered; ``None`` when it asks for
    none (stock Hatchet behaviour)."""
    settings = WorkerSettings.from_environ(environ)
    provider = provider_from_settings(settings)
    if provider is None:
        return None
    install_provider(provider, timeout=startup_timeout)
    return FlagPredicate(
        flag_key=provider.flag_key,
        ttl=settings.cache_ttl,
        first_decision_budget=settings.first_decision_budget,
        meter_provider=meter_provider,
    )


def provider_from_env(environ: Mapping[str, str] | None = None) -> RulesProvider | None:
    """The provider the environment configures (not registered anywhere), or ``None``."""
    return provider_from_settings(WorkerSettings.from_environ(environ))


def provider_from_settings(settings: WorkerSettings) -> RulesProvider | None:
    """The provider ``settings`` configure (not registered anywhere), or ``None``."""
    if settings.url is not None:
        return AdminServiceProvider.from_settings(settings)
    if settings.token is not None:
        raise ValueError(f"{env_var('token')} is set but {env_var('url')} is not; set both or neither")
    if settings.rules_file is not None:
        if settings.links is not None:
            logger.warning(
                "hatchet-trace-flags: %s is set, so %s is ignored", env_var("rules_file"), env_var("links")
            )
        return LocalProvider.from_file(settings.rules_file)
    if settings.links is not None:
        return LocalProvider.from_env({LINKS_ENV_VAR: settings.links}, variable=LINKS_ENV_VAR)
    return None


def install_provider(
    provider: RulesProvider, *, domain: str = OPENFEATURE_DOMAIN, timeout: float = 2.0
) -> bool:
    """Register ``provider`` on ``domain`` and wait at most ``timeout`` seconds for it to initialize.

    Like ``api.set_provider_and_wait`` but bounded and never raising for a provider that fails to start:
    returns True when it is ready, otherwise logs why not and returns False (the provider stays registered
    and becomes ready on its own when it can).
    """
    client = api.get_client(domain)
    settled = threading.Event()
    events: list[EventDetails] = []

    def on_settled(details: EventDetails) -> None:
        events.append(details)
        settled.set()

    api.set_provider(provider, domain)  # initializes on a background thread
    # Registered after set_provider: OpenFeature runs a handler at once if the status already matches.
    client.add_handler(ProviderEvent.PROVIDER_READY, on_settled)
    client.add_handler(ProviderEvent.PROVIDER_ERROR, on_settled)
    try:
        settled.wait(timeout)
    finally:
        client.remove_handler(ProviderEvent.PROVIDER_READY, on_settled)
        client.remove_handler(ProviderEvent.PROVIDER_ERROR, on_settled)

    status = client.get_provider_status()
    if status is ProviderStatus.READY:
        return True
    if status is ProviderStatus.NOT_READY:
        logger.warning(
            "hatchet-trace-flags: provider %r not ready after %ss; tasks use parent mode until it is",
            provider,
            timeout,
        )
    else:
        reason = provider.last_error or next((e.message for e in events if e.message), None)
        logger.warning(
            "hatchet-trace-flags: provider %r is %s: %s; tasks use the last known decision or parent mode",
            provider,
            status.value,
            reason or "no details",
        )
    return False
