"""Look-alike names (Unicode TS #39 mixed-script detection): marked when the letters' scripts are not
written together, left alone when one script (any one) or Latin with a CJK set spells the name."""

from __future__ import annotations

import pytest
from hatchet_trace_flags_server.core.names.lookalike import look_alike

REAL = "fanout-worker:process-item"
CYRILLIC_O = "fanout-w\u043erker:process-item"  # a Cyrillic o among Latin letters


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        pytest.param(CYRILLIC_O, "Cyrillic, Latin", id="cyrillic-o-in-latin"),
        pytest.param("wf:\u0441\u043e\u0441\u043e-x", "Cyrillic, Latin", id="cyrillic-word-latin-rest"),
        pytest.param("\u039f\u0394\u039f\u03a3:job", "Greek, Latin", id="greek-and-latin"),
    ],
)
def test_mixed_scripts_are_marked(name: str, scripts: str) -> None:
    reason = look_alike(name)
    assert reason is not None
    assert f"({scripts})" in reason


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(REAL, id="ascii"),
        pytest.param("Uni:\u00c4BCDEF", id="latin-with-umlaut"),
        pytest.param(
            "\u0441\u0435\u0440\u0432\u0438\u0441:\u0437\u0430\u0434\u0430\u0447\u0430", id="all-cyrillic"
        ),
        pytest.param("\u65e5\u672c:\u30bf\u30b9\u30af", id="japanese-han-katakana"),
        pytest.param("prod:\u65e5\u672c\u8a9e-2", id="latin-and-han"),
        pytest.param("wf:e\u0301t\u00e9", id="combining-mark"),
    ],
)
def test_names_in_one_script_are_not(name: str) -> None:
    assert look_alike(name) is None


def test_the_ascii_twin_replaces_each_letter_by_its_look_alike() -> None:
    from hatchet_trace_flags_server.core.names.lookalike import ascii_twin

    assert ascii_twin(CYRILLIC_O) == REAL
    assert ascii_twin("\u0440\u0430\u0443:\u0441\u043e\u0441\u043e") == "pay:coco"  # all Cyrillic
    assert ascii_twin(REAL) is None
    assert ascii_twin("\u65e5\u672c:job") is None  # no ASCII look-alike for these letters
