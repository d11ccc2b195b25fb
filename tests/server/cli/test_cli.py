"""The CLI's client commands against a live server (same code path as the console script)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server.cli import client as cli_client
from hatchet_trace_flags_server.cli.main import main

from tests.support.server.insight_reports import CHILD, SPAWNER, fan_out_report
from tests.support.server.live import ADMIN_TOKEN, READ_TOKEN, LiveServer, auth

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cli(live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_URL", live.url)
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("HATCHET_TRACE_FLAGS_TOKEN", raising=False)

    def run(*arguments: str) -> tuple[int, str, str]:
        code = main(list(arguments))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.parametrize("backend", ["sqlite"])
def test_set_list_clear_tasks_and_patterns(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("tasks", "set", "fanout:a", "link", "--note", "try it")[0] == 0
    assert cli("patterns", "set", "fanout:*", "parent")[0] == 0
    code, out, _ = cli("tasks", "list")
    assert code == 0
    assert "fanout:a" in out
    assert "exact" in out
    code, out, _ = cli("tasks", "list", "--json", "--mode", "link")
    assert [item["action_id"] for item in json.loads(out)["items"]] == ["fanout:a"]
    code, out, _ = cli("patterns", "list")
    assert "fanout:*" in out
    code, out, _ = cli("tasks", "clear", "fanout:a")
    assert code == 0
    assert "(not configured)" in out
    assert "effective parent (pattern)" in out
    code, _, err = cli("tasks", "clear", "fanout:a")
    assert code == 1
    assert "404" in err
    code, out, _ = cli("audit")
    assert out.count("alice") == 3
    assert "cli" in out


@pytest.mark.parametrize("backend", ["sqlite"])
def test_settings_export_import(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("settings", "set", "--links-enabled", "false")
    assert code == 0
    assert "links_enabled: false" in out
    assert cli("settings", "set")[0] == 2
    document = tmp_path / "rules.json"
    document.write_text(json.dumps({"version": 1, "tasks": {"x:y": "link"}}))
    code, out, _ = cli("import", str(document), "--note", "restore", "--yes")
    assert code == 0
    assert "imported" in out
    code, out, _ = cli("export")
    assert json.loads(out) == {
        "default": "parent",
        "links_enabled": True,
        "patterns": {},
        "tasks": {"x:y": "link"},
        "version": 1,
    }
    exported = tmp_path / "flagd.json"
    assert cli("export", "--format", "flagd", "--output", str(exported))[0] == 0
    assert "flags" in json.loads(exported.read_text())
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "tasks": {"bad id": "link"}}')
    code, _, err = cli("import", str(broken))
    assert code == 1
    assert "tasks['bad id']" in err
    code, _, err = cli("import", str(tmp_path / "missing.json"))
    assert code == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_errors_are_short_and_exit_nonzero(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", READ_TOKEN)
    code, _, err = cli("tasks", "set", "a:b", "link")
    assert code == 1
    assert "403" in err
    assert "HATCHET_TRACE_FLAGS_CLI_TOKEN is not an admin token" in err
    code, _, err = cli("tasks", "list", "--token", "wrong")
    assert code == 1
    assert "401" in err
    monkeypatch.delenv("HATCHET_TRACE_FLAGS_CLI_TOKEN")
    code, _, err = cli("tasks", "list")
    assert code == 2
    assert "set HATCHET_TRACE_FLAGS_CLI_TOKEN" in err
    code, _, err = cli("tasks", "list", "--token", "x", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach" in err


def test_serve_rejects_bad_configuration(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--database-url", "mysql://x/y", "--data-dir", str(tmp_path)]) == 2
    assert "unsupported scheme" in capsys.readouterr().err
    assert main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_serve_refuses_short_tokens_at_start_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_ADMIN_TOKENS", "alice:s3cret")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "token for 'alice' has 6 characters; tokens need at least 24" in error
    assert "s3cret" not in error
    assert "secrets.token_urlsafe" in error
    assert not (tmp_path / "flags.db").exists()  # refused before touching the database


@pytest.mark.parametrize("backend", ["sqlite"])
def test_tasks_forget(cli, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    seen = httpx.post(
        f"{live.url}/api/v1/tasks/seen",
        json={"worker": "w", "action_ids": ["a:one", "a:two"]},
        headers={"Authorization": f"Bearer {READ_TOKEN}"},
    )
    assert seen.status_code == 200
    code, out, _ = cli("tasks", "forget", "a:one", "never:seen")
    assert (code, out.strip()) == (0, "forgot 1 of 2 discovered tasks")
    code, out, _ = cli("tasks", "list", "--json")
    assert [item["action_id"] for item in json.loads(out)["items"]] == ["a:two"]
    code, _, err = cli("tasks", "forget", "has space")
    assert code == 1
    assert "422" in err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_cli_has_its_own_token_variable(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # A shell with a worker's environment: HATCHET_TRACE_FLAGS_TOKEN holds the worker's read token.
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_TOKEN", READ_TOKEN)
    code, out, err = cli("tasks", "set", "a:b", "link")
    assert code == 0, err
    assert "a:b: link" in out
    assert err == ""

    # The old variable alone still works, with a note saying what to use instead.
    monkeypatch.delenv("HATCHET_TRACE_FLAGS_CLI_TOKEN")
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_TOKEN", ADMIN_TOKEN)
    code, _, err = cli("tasks", "clear", "a:b")
    assert code == 0
    assert "HATCHET_TRACE_FLAGS_TOKEN is deprecated" in err
    assert "set HATCHET_TRACE_FLAGS_CLI_TOKEN instead" in err
    # ... and a read token there gets a 403 that says where the token came from.
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_TOKEN", READ_TOKEN)
    code, _, err = cli("tasks", "set", "a:b", "link")
    assert code == 1
    assert "token from HATCHET_TRACE_FLAGS_TOKEN is not an admin token" in err


def test_help_names_the_variables_and_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    top = capsys.readouterr().out
    for variable in ("HATCHET_TRACE_FLAGS_URL", "HATCHET_TRACE_FLAGS_CLI_TOKEN", "HATCHET_TRACE_FLAGS_TOKEN"):
        assert variable in top
    assert "deprecated" in top

    with pytest.raises(SystemExit):
        main(["settings", "--help"])
    settings = capsys.readouterr().out
    assert "print the default mode and the kill switch" in settings
    assert "change the default mode and/or the kill switch" in settings


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_partial_list_says_how_to_see_the_rest(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for number in range(5):
        assert cli("tasks", "set", f"w:t{number}", "link")[0] == 0
    code, out, _ = cli("tasks", "list", "--limit", "2")
    assert code == 0
    assert out.rstrip().endswith("(2 of 5: --offset 2 for the next page, --all for every one)")
    _, out, _ = cli("tasks", "list", "--limit", "2", "--offset", "4")
    assert out.rstrip().endswith("(1 of 5, from --offset 4)")

    # --all walks every page of the API's largest size (made small here to need three of them).
    monkeypatch.setattr(cli_client, "MAX_PAGE", 2)
    code, out, _ = cli("tasks", "list", "--all")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == [f"w:t{n}" for n in range(5)]
    assert out.rstrip().endswith("(5 of 5)")
    _, out, _ = cli("tasks", "list", "--all", "--json")
    assert len(json.loads(out)["items"]) == 5


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_closed_pipe_ends_the_listing_quietly(live: LiveServer, tmp_path: Path) -> None:
    """`tasks list | head`: far more output than a pipe buffers, so the CLI does write into a closed pipe."""
    document = {"version": 1, "tasks": {f"fanout-worker:task-{n:05d}": "link" for n in range(3000)}}
    assert httpx.post(f"{live.url}/api/v1/import", json=document, headers=auth(ADMIN_TOKEN)).is_success
    environment = {
        **os.environ,
        "HATCHET_TRACE_FLAGS_URL": live.url,
        "HATCHET_TRACE_FLAGS_CLI_TOKEN": ADMIN_TOKEN,
    }
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m hatchet_trace_flags_server tasks list --all | head -n 2",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[0].startswith("ACTION_ID")
    assert result.stderr == ""
    assert result.returncode == 0


def _write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def _export(cli) -> dict[str, object]:  # type: ignore[no-untyped-def]
    code, out, _ = cli("export")
    assert code == 0
    document: dict[str, object] = json.loads(out)
    return document


@pytest.mark.parametrize("backend", ["sqlite"])
def test_import_shows_the_difference_and_dry_run_changes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("tasks", "set", "shop:checkout", "parent")[0] == 0
    assert cli("tasks", "set", "shop:mail", "link")[0] == 0
    assert cli("patterns", "set", "fanout:*", "link")[0] == 0
    before = _export(cli)
    incoming = _write(
        tmp_path / "rules.json",
        {
            "version": 1,
            "default": "link",
            "links_enabled": False,
            "tasks": {"shop:checkout": "link", "shop:new": "parent"},
            "patterns": {"fanout:*": "link"},
        },
    )

    code, out, err = cli("import", incoming, "--dry-run")
    assert code == 0
    assert "import of a rules document, against revision 3:" in out
    assert "default: parent -> link" in out
    assert "links_enabled: true -> false" in out
    assert "tasks: 1 added, 1 removed, 1 changed, 0 unchanged" in out
    assert "+ shop:new: parent" in out
    assert "- shop:mail: link" in out
    assert "~ shop:checkout: parent -> link" in out
    assert "patterns: 0 added, 0 removed, 0 changed, 1 unchanged" in out
    assert "dry run: nothing was changed" in out
    assert "warning: this import turns the kill switch ON" in err
    assert "warning: this import changes the default mode from parent to link" in err
    assert _export(cli) == before

    code, out, err = cli("import", incoming, "--dry-run", "--json")
    plan = json.loads(out)["plan"]
    assert plan["tasks"]["changed"] == {"shop:checkout": {"from": "parent", "to": "link"}}
    assert len(plan["warnings"]) == 2

    code, out, err = cli("import", incoming, "--yes")
    assert code == 0
    assert "imported: revision 4" in out
    assert "kill switch ON" in err
    assert _export(cli)["tasks"] == {"shop:checkout": "link", "shop:new": "parent"}

    code, out, err = cli("import", incoming)
    assert "no change: the rule set already is that document" in out
    assert err == ""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_flagd_export_imports_back_to_the_same_rules(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    original = {
        "version": 1,
        "default": "link",
        "links_enabled": True,
        "tasks": {"shop:checkout": "parent", "fanout-worker:process-item": "link", "a:b": "link"},
        "patterns": {"fanout-worker:*": "link", "*:send-email": "parent", "fan*": "parent"},
    }
    assert cli("import", _write(tmp_path / "original.json", original), "--yes")[0] == 0
    flagd = tmp_path / "flags.flagd.json"
    assert cli("export", "--format", "flagd", "--output", str(flagd))[0] == 0
    assert cli("import", _write(tmp_path / "empty.json", {"version": 1}), "--yes")[0] == 0

    code, out, err = cli("import", str(flagd), "--yes")
    assert code == 0, err
    assert "flagd document (flag hatchet.use-links-instead-of-parent), read back as rules" in out
    assert "tasks: 3 added" in out
    assert _export(cli) == {**original, "version": 1}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_flagd_document_it_cannot_read_back_is_refused_clearly(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("tasks", "set", "keep:me", "link")[0] == 0
    before = _export(cli)
    # Hand-edited: the short pattern first, so it would shadow the longer one (not what the rules decide).
    edited = {
        "flags": {
            "hatchet.use-links-instead-of-parent": {
                "state": "ENABLED",
                "variants": {"link": True, "parent": False},
                "defaultVariant": "parent",
                "targeting": {
                    "if": [
                        {"starts_with": [{"var": "targetingKey"}, "fan"]},
                        "link",
                        {"starts_with": [{"var": "targetingKey"}, "fanout-worker:"]},
                        "parent",
                        "parent",
                    ]
                },
            }
        }
    }
    code, _, err = cli("import", _write(tmp_path / "edited.json", edited))
    assert code == 1
    assert "a flagd document, but not one this tool can import" in err
    assert "not in the form to_flagd() writes" in err
    assert "nothing was changed" in err
    assert "unknown key" not in err
    assert _export(cli) == before


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_import_against_a_stale_etag_changes_nothing(cli, live: LiveServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stale = httpx.get(f"{live.url}/api/v1/snapshot", headers=auth(ADMIN_TOKEN)).headers["ETag"]
    assert cli("tasks", "set", "someone:else", "link")[0] == 0
    document = _write(tmp_path / "rules.json", {"version": 1, "tasks": {"mine:only": "link"}})
    code, _, err = cli("import", document, "--if-match", stale)
    assert code == 1
    assert "412: the rule set is at ETag" in err
    assert "nothing was changed" in err
    assert _export(cli)["tasks"] == {"someone:else": "link"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_tasks_insights_lists_and_explains_the_recommendation(cli, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    report = httpx.post(
        f"{live.url}/api/v1/tasks/insights", json=fan_out_report("w"), headers=auth(READ_TOKEN)
    )
    assert report.status_code == 200, report.text
    code, out, _ = cli("tasks", "insights")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ACTION_ID", "MODE", "CHILDREN/RUN"]
    child_row = next(line for line in lines if line.startswith(CHILD))
    assert "4.1 s -> 60 ms" in child_row  # 60 ms + 3.99 s delay (p95) + 10 ms run, vs 60 ms
    assert child_row.split()[-1] == "link"
    assert f"{CHILD}: link recommended: \N{MULTIPLICATION SIGN}200 children per run" in out

    code, out, _ = cli("tasks", "insights", CHILD)
    assert code == 0
    assert f"spawned by: {SPAWNER} (600)" in out
    assert f"apply: hatchet-trace-flags tasks set {CHILD} link" in out
    code, out, _ = cli("tasks", "insights", "--recommended", "--json")
    assert [item["action_id"] for item in json.loads(out)["items"]] == [CHILD]
    code, _, err = cli("tasks", "insights", "never:measured")
    assert code == 1
    assert "404" in err


# ---------------------------------------------------------------- issue 27: names and odd answers


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_name_that_looks_like_another_route_is_set_on_its_own_task(cli, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """The reproduction from issue 27: this acted on CHILD's insight dismissal, crashed with
    KeyError: 'mode' and left the named task unset."""
    answer = httpx.post(
        f"{live.url}/api/v1/tasks/insights", json=fan_out_report("w"), headers=auth(READ_TOKEN)
    )
    assert answer.status_code == 200, answer.text
    for name in (f"{CHILD}/insights/dismissal", f"{CHILD}/insights", "wf:a?b#c%2F", "wf:..", ".."):
        code, out, err = cli("tasks", "set", name, "link")
        assert (code, err) == (0, ""), (name, err)
        assert name in out
        code, out, _ = cli("tasks", "list", "--json", "--configured")
        assert name in [item["action_id"] for item in json.loads(out)["items"]]
        code, out, err = cli("tasks", "clear", name)
        assert (code, err) == (0, ""), (name, err)
    code, out, _ = cli("tasks", "insights", CHILD, "--json")
    assert code == 0
    assert json.loads(out)["recommendation"]["dismissed"] is False


@pytest.fixture
def odd_service() -> Iterator[list[bytes]]:
    """A real HTTP server that answers every request 200 with the next of the bodies put in the list."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = bodies.pop(0) if bodies else b"{}"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bodies.append(f"http://127.0.0.1:{server.server_address[1]}".encode())  # read back by the test
    try:
        yield bodies
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.mark.parametrize(
    ("arguments", "answer"),
    [
        (("tasks", "set", "wf:a", "link"), b'{"action_id": "wf:a"}'),
        (("tasks", "list"), b'{"items": [{"action_id": "wf:a"}], "total": 1}'),
        (("tasks", "insights", "wf:a"), b"[1, 2]"),
        (("settings", "show"), b"<html>a proxy's page</html>"),
        (("patterns", "list"), b'{"items": null}'),
    ],
    ids=["missing-key", "short-item", "a-list", "not-json", "null"],
)
def test_an_unexpected_answer_is_one_clear_error_not_a_traceback(
    odd_service: list[bytes],
    arguments: tuple[str, ...],
    answer: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = odd_service.pop().decode()
    odd_service.append(answer)
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_CLI_TOKEN", ADMIN_TOKEN)
    code = main([*arguments, "--url", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"hatchet-trace-flags: unexpected answer from {url}"), err
    assert "Traceback" not in err


def test_tasks_list_marks_a_look_alike_name(cli, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    real, fake = "fanout-worker:process-item", "fanout-w\u043erker:process-item"  # Cyrillic o
    with httpx.Client(base_url=live.url, headers=auth(READ_TOKEN)) as worker:
        assert (
            worker.post("/api/v1/tasks/seen", json={"worker": "w", "action_ids": [real, fake]}).status_code
            == 200
        )
    code, out, _ = cli("tasks", "list")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("fanout-")}
    assert "[look-alike]" in rows[fake]
    assert "[look-alike]" not in rows[real]
    explained = "[look-alike] 'fanout-w\\u043erker:process-item' renders like fanout-worker:process-item"
    assert explained in out
    assert "mixes scripts (Cyrillic, Latin)" in out
