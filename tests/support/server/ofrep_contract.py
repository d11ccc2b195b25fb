"""The OFREP contract (OpenFeature Remote Evaluation Protocol 0.3.0) as JSON Schema validation of answers.

The schemas are the protocol's own (``ofrep_openapi.yaml`` beside this file, unchanged). One reading is
needed: ``codeDefaultFlag`` ("the provider must use the code default", documented as "this schema has no
``value`` property") is written as an empty object schema, which every answer matches, so with ``oneOf``
no answer with a value could ever be valid. It is read as what its description says: no ``value``.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

__all__ = ["OFREP_REASONS", "assert_ofrep", "ofrep_document"]

_SPEC: Final = Path(__file__).with_name("ofrep_openapi.yaml")


@functools.cache
def ofrep_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(_SPEC.read_text(encoding="utf-8"))
    return document


def _schemas() -> dict[str, Any]:
    schemas = copy.deepcopy(ofrep_document()["components"]["schemas"])
    schemas["codeDefaultFlag"] = {**schemas["codeDefaultFlag"], "not": {"required": ["value"]}}
    return schemas


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": _schemas()}}
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root)


def assert_ofrep(schema_name: str, body: object) -> None:
    """Fail, listing every violation, unless ``body`` is a valid ``schema_name`` of the OFREP spec."""
    errors = sorted(_validator(schema_name).iter_errors(body), key=lambda error: list(error.absolute_path))
    assert not errors, f"not an OFREP {schema_name}: " + "; ".join(
        f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}" for error in errors
    )


# The reasons a successful evaluation may carry.
OFREP_REASONS: Final = frozenset(
    ofrep_document()["components"]["schemas"]["evaluationSuccess"]["allOf"][0]["properties"]["reason"]["enum"]
)
