"""The CLI's client commands against a live server (same code path as the console script)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hatchet_trace_flags_server._cli import main

from tests.server.conftest import ADMIN_TOKEN, READ_TOKEN, LiveServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cli(live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_URL", live.url)
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_TOKEN", ADMIN_TOKEN)

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
    code, out, _ = cli("import", str(document), "--note", "restore")
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
    monkeypatch.setenv("HATCHET_TRACE_FLAGS_TOKEN", READ_TOKEN)
    code, _, err = cli("tasks", "set", "a:b", "link")
    assert code == 1
    assert "403" in err
    code, _, err = cli("tasks", "list", "--token", "wrong")
    assert code == 1
    assert "401" in err
    monkeypatch.delenv("HATCHET_TRACE_FLAGS_TOKEN")
    assert cli("tasks", "list")[0] == 2
    code, _, err = cli("tasks", "list", "--token", "x", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach" in err


def test_serve_rejects_bad_configuration(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--database-url", "mysql://x/y", "--data-dir", str(tmp_path)]) == 2
    assert "unsupported scheme" in capsys.readouterr().err
    assert main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 2
    assert "invalid settings" in capsys.readouterr().err


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
