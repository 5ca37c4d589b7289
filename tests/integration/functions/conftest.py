"""Local Functions hosts for the tests: the test app (tests/functions_app) on a fast clock, and the semantics app
(semantics_app) and the entities app (entities_app) on a stopped clock driven by a
:class:`~localcloud.stepper.Stepper`; each on a temporary task hub."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.stepper import Stepper

APP = Path(__file__).resolve().parents[2] / "functions_app" / "function_app.py"
SEMANTICS = Path(__file__).resolve().parent / "semantics_app"
ENTITIES = Path(__file__).resolve().parent / "entities_app" / "function_app.py"
SPEED = 2000.0  # two hours of durable timers in under four seconds
T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


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
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """``body`` is sent as JSON; ``raw`` as it is."""
        url = self.host.url + path
        if key is not None:
            url += ("&" if "?" in url else "?") + "code=" + getattr(self.host.keys, key)
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
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


class Stepped(Client):
    """The semantics app on a stopped clock: ``app(...)`` calls its durable-client functions, ``step`` drives time."""

    def __init__(self, host: FunctionsHost) -> None:
        super().__init__(host)
        self.step = Stepper(host.clock, {"functions": host})

    def app(self, op: str, body: Any = None, *, method: str = "POST") -> dict[str, Any]:
        """/api/client/<op>: what the app's DurableOrchestrationClient returned or raised."""
        status, _, answer = self.call(method, f"/api/client/{op}", body)
        assert status == 200, answer
        return dict(answer)

    def settled(self, instance_id: str) -> dict[str, Any]:
        """Let everything due now run, then the instance's status (with history)."""
        self.step.settle()
        return self.status(instance_id, showHistory="true", showHistoryOutput="true")


def stepped_host(tmp_path: Path, host_json: str = "host.json") -> FunctionsHost:
    return FunctionsHost(
        SEMANTICS / "function_app.py",
        port=0,
        clock=Clock(speed=0, start=T0),
        db_path=tmp_path / "hub.sqlite",
        host_json=SEMANTICS / host_json,
    )


@pytest.fixture
def stepped(tmp_path: Path) -> Iterator[Stepped]:
    with stepped_host(tmp_path) as running:
        yield Stepped(running)


def entities_host(db: Path) -> FunctionsHost:
    return FunctionsHost(ENTITIES, port=0, clock=Clock(speed=0, start=T0), db_path=db)


@pytest.fixture
def tally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stepped]:
    """The entities app on a stopped clock; its operations log to ``tmp_path / "ops.log"``."""
    monkeypatch.setenv("DEMO_LOG", str(tmp_path / "ops.log"))
    with entities_host(tmp_path / "hub.sqlite") as running:
        yield Stepped(running)
