"""``HatchetInstrumentor``: hatchet-sdk's instrumentor, with span links for the tasks that want them.

A drop-in replacement for ``hatchet_sdk.opentelemetry.instrumentor.HatchetInstrumentor``: same constructor,
same spans, plus ``use_links_instead_of_parent``, a callable that gets a task's ``action_id`` at every task
start and returns ``True`` for link mode. With ``None`` (the default) every span is exactly what hatchet-sdk
produces.

In link mode the worker's ``hatchet.start_step_run`` span is the root of a new trace, with one span link to
the span that spawned the run (when the run carries a valid traceparent), and everything the task does stays
in that new trace: its own spans, the runs it triggers (they carry the new trace's context), durable
waits, and children spawned on the durable path, which upstream would all attach to the spawner's trace.

With hatchet-sdk's engine exporter on (its default), Hatchet's own run view stays whole in link mode: the
engine's exporter alone gets a parent-shaped copy of linked runs, and runs triggered from a linked run keep
the engine's trace in their ``traceparent`` (see ``_engine_view``; ``hatchet_run_view=False`` turns it off).

It also fixes three things about the stock instrumentor: argument binding is cached instead of costing ~90 µs
per call, constructing it twice never adds a second exporter, and ``uninstrument()`` really unwraps. And it
traces batch starts (``hatchet.start_batch``, see ``batch``), which the stock instrumentor leaves untraced.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Final

from hatchet_sdk import ClientConfig
from hatchet_sdk.clients.admin import AdminClient
from hatchet_sdk.clients.events import EventClient
from hatchet_sdk.context.context import DurableContext
from hatchet_sdk.opentelemetry import instrumentor as _stock
from hatchet_sdk.runnables.action import Action
from hatchet_sdk.runnables.contextvars import ctx_hatchet_span_attributes
from hatchet_sdk.types.trigger import TriggerWorkflowOptions, WorkflowRunTriggerConfig
from hatchet_sdk.worker.runner.runner import Runner
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import (
    Span,
    SpanKind,
    StatusCode,
    TracerProvider,
    get_tracer,
)
from wrapt import wrap_function_wrapper

from hatchet_trace_flags._decisions.evaluation_event import record_evaluation
from hatchet_trace_flags._decisions.task_decision import TaskDecider, UseLinksPredicate
from hatchet_trace_flags._engine_view import view as engine_view
from hatchet_trace_flags._engine_view.processor import engine_view_of, install_engine_copy
from hatchet_trace_flags._engine_view.traceparents import own_traceparent
from hatchet_trace_flags._engine_view.view import EngineView
from hatchet_trace_flags._fanout.metrics import FanoutMeasurement, measurement_for
from hatchet_trace_flags._instrumentation import compat
from hatchet_trace_flags._instrumentation.active_span import active
from hatchet_trace_flags._instrumentation.backlinks import name_created_run, with_backlinks, wrap_naming
from hatchet_trace_flags._instrumentation.batch import BATCH_START_METHOD, wrap_batch_starts
from hatchet_trace_flags._instrumentation.durable_wrappers import DurableWrappers, in_link_mode
from hatchet_trace_flags._instrumentation.links import start_context
from hatchet_trace_flags._instrumentation.prefetch import prefetch_on_runner_init
from hatchet_trace_flags._instrumentation.sampling import ignores_attributes
from hatchet_trace_flags._settings import WorkerSettings, decision_events_switch
from hatchet_trace_flags._triggers.arguments import bound_arguments
from hatchet_trace_flags._triggers.attributes import trigger_attributes
from hatchet_trace_flags._triggers.metadata import (
    OverrideAdder,
    add_override_to_bulk_push,
    add_override_to_bulk_run,
    add_override_to_push,
    add_override_to_schedule,
    fallback_family_wrapper,
    override_wrapper,
    traced_metadata,
)
from hatchet_trace_flags._triggers.relationship import (
    TRACEPARENT_METADATA_KEY,
    requested_relationship,
)
from hatchet_trace_flags._triggers.spawn_stamp import BULK_RUN_METHODS, count_child, wrap_bulk_runs

# Same instrumentation scope as hatchet-sdk's spans, so parent mode is indistinguishable from stock.
_SCOPE_NAME: Final = _stock.__name__


_providers_with_hatchet_exporter: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


# (class, method, name of the instrumentor's wrapper, how an inner wrapper adds the per-run override to its
# arguments, for the triggers whose instrumentor wrapper is hatchet-sdk's own)
_TARGETS: Final[tuple[tuple[type, str, str, OverrideAdder | None], ...]] = (
    (Runner, "handle_start_step_run", "_wrap_handle_start_step_run", None),
    (Runner, "handle_cancel_action", "_wrap_handle_cancel_action", None),
    (EventClient, "push", "_wrap_push_event", add_override_to_push),
    (EventClient, "bulk_push", "_wrap_bulk_push_event", add_override_to_bulk_push),
    (EventClient, "aio_push", "_wrap_aio_push_event", add_override_to_push),
    (EventClient, "aio_bulk_push", "_wrap_aio_bulk_push_event", add_override_to_bulk_push),
    # The single-run triggers are the fan-out hot path: their wrappers add the override themselves.
    (AdminClient, "run_workflow", "_wrap_run_workflow", None),
    (AdminClient, "aio_run_workflow", "_wrap_async_run_workflow", None),
    (AdminClient, "schedule_workflow", "_wrap_schedule_workflow", add_override_to_schedule),
    (AdminClient, "run_workflows", "_wrap_run_workflows", add_override_to_bulk_run),
    (AdminClient, "aio_run_workflows", "_wrap_async_run_workflows", add_override_to_bulk_run),
    (DurableContext, "aio_wait_for", "_wrap_aio_wait_for", None),
    (DurableContext, "_spawn_children_no_wait", "_wrap_spawn_children_no_wait", None),
)


def _unwrap_once(owner: type, name: str) -> None:
    attribute = vars(owner).get(name)
    wrapped = getattr(attribute, "__wrapped__", None)
    if wrapped is not None:
        setattr(owner, name, wrapped)


class HatchetInstrumentor(DurableWrappers):
    """hatchet-sdk's ``HatchetInstrumentor`` with per-task span links.

    :param use_links_instead_of_parent: called with a task's ``action_id`` once per task start, on the event
        loop; ``True`` starts the task's trace as a new root linked to the spawning span. ``None``: parent
        everywhere, exactly like hatchet-sdk. A predicate that raises or returns a non-bool means parent mode
        (and one warning per ``action_id``). Keep it fast: :class:`hatchet_trace_flags.FlagPredicate` is.
    :param measure_fanout: measure fan-out (children per run, child start delays; docs/insight.md). ``None``
        (the default): when a predicate is given; ``False`` leaves every run's metadata as hatchet-sdk's.
    :param hatchet_run_view: with ``enable_hatchet_otel_collector``, send Hatchet's engine a parent-shaped
        copy of linked runs so that its run view stays whole (README, "Hatchet's own run view"). ``None`` (the
        default): ``WorkerSettings.hatchet_run_view`` (``HATCHET_TRACE_FLAGS_HATCHET_RUN_VIEW``, true unless
        set); ``False``: the engine gets the link shape too. Without the engine exporter nothing happens.
    :param decision_events: record each task start's decision as a ``feature_flag.evaluation`` event on its
        span (docs/decision-event.md). ``None`` (the default): ``HATCHET_TRACE_FLAGS_DECISION_EVENTS``, on
        unless set to false.

    All other parameters are hatchet-sdk's, with the same meaning.
    """

    # BaseInstrumentor keeps its singleton in `cls._instance`: without our own slot we would get hatchet-sdk's
    # instance back and our __init__ would never run.
    _instance = None
    _is_instrumented_by_opentelemetry = False
    # (class, method, how many wrapper layers instrument() put on it), for uninstrument().
    _wrapped: list[tuple[type, str, int]]
    _names_runs = False  # whether trigger spans name the runs they created (set by instrument())

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        config: ClientConfig | None = None,
        enable_hatchet_otel_collector: bool = True,
        schedule_delay_millis: int | None = None,
        max_export_batch_size: int | None = None,
        max_queue_size: int | None = None,
        *,
        use_links_instead_of_parent: UseLinksPredicate | None = None,
        measure_fanout: bool | None = None,
        hatchet_run_view: bool | None = None,
        decision_events: bool | None = None,
    ) -> None:
        # Read by _add_hatchet_exporter, which hatchet-sdk's __init__ calls.
        self._hatchet_run_view = hatchet_run_view
        self._engine_view: EngineView | None = None
        self._engine_meter_provider = meter_provider
        self._decision_events = decision_events_switch(decision_events)
        self.use_links_instead_of_parent = use_links_instead_of_parent
        self.measure_fanout = measure_fanout
        self._fanout: FanoutMeasurement | None = getattr(self, "_fanout", None)  # singleton: may be live
        super().__init__(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            config=config,
            enable_hatchet_otel_collector=enable_hatchet_otel_collector,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
            max_queue_size=max_queue_size,
        )

    @property
    def use_links_instead_of_parent(self) -> UseLinksPredicate | None:
        return self._use_links_instead_of_parent

    @use_links_instead_of_parent.setter
    def use_links_instead_of_parent(self, predicate: UseLinksPredicate | None) -> None:
        self._decider = TaskDecider(predicate, events=self._decision_events)  # TypeError when not callable
        self._use_links_instead_of_parent = predicate

    def _add_hatchet_exporter(self) -> None:
        # The singleton re-runs __init__ on every construction; one exporter per provider, not one per call.
        run_view = self._hatchet_run_view
        if run_view is None:
            run_view = WorkerSettings.from_environ().hatchet_run_view
        if self.tracer_provider in _providers_with_hatchet_exporter:
            self._engine_view = engine_view_of(self.tracer_provider) if run_view else None
            return
        self._engine_view = install_engine_copy(self, self._engine_meter_provider) if run_view else None
        if self._engine_view is None:
            super()._add_hatchet_exporter()
        _providers_with_hatchet_exporter.add(self.tracer_provider)

    def _instrument(self, **kwargs: Any) -> None:
        stock = vars(_stock.HatchetInstrumentor).get("_instance")
        if stock is not None and stock.is_instrumented_by_opentelemetry:
            raise RuntimeError(
                "hatchet-sdk's own HatchetInstrumentor is already instrumented; instrumenting "
                "hatchet_trace_flags.HatchetInstrumentor as well would wrap every method twice. "
                "Use only hatchet_trace_flags.HatchetInstrumentor."
            )
        self._tracer = get_tracer(_SCOPE_NAME, _stock.hatchet_sdk_version, self.tracer_provider)
        self._sampler_ignores_attributes = ignores_attributes(getattr(self.tracer_provider, "sampler", None))
        self._meter = get_meter(_SCOPE_NAME, _stock.hatchet_sdk_version, self.meter_provider)
        # A method this hatchet-sdk changed gets hatchet-sdk's own wrapper, never ours (one warning).
        fallbacks = compat.stock_fallbacks(self, _TARGETS)
        self._wrapped = []
        # Like measuring: without a predicate every span stays exactly hatchet-sdk's.
        self._names_runs = self._decider.call is not None
        self._fanout = measurement_for(self.measure_fanout, self._decider.call, self.meter_provider)
        if self._fanout is not None:
            wrap_bulk_runs()  # innermost: inside hatchet-sdk's wrappers, which write the traceparents
        for owner, name, wrapper_name, add_override in _TARGETS:
            key = f"{owner.__name__}.{name}"
            if key in fallbacks:
                wrappers = [fallback] if (fallback := fallbacks[key]) is not None else []
                if wrappers and owner in (AdminClient, EventClient):
                    # Inside hatchet-sdk's wrapper: the traceparent it writes goes to the engine in its shape.
                    wrappers.insert(0, fallback_family_wrapper)
            elif add_override is not None:
                # Inside hatchet-sdk's wrapper, so the traceparent the override is bound to is already there.
                wrappers = [override_wrapper(add_override), getattr(self, wrapper_name)]
            else:
                wrappers = [getattr(self, wrapper_name)]
            # Innermost: names on the trigger's span the runs the engine answered it created.
            layers = wrap_naming(owner, name) if self._names_runs and key not in fallbacks else 0
            for wrapper in wrappers:
                wrap_function_wrapper(owner, name, wrapper)
            self._wrapped.append((owner, name, layers + len(wrappers)))
        # Prefetch the worker's decisions when hatchet-sdk builds its runner, before the first task arrives.
        wrap_function_wrapper(
            Runner, "__init__", prefetch_on_runner_init(lambda: self.use_links_instead_of_parent)
        )
        wrap_batch_starts(self)  # hatchet-sdk >= 1.37; older versions have no batch tasks to trace
        engine_view.install(self._engine_view)

    def _uninstrument(self, **kwargs: Any) -> None:
        engine_view.install(None)
        _unwrap_once(Runner, "__init__")
        for owner, name, layers in self._wrapped:
            for _ in range(layers):
                _unwrap_once(owner, name)
        if self._fanout is not None:
            for owner, name in BULK_RUN_METHODS:
                _unwrap_once(owner, name)
        _unwrap_once(Runner, BATCH_START_METHOD)

    def extract_bound_args(
        self,
        wrapped_func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> list[Any]:
        return bound_arguments(wrapped_func, args, kwargs)

    async def _wrap_handle_start_step_run(
        self,
        wrapped: Callable[[Action], Coroutine[None, None, Exception | None]],
        instance: Runner,
        args: tuple[Action],
        kwargs: Any,
    ) -> Exception | None:
        action: Action = args[0] if args else kwargs["action"]
        metadata = action.additional_metadata
        decided = self._decider.decide(action.action_id, metadata)
        link_mode = decided.use_links

        traceparent = metadata.get(TRACEPARENT_METADATA_KEY) if metadata else None
        # The link-shaped context a trigger in a linked run left next to the engine's traceparent, if any.
        own = own_traceparent(metadata) if metadata else None
        context, links = start_context(link_mode, own)

        span_name = "hatchet.start_step_run"
        if self.config.otel.include_task_name_in_start_step_run_span_name:
            span_name += f".{action.action_id}"
        hatchet_attributes = action.get_otel_attributes(self.config)

        # hatchet-sdk's engine processor copies these onto every span started in the run, the start span too,
        # key by key, where it has each one already. With none set around us (a worker's task starts) they
        # are set once the start span exists, which spares that loop (~1.5 µs) and changes nothing.
        attributes_token = (
            ctx_hatchet_span_attributes.set(hatchet_attributes)
            if ctx_hatchet_span_attributes.get() is not None
            else None
        )
        # Durable waits and spawns must follow this run's own context, not the incoming traceparent.
        mode_token = in_link_mode.set(link_mode or own != traceparent)
        measured = self._fanout.run_started(action, link_mode) if self._fanout is not None else None
        view = self._engine_view
        held: int | None = None
        try:
            span = self._tracer.start_span(
                span_name,
                context=context,
                kind=SpanKind.CONSUMER,
                attributes=with_backlinks(hatchet_attributes, links, action.parent_workflow_run_id, own),
                links=links,
            )
            if attributes_token is None:
                attributes_token = ctx_hatchet_span_attributes.set(hatchet_attributes)
            if view is not None:
                # Released once the start span has ended. The spawner's context, when the propagator
                # already read it from this traceparent, spares parsing it again.
                parsed = (
                    (links[0].context if links else getattr(span, "parent", None))
                    if own is traceparent
                    else None
                )
                held = view.hold(span, traceparent, parsed)
            record_evaluation(span, decided)
            if measured is not None:
                measured.note_trace(span)
            with active(span):
                result = await wrapped(*args, **kwargs)
                if isinstance(result, Exception):
                    span.record_exception(result)
                    span.set_status(StatusCode.ERROR, str(result))
                return result
        finally:
            if held is not None:
                view.release(held)  # type: ignore[union-attr]  # held implies a view
            if measured is not None:
                measured.end()
            in_link_mode.reset(mode_token)
            if attributes_token is not None:
                ctx_hatchet_span_attributes.reset(attributes_token)

    def _trigger_attributes(
        self, workflow_name: str, payload: str | None, options: TriggerWorkflowOptions
    ) -> dict[str, Any]:
        return trigger_attributes(workflow_name, payload, options, self.config.otel.excluded_attributes)

    def _config_attributes(self, config: WorkflowRunTriggerConfig) -> dict[str, Any]:
        return self._trigger_attributes(config.workflow_name, config.input, config.options)

    def _traced_options(self, options: TriggerWorkflowOptions, span: Span) -> TriggerWorkflowOptions:
        stamp = self._fanout is not None
        metadata = traced_metadata(options.additional_metadata, span, requested_relationship(), stamp)
        return options.model_copy(update={"additional_metadata": metadata})

    def _start_trigger_span(
        self, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Span, str, str | None, TriggerWorkflowOptions]:
        workflow_name, payload, options = self.extract_bound_args(wrapped, args, kwargs)
        if self._fanout is not None:
            count_child(workflow_name)
        # start_span + active() is what start_as_current_span does, minus its generator and decorator layers.
        if self._sampler_ignores_attributes:
            # Attributes are only built for a span that will be exported (a fan-out under a sampled-out
            # parent builds none).
            span = self._tracer.start_span("hatchet.run_workflow", kind=SpanKind.PRODUCER)
            if span.is_recording():
                span.set_attributes(self._trigger_attributes(workflow_name, payload, options))
        else:
            span = self._tracer.start_span(
                "hatchet.run_workflow",
                attributes=self._trigger_attributes(workflow_name, payload, options),
                kind=SpanKind.PRODUCER,
            )
        return span, workflow_name, payload, options

    def _wrap_run_workflow(
        self,
        wrapped: Callable[..., Any],
        instance: AdminClient,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        span, workflow_name, payload, options = self._start_trigger_span(wrapped, args, kwargs)
        with active(span):
            ref = wrapped(workflow_name, payload, self._traced_options(options, span))
            if self._names_runs:
                name_created_run(span, ref)
            return ref

    async def _wrap_async_run_workflow(
        self,
        wrapped: Callable[..., Any],
        instance: AdminClient,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        span, workflow_name, payload, options = self._start_trigger_span(wrapped, args, kwargs)
        with active(span):
            ref = await wrapped(workflow_name, payload, self._traced_options(options, span))
            if self._names_runs:
                name_created_run(span, ref)
            return ref
