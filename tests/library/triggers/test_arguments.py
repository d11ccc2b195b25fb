"""bound_arguments must give exactly what inspect's bind + apply_defaults gives, for any call."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from hatchet_trace_flags._triggers.arguments import bound_arguments


class Client:
    def run(self, workflow_name: str, input: str | None, options: object = "default-options") -> None: ...

    def push(
        self, key: str, payload: dict[str, Any], options: object = None, metadata: object = None
    ) -> None: ...

    async def wait_for(self, signal_key: str, *conditions: object, label: str | None = None) -> None: ...


def reference(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    return list(bound.arguments.values())


CALLS = [
    ("run", ("wf", "{}", "opts"), {}),
    ("run", ("wf", None), {}),
    ("run", ("wf",), {"input": "{}"}),
    ("run", (), {"workflow_name": "wf", "input": None, "options": "o"}),
    ("run", ("wf",), {"options": "o", "input": "x"}),
    ("push", ("k", {}), {"metadata": {"a": 1}}),
    ("push", ("k", {}, None, None), {}),
    ("wait_for", ("signal",), {}),
    ("wait_for", ("signal", 1, 2, 3), {"label": "l"}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), CALLS)
def test_matches_inspect(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    bound_method = getattr(Client(), method)
    assert bound_arguments(bound_method, args, kwargs) == reference(bound_method, args, kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),  # missing required
        (("wf", None, "o", "extra"), {}),  # too many
        (("wf",), {"workflow_name": "again", "input": None}),  # duplicate
        (("wf", None), {"unknown": 1}),  # unknown keyword
    ],
)
def test_raises_the_same_type_error_as_the_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    method = Client().run
    with pytest.raises(TypeError) as ours:
        bound_arguments(method, args, kwargs)
    with pytest.raises(TypeError) as theirs:
        reference(method, args, kwargs)
    assert str(ours.value) == str(theirs.value)
