"""``make demo`` keeps its task hub and ends by printing how to look at what it did: those commands, run as printed,
reopen the hub and show every recovery (the demo runs on its own fast clock, as `make demo` does, at twice its pace)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bench.common import free_port
from tests.conftest import REPO
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.e2e


def _env() -> dict[str, str]:
    """A shell that never heard of respot (the test process sets RESPOT_* for itself), with a wide terminal."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RESPOT_")}
    return clean | {"COLUMNS": "220"}


def _argv(line: str) -> list[str]:
    """The printed command with its program (``respot`` or the path of this venv's) as this interpreter."""
    words = shlex.split(line.strip().removesuffix("&"))
    assert Path(words[0]).name == "respot", line
    return [sys.executable, "-m", "orchestrator.cli", *words[1:]]


def test_the_demo_prints_commands_that_show_what_it_did(tmp_path: Path) -> None:
    hub, port = tmp_path / "demo", free_port()
    demo = subprocess.run(
        [sys.executable, "-m", "localcloud.demo", "--speed", "240", "--hub-dir", str(hub), "--inspect-port", str(port)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    commands = [line for line in demo.stdout.splitlines() if line.startswith("  ") and "respot " in line]
    serve, reads = commands[0], commands[1:]
    assert serve.split()[1] == "serve" and f"{hub}/taskhub.sqlite" in serve and (hub / "taskhub.sqlite").exists()
    assert {c.split()[1] for c in reads} == {"recoveries", "history"}
    host = subprocess.Popen(_argv(serve), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/api/health"), timeout=60, what="respot serve on the hub")
        outputs = {}
        for line in reads:
            run = subprocess.run(
                _argv(line), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60, check=False
            )
            assert run.returncode == 0 and "Traceback" not in run.stderr, (line, run.stdout, run.stderr)
            outputs[line] = run.stdout
    finally:
        host.terminate()
        host.wait(timeout=30)
    listed = next(out for line, out in outputs.items() if line.split()[1] == "recoveries" and "--json" not in line)
    for vm in ("web-1", "web-2", "web-3", "batch-2", "batch-3", "api-1", "api-2", "api-3"):
        assert vm in listed  # every evicted VM's recovery
    web = next(out for line, out in outputs.items() if " web-1 " in line)
    assert "recovered / evicted" in web and "ZonalAllocationFailed" in web  # the tries the recall refused
    api = next(out for line, out in outputs.items() if " api-1 " in line)
    assert "recovered / replaced" in api and "candidates" in api and "choice:" in api
    failed = next(out for line, out in outputs.items() if "--failed" in line)
    assert json.loads(failed) == []


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
