"""Installing as the README says: the wheel `make dist` builds installs offline into a fresh virtual
environment and works from there (not from this checkout), and the README's token line runs where only
`python3` exists (plain Debian has no `python`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.timeout(180)

_PROBE = """
import json, pathlib, sys
import hatchet_trace_flags
import hatchet_trace_flags_server
from hatchet_trace_flags_server.app.factory import create_app
from hatchet_trace_flags_server.dashboard.rendering import STATIC_DIR, TEMPLATES_DIR
print(json.dumps({
    "library": hatchet_trace_flags.__file__,
    "service": hatchet_trace_flags_server.__file__,
    "templates": sorted(p.name for p in pathlib.Path(TEMPLATES_DIR).iterdir()),
    "static": sorted(p.name for p in pathlib.Path(STATIC_DIR).iterdir()),
    "migrations": sorted(p.name for p in (pathlib.Path(hatchet_trace_flags_server.__file__).parent
                                          / "store" / "migrations" / "versions").glob("0*.py")),
}))
"""


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as `make dist` builds it (python -m build, with this environment's hatchling)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("hatchet_trace_flags-*-py3-none-any.whl")
    return wheel


def test_the_wheel_installs_offline_into_a_fresh_venv_and_works_from_there(
    built_wheel: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--no-deps",
            "-q",
            str(built_wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # The dependencies come from this environment (there is no index to download them from); the
    # project itself only from the wheel: a path entry does not run this environment's editable hook.
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = subprocess.run(
        [str(python), "-c", _PROBE], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["library"].startswith(str(site)), found
    assert found["service"].startswith(str(site)), found
    assert {"base.html", "dashboard.html", "insights.html"} <= set(found["templates"])
    assert {"dashboard.css", "dashboard.js", "htmx.min.js"} <= set(found["static"])
    assert found["migrations"][0] == "0001_initial.py"
    script = subprocess.run(
        [str(fresh / "bin" / "hatchet-trace-flags"), "--help"], capture_output=True, text=True, check=False
    )
    assert script.returncode == 0, script.stderr
    assert "serve" in script.stdout
    # What the wheel holds, nothing of the checkout's tests or tooling.
    names = zipfile.ZipFile(built_wheel).namelist()
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "scripts/"))]


def test_the_readme_token_line_needs_only_python3(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("new_token()")]
    assert re.search(r"\bpython\b(?!3)", line.split("#")[0]) is None, line
    only_python3 = tmp_path / "bin"
    only_python3.mkdir()
    (only_python3 / "python3").symlink_to(sys.executable)
    result = subprocess.run(
        ["/bin/bash", "-c", f"{line}\nnew_token"],
        env={**{key: value for key, value in os.environ.items() if key != "PATH"}, "PATH": str(only_python3)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) >= 24, token
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token


def test_make_image_builds_the_services_dockerfile_tagged_with_the_version() -> None:
    # No container engine runs here: what `make image` would run, and its refusal without an engine.
    planned = subprocess.run(
        ["make", "-n", "image", "CONTAINER=podman"], cwd=REPO, capture_output=True, text=True, check=True
    )
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert version is not None
    assert f"podman build -f server/Dockerfile -t hatchet-trace-flags:{version.group(1)} ." in planned.stdout
    assert (REPO / "server" / "Dockerfile").is_file()
    refused = subprocess.run(["make", "image", "CONTAINER="], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "make image needs docker or podman" in refused.stderr
