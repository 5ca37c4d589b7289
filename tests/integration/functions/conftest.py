"""A local Functions host running the test app (tests/functions_app), on a fast clock and a temporary task hub."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost

APP = Path(__file__).resolve().parents[2] / "functions_app" / "function_app.py"
SPEED = 2000.0  # two hours of durable timers in under four seconds


class Client:
    """HTTP against the host, with its keys, and waits on orchestration status."""

    def __init__(self, host: FunctionsHost) -> None:
        self.host = host

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "function",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        url = self.host.url + path
        if key is not None:
            url += ("&" if "?" in url else "?") + "code=" + getattr(self.host.keys, key)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), _decode(err.read())

    def start(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> str:
        path = f"/api/orchestrators/{orchestrator}" + (f"/{instance_id}" if instance_id else "")
        status, _, body = self.call("POST", path, payload)
        assert status == 202, body
        return str(body["id"])

    def status(self, instance_id: str, **flags: str) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in flags.items())
        _, _, body = self.call("GET", f"/runtime/webhooks/durabletask/instances/{instance_id}?{query}", key="system")
        return dict(body)

    def wait(
        self, instance_id: str, timeout: float = 30.0, until: tuple[str, ...] = ("Completed", "Failed", "Terminated")
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            body = self.status(instance_id, showHistory="true", showHistoryOutput="true")
            if body.get("runtimeStatus") in until:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} still {body.get('runtimeStatus')} after {timeout}s: {body}")
            pause.wait(0.02)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionsHost]:
    with FunctionsHost(APP, port=0, clock=Clock(speed=SPEED), db_path=tmp_path / "hub.sqlite") as running:
        yield running


@pytest.fixture
def client(host: FunctionsHost) -> Client:
    return Client(host)
