"""The contract between workers and the admin service: the rules model, name validation, flagd export and
import, the fan-out report's summaries, and the wire facts (paths, headers, limits).

Both sides import it, so each fact has one home. It imports nothing else of this library and nothing
beyond the standard library: ``import hatchet_trace_flags.contract`` loads without hatchet-sdk, gRPC,
OpenFeature or OpenTelemetry's SDK, which is how the admin service and tools use it::

    from hatchet_trace_flags.contract import RuleSet, to_flagd

    rules = RuleSet(patterns={"fanout-worker:*": "link"})
    rules.evaluate("fanout-worker:resize").mode  # "link"
    to_flagd(rules)                               # the same decisions, as a flagd flag definition

Rule documents are described in docs/rules.md, fan-out reports in docs/insight.md, the service's API in
docs/server.md.
"""

from ._decision import Decision, Mode, Reason, RulesError
from ._expiry import TIMED_DOCUMENT_VERSION, Expiries, Expiry, format_until, parse_until
from ._fanout_summary import (
    CHILDREN_BOUNDS,
    MAX_WORKFLOWS_PER_TASK,
    OTHER,
    SECONDS_BOUNDS,
    ChildSide,
    Exemplar,
    Histogram,
    SpawnerSide,
    TaskSummary,
    exemplar_from_json,
    is_trace_id,
)
from ._flagd_export import FLAGD_SCHEMA_URL, MAX_FLAGD_PHASES, to_flagd
from ._flagd_import import FlagdConversionError, is_flagd_document, rules_from_flagd
from ._names import MAX_ACTION_ID_LENGTH, validate_action_id, validate_mode, validate_pattern
from ._rule_set import DEFAULT_FLAG_KEY, DOCUMENT_VERSION, MAX_ENTRIES, RuleSet, rules_json_schema
from ._strict_json import NotJSON, reject_constant
from ._wire import (
    DOCUMENT_VERSION_HEADER,
    EVENTS_PATH,
    INSIGHTS_PATH,
    INSIGHTS_SCHEMA,
    MAX_INSIGHT_TASKS_PER_REPORT,
    MAX_SEEN_PER_REPORT,
    REVISION_HEADER,
    SEEN_PATH,
    SNAPSHOT_PATH,
    STORE_HEADER,
    WORKER_HEARTBEAT_SECONDS,
    WORKER_REPORT_PATH,
    WORKERS_PATH,
)
from ._worker_report import (
    MAX_RUNNING_PER_REPORT,
    MAX_WORKER_LABEL_LENGTH,
    MAX_WORKER_NAME_LENGTH,
    WORKER_SOURCES,
    WorkerReport,
)

__all__ = [
    "CHILDREN_BOUNDS",
    "DEFAULT_FLAG_KEY",
    "DOCUMENT_VERSION",
    "DOCUMENT_VERSION_HEADER",
    "EVENTS_PATH",
    "FLAGD_SCHEMA_URL",
    "INSIGHTS_PATH",
    "INSIGHTS_SCHEMA",
    "MAX_ACTION_ID_LENGTH",
    "MAX_ENTRIES",
    "MAX_FLAGD_PHASES",
    "MAX_INSIGHT_TASKS_PER_REPORT",
    "MAX_RUNNING_PER_REPORT",
    "MAX_SEEN_PER_REPORT",
    "MAX_WORKER_LABEL_LENGTH",
    "MAX_WORKER_NAME_LENGTH",
    "MAX_WORKFLOWS_PER_TASK",
    "OTHER",
    "REVISION_HEADER",
    "SECONDS_BOUNDS",
    "SEEN_PATH",
    "SNAPSHOT_PATH",
    "STORE_HEADER",
    "TIMED_DOCUMENT_VERSION",
    "WORKERS_PATH",
    "WORKER_HEARTBEAT_SECONDS",
    "WORKER_REPORT_PATH",
    "WORKER_SOURCES",
    "ChildSide",
    "Decision",
    "Exemplar",
    "Expiries",
    "Expiry",
    "FlagdConversionError",
    "Histogram",
    "Mode",
    "NotJSON",
    "Reason",
    "RuleSet",
    "RulesError",
    "SpawnerSide",
    "TaskSummary",
    "WorkerReport",
    "exemplar_from_json",
    "format_until",
    "is_flagd_document",
    "is_trace_id",
    "parse_until",
    "reject_constant",
    "rules_from_flagd",
    "rules_json_schema",
    "to_flagd",
    "validate_action_id",
    "validate_mode",
    "validate_pattern",
]
