"""The feature_flag.evaluation event's names and reason table: one home in the code, the same in the docs."""

from __future__ import annotations

import re

import pytest

from hatchet_trace_flags._decisions import evaluation_event
from hatchet_trace_flags._decisions.evaluation_event import CONVENTION_REASONS, convention_reason
from tests.support.paths import DOCS

_ROW = re.compile(r"^\| `(?P<ours>[a-z_]+)` \| `(?P<convention>[a-z_]+)` \| .+ \|$")


def test_the_docs_reason_table_is_the_codes() -> None:
    text = (DOCS / "decision-event.md").read_text()
    rows = {match["ours"]: match["convention"] for match in map(_ROW.match, text.splitlines()) if match}
    assert rows == dict(CONVENTION_REASONS)


def test_every_mapped_reason_is_a_value_of_the_conventions() -> None:
    semconv = pytest.importorskip("opentelemetry.semconv._incubating.attributes.feature_flag_attributes")
    values = {value.value for value in semconv.FeatureFlagResultReasonValues}
    assert set(CONVENTION_REASONS.values()) <= values
    # A provider's own reason that is one of the conventions' values passes through unchanged.
    assert convention_reason("split") == "split"
    assert convention_reason("cached") == "cached"
    assert all(convention_reason(value) in values for value in values)
    assert convention_reason("made-up") == "unknown"


def test_the_attribute_names_are_the_conventions() -> None:
    semconv = pytest.importorskip("opentelemetry.semconv._incubating.attributes.feature_flag_attributes")
    assert evaluation_event.FLAG_KEY == semconv.FEATURE_FLAG_KEY
    assert evaluation_event.RESULT_VARIANT == semconv.FEATURE_FLAG_RESULT_VARIANT
    assert evaluation_event.RESULT_REASON == semconv.FEATURE_FLAG_RESULT_REASON
    assert evaluation_event.PROVIDER_NAME == semconv.FEATURE_FLAG_PROVIDER_NAME
    assert evaluation_event.VERSION == semconv.FEATURE_FLAG_VERSION
    assert evaluation_event.CONTEXT_ID == semconv.FEATURE_FLAG_CONTEXT_ID
