"""The CLI as a new operator meets it (issue 26): `serve` without the `server` extra and Ctrl-C on
`serve` end with a sentence, not a traceback; `import` asks before it changes the default mode or the
kill switch; a stale --if-match is refused before any summary; every option and command explains itself."""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server.cli.main import _parser

from tests.support.server.live import ADMIN_TOKEN, LiveServer, auth
from tests.support.server.processes import start_server_process

pytestmark = pytest.mark.timeout(60)

# The rule set changes its default mode: the import must ask.
SWITCHING = {"version": 1, "default": "link", "tasks": {"shop:mail": "link"}}


def _cli(live: LiveServer, *arguments: str, **options: object) -> subprocess.CompletedProcess[str]:
    """The console script's code path in its own process, as a person or a script runs it."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("HATCHET_TRACE_FLAGS")
    }
    environment.update({"HATCHET_TRACE_FLAGS_URL": live.url, "HATCHET_TRACE_FLAGS_CLI_TOKEN": ADMIN_TOKEN})
    return subprocess.run(
        [sys.executable, "-m", "hatchet_trace_flags_server", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        **options,  # type: ignore[arg-type]
    )


def _settings(live: LiveServer) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{live.url}/api/v1/settings", headers=auth(ADMIN_TOKEN)).json()
    return body


def _document(tmp_path: Path, content: dict[str, object]) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(content))
    return str(path)


# ------------------------------------------------------------------ serve


def test_serve_without_the_server_extra_says_what_to_install(tmp_path: Path) -> None:
    # The library's dependencies are there, the service's are not: imports of them fail as they would
    # in an environment where `pip install hatchet-trace-flags` ran without `[server]`.
    hide_the_extra = (
        "import importlib.abc, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'fastapi', 'starlette', 'uvicorn', 'sqlalchemy', 'alembic'}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Absent())\n"
        "from hatchet_trace_flags_server.cli.main import main\n"
        "sys.exit(main(['serve', '--data-dir', sys.argv[1]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_the_extra, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "needs the `server` extra (missing: " in result.stderr
    assert "pip install 'hatchet-trace-flags[server]'" in result.stderr


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["inherited", "started-with-sigint-ignored"])
def test_ctrl_c_on_serve_stops_it_without_a_traceback(tmp_path: Path, sigint_ignored: bool) -> None:
    server = start_server_process(
        {"HATCHET_TRACE_FLAGS_DATA_DIR": str(tmp_path / "data"), "HATCHET_TRACE_FLAGS_LOG_LEVEL": "info"},
        tmp_path / "serve.log",
        sigint_ignored=sigint_ignored,
    )
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=30) == 130
    output = server.output()
    assert "Traceback" not in output, output
    assert "KeyboardInterrupt" not in output, output
    assert "Finished server process" in output  # it shut down, rather than dying


# ------------------------------------------------------------------ import


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_import_that_changes_the_default_needs_yes_without_a_terminal(
    live: LiveServer, tmp_path: Path
) -> None:
    document = _document(tmp_path, SWITCHING)
    refused = _cli(live, "import", document, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2, refused.stderr
    assert "default: parent -> link" in refused.stdout  # what it would have done is shown
    assert "there is no terminal to ask on: pass --yes" in refused.stderr
    assert "Nothing was changed" in refused.stderr
    assert _settings(live)["default"] == "parent"
    # From stdin there is no terminal either, even when the shell has one.
    piped = _cli(live, "import", "-", input=json.dumps(SWITCHING))
    assert piped.returncode == 2
    assert _settings(live)["default"] == "parent"
    applied = _cli(live, "import", document, "--yes", stdin=subprocess.DEVNULL)
    assert applied.returncode == 0, applied.stderr
    assert "imported: revision" in applied.stdout
    assert _settings(live)["default"] == "link"


def _on_a_terminal(live: LiveServer, document: str, answer: bytes) -> subprocess.CompletedProcess[str]:
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer)  # typed ahead: the terminal keeps it until the question reads it
        return _cli(live, "import", document, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_import_that_changes_the_default_asks_on_a_terminal(live: LiveServer, tmp_path: Path) -> None:
    document = _document(tmp_path, SWITCHING)
    declined = _on_a_terminal(live, document, b"n\n")
    assert declined.returncode == 1, declined.stderr
    assert "Apply this import? [y/N]" in declined.stderr
    assert "not imported: nothing was changed" in declined.stderr
    assert _settings(live)["default"] == "parent"
    accepted = _on_a_terminal(live, document, b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "imported: revision" in accepted.stdout
    assert _settings(live)["default"] == "link"
    # Tasks and patterns only: nothing to ask.
    quiet = _cli(live, "import", _document(tmp_path, {**SWITCHING, "tasks": {}}), stdin=subprocess.DEVNULL)
    assert quiet.returncode == 0, quiet.stderr
    assert "Apply this import?" not in quiet.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_stale_if_match_on_a_no_op_import_is_refused_before_any_summary(
    live: LiveServer, tmp_path: Path
) -> None:
    stale = httpx.get(f"{live.url}/api/v1/snapshot", headers=auth(ADMIN_TOKEN)).headers["ETag"]
    put = httpx.put(f"{live.url}/api/v1/tasks/shop:mail", json={"mode": "link"}, headers=auth(ADMIN_TOKEN))
    assert put.is_success
    same = _document(tmp_path, {"version": 1, "tasks": {"shop:mail": "link"}})
    refused = _cli(live, "import", same, "--if-match", stale, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert refused.stdout == ""  # no "no change" summary first
    assert "412: the rule set is at ETag" in refused.stderr
    assert f"not --if-match {stale}" in refused.stderr
    current = httpx.get(f"{live.url}/api/v1/snapshot", headers=auth(ADMIN_TOKEN)).headers["ETag"]
    accepted = _cli(live, "import", same, "--if-match", current, stdin=subprocess.DEVNULL)
    assert accepted.returncode == 0, accepted.stderr
    assert "no change: the rule set already is that document" in accepted.stdout
    assert "unchanged: the rule set already is that document" in accepted.stdout


# ------------------------------------------------------------------ help


def _commands(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_and_option_explains_itself() -> None:
    missing: list[str] = []
    for path, parser in _commands(_parser(), "hatchet-trace-flags"):
        if parser.description is None and path.count(" ") == 1 and not parser._subparsers:
            missing.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}: no help")
    assert missing == []
