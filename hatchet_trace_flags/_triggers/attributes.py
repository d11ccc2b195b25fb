"""The attributes of a ``hatchet.run_workflow`` span, exactly as hatchet-sdk's instrumentor sets them.

hatchet-sdk builds them from a fresh table of twelve (attribute, value) pairs on every trigger, checking each
against the excluded attributes and the empty JSON texts. The same result comes cheaper from a plan made
once per set of excluded attributes: the option fields to read, under their span attribute names.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from functools import lru_cache
from typing import Any, Final, NamedTuple

from hatchet_sdk.types.trigger import TriggerWorkflowOptions
from hatchet_sdk.utils.opentelemetry import OTelAttribute

__all__ = ["trigger_attributes"]

# hatchet-sdk's order, after workflow name and payload: the TriggerWorkflowOptions field of each attribute.
_OPTION_FIELDS: Final = (
    (OTelAttribute.PARENT_ID, "parent_id"),
    (OTelAttribute.PARENT_STEP_RUN_ID, "parent_step_run_id"),
    (OTelAttribute.CHILD_INDEX, "child_index"),
    (OTelAttribute.CHILD_KEY, "child_key"),
    (OTelAttribute.NAMESPACE, "namespace"),
    (OTelAttribute.ADDITIONAL_METADATA, "additional_metadata"),
    (OTelAttribute.PRIORITY, "priority"),
    (OTelAttribute.DESIRED_WORKER_ID, "desired_worker_id"),
    (OTelAttribute.STICKY, "sticky"),
    (OTelAttribute.KEY, "key"),
)
_EMPTY_JSON: Final = ("{}", "[]")


class _Plan(NamedTuple):
    workflow_name: str | None  # the attribute name, or None when excluded
    payload: str | None
    fields: tuple[tuple[str, str], ...]  # (attribute name, option field), in hatchet-sdk's order


@lru_cache(maxsize=16)
def _plan(excluded: tuple[str, ...]) -> _Plan:
    def name(attribute: OTelAttribute) -> str | None:
        return None if attribute in excluded else f"hatchet.{attribute.value}"

    return _Plan(
        workflow_name=name(OTelAttribute.WORKFLOW_NAME),
        payload=name(OTelAttribute.ACTION_PAYLOAD),
        fields=tuple(
            (f"hatchet.{attribute.value}", field)
            for attribute, field in _OPTION_FIELDS
            if attribute not in excluded
        ),
    )


def trigger_attributes(
    workflow_name: str, payload: str | None, options: TriggerWorkflowOptions, excluded: Collection[str]
) -> dict[str, Any]:
    """hatchet-sdk's ``hatchet.run_workflow`` attributes; the same keys, values and order."""
    plan = _plan(tuple(excluded))
    attributes: dict[str, Any] = {"instrumentor": "hatchet"}
    if plan.workflow_name is not None and workflow_name and workflow_name not in _EMPTY_JSON:
        attributes[plan.workflow_name] = workflow_name
    if plan.payload is not None and payload and payload not in _EMPTY_JSON:
        attributes[plan.payload] = payload
    for attribute, field in plan.fields:
        value = getattr(options, field)
        if not value:
            continue
        if field == "additional_metadata":
            value = json.dumps(value, default=str)
        if type(value) is not str or value not in _EMPTY_JSON:
            attributes[attribute] = value
    return attributes
