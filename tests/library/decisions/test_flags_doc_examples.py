"""The InMemoryProvider example of docs/flags.md, run as written (up to the instrumentor, which other
tests cover): the predicate it builds gives the tasks it lists link mode and the others parent."""

from __future__ import annotations

import re
import textwrap

import pytest

from hatchet_trace_flags import FlagPredicate
from tests.support.paths import DOCS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_openfeature")


def _in_memory_example() -> str:
    text = (DOCS / "flags.md").read_text()
    blocks = [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)]
    [example] = [block for block in blocks if "InMemoryProvider(" in block]
    return example


def test_the_in_memory_provider_example_runs_and_decides() -> None:
    example = _in_memory_example()
    before_instrumenting, _, rest = example.partition(
        "HatchetInstrumentor(use_links_instead_of_parent=predicate)"
    )
    assert rest.strip() == ".instrument()"
    namespace: dict[str, object] = {}
    exec(compile(before_instrumenting, "docs/flags.md", "exec"), namespace)  # noqa: S102 (our own docs)
    predicate = namespace["predicate"]
    assert isinstance(predicate, FlagPredicate)
    # The first answer may be parent if the provider is slower than the first-decision budget.
    wait_until(lambda: predicate("prod_fanout-worker:process-item") is True)
    wait_until(lambda: predicate("prod_mailer:send-email") is True)
    assert predicate("prod_billing:charge-card") is False
    predicate.close()
