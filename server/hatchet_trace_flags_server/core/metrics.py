"""Prometheus metrics (one registry per app, so several apps in one process do not collide)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .records import RulesSnapshot

__all__ = ["Metrics", "MetricsMiddleware"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "hatchet_trace_flags_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hatchet_trace_flags_http_request_duration_seconds",
            "Time to the response start, by route template.",
            ["method", "route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.revision = Gauge(
            "hatchet_trace_flags_rules_revision", "Revision of the rule set served.", registry=self.registry
        )
        self.entries = Gauge(
            "hatchet_trace_flags_rules_entries",
            "Configured rules served, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.links_enabled = Gauge(
            "hatchet_trace_flags_links_enabled", "1 unless the kill switch is on.", registry=self.registry
        )
        self.stream_clients = Gauge(
            "hatchet_trace_flags_event_stream_clients", "Open change streams.", registry=self.registry
        )
        self.changes = Counter(
            "hatchet_trace_flags_changes",
            "Rule changes made through this process, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.evaluations = Counter(
            "hatchet_trace_flags_ofrep_evaluations",
            "OFREP flag evaluations, by variant and decision reason.",
            ["variant", "reason"],
            registry=self.registry,
        )
        self.seen_ignored = Counter(
            "hatchet_trace_flags_seen_ignored",
            "Reported action_ids dropped because the discovered-task limit was reached.",
            registry=self.registry,
        )
        self.exemplars_refused = Counter(
            "hatchet_trace_flags_insight_exemplars_refused",
            "Example trace ids in fan-out reports dropped as invalid (not 32 lowercase hex digits).",
            registry=self.registry,
        )
        self.seen_expired = Counter(
            "hatchet_trace_flags_seen_expired",
            "Discovered tasks forgotten by the retention sweep.",
            registry=self.registry,
        )
        self.workers_ignored = Counter(
            "hatchet_trace_flags_workers_ignored",
            "Reports of new workers not kept because the worker limit was reached.",
            registry=self.registry,
        )
        self.mode_batches = Histogram(
            "hatchet_trace_flags_mode_batch_seconds",
            "How long one batch of stored effective modes held the write lock.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], Any] = {}

    def observe_snapshot(self, snapshot: RulesSnapshot) -> None:
        self.revision.set(snapshot.revision)
        self.entries.labels("tasks").set(len(snapshot.rules.tasks))
        self.entries.labels("patterns").set(len(snapshot.rules.patterns))
        self.links_enabled.set(1 if snapshot.rules.links_enabled else 0)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        latency = self._children.get(key)
        if latency is None:
            latency = self._children[key] = self.latency.labels(method, route)
        latency.observe(seconds)
        self.requests.labels(method, route, str(status)).inc()


class MetricsMiddleware:
    """Counts requests by route *template* (paths carry action_ids: unbounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = scope.get("route")
                template = getattr(route, "path", None) or "(unmatched)"
                self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_and_record)
