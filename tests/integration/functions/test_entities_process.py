"""Durable entities across a host killed with SIGKILL in the middle of a batch (the host as a process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.common import free_port
from tests.conftest import REPO
from tests.integration.functions.conftest import ENTITIES
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


class Proc:
    """``python -m localcloud.functions`` on the entities app, and HTTP against it."""

    def __init__(self, tmp_path: Path, port: int, env: dict[str, str]) -> None:
        self.tmp_path, self.port = tmp_path, port
        argv = [sys.executable, "-m", "localcloud.functions", "--app", str(ENTITIES), "--port", str(port)]
        argv += ["--db", str(tmp_path / "hub.sqlite")]
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: self.call("GET", "/api/hello", key=None)[0] == 200, timeout=30, what="the host")

    def call(self, method: str, path: str, body: bytes | None = None, key: str | None = "system") -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.port}{path}"
        if key is not None:
            keys = json.loads((self.tmp_path / "keys.json").read_text())
            url += ("&" if "?" in url else "?") + f"code={keys[key]}"
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())
        except OSError:  # not listening yet
            return 0, None

    def state(self) -> Any:
        return self.call("GET", "/runtime/webhooks/durabletask/entities/tally/crash")[1]

    def kill(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode()


def test_sigkill_mid_batch_runs_the_batch_again_and_keeps_the_committed_ones(tmp_path: Path) -> None:
    log, port = tmp_path / "ops.log", free_port()
    lines = lambda: log.read_text().splitlines() if log.exists() else []  # noqa: E731
    host = Proc(tmp_path, port, {"DEMO_LOG": str(log), "TALLY_SLOW_SECONDS": "30"})
    try:
        # The public API's input is the body's JSON: a JSON string of JSON is what the Python SDK can read.
        assert host.call("POST", "/runtime/webhooks/durabletask/entities/tally/crash?op=add", b'"3"')[0] == 202
        wait_until(lambda: host.state() == 3, timeout=30, what="the committed add")
        start = host.call("POST", "/api/client/start/call_slow/slow-1", b'"crash"', key="function")
        assert start == (200, {"value": "slow-1"})
        wait_until(lambda: "tally crash slow start" in lines(), timeout=30, what="the slow operation to start")
    finally:
        host.kill(signal.SIGKILL)
    host = Proc(tmp_path, port, {"DEMO_LOG": str(log), "TALLY_SLOW_SECONDS": "0"})
    try:

        def output() -> Any:
            body = host.call("GET", "/runtime/webhooks/durabletask/instances/slow-1")[1] or {}
            return body.get("output") if body.get("runtimeStatus") == "Completed" else None

        wait_until(lambda: output() is not None, timeout=30, what="the orchestration to get its answer")
        assert output() == 4  # the committed add (3) kept, the killed batch applied once
        assert host.state() == 4
        assert lines().count("tally crash add") == 1  # a committed batch is not run again
        assert lines().count("tally crash slow start") == 2 and lines().count("tally crash slow done") == 1
    finally:
        assert host.kill(signal.SIGTERM) == 0
