"""A stepped local cloud that lives for a whole test module, and what the soak properties read from it.

The e2e ``stepped`` fixture builds a stack per test; the soak properties send thousands of requests through one
host, so they share one per module (:func:`module_stack`). The clock is stopped: nothing timed happens unless a
test steps it, so between two requests the hub and the emulator change only because of the request itself (after
:meth:`World.settle`). That is what lets a property prove, request by request, that nothing started.

- :class:`World` reads orchestrations two ways: the task hub's tables (cheap, per request) and the durable HTTP
  management API (paged, what an operator sees); ARM calls come from the emulator's request log.
- :class:`LogWatch` collects every log record that carries a traceback or is an error, from the host and the app.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.common import product_env
from localcloud.arm import ArmEmulator
from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.stepper import Stepper
from tests.conftest import REPO
from tests.e2e.conftest import START, Stack, reset_product_caches


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    def has_traceback(self) -> bool:
        text = self.body.decode("utf-8", "replace")
        return "Traceback (most recent call last)" in text or ('File "' in text and ", line " in text)


class LogWatch(logging.Handler):
    """Every record with exception info, or at ERROR and above, from any logger while installed."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info or record.levelno >= logging.ERROR or "Traceback (most recent call last)" in text:
            with self._lock2:
                self.records.append(record)

    def count(self) -> int:
        with self._lock2:
            return len(self.records)

    def describe(self, since: int = 0) -> list[str]:
        with self._lock2:
            return [f"{r.name}: {r.getMessage()[:300]}" for r in self.records[since:]]


@dataclass
class World:
    stack: Stack
    watch: LogWatch
    _local: threading.local = field(default_factory=threading.local)

    @property
    def host(self) -> FunctionsHost:
        return self.stack.host

    @property
    def arm(self) -> ArmEmulator:
        return self.stack.arm

    def settle(self) -> None:
        """Let every part finish what it can do at the stopped clock's now."""
        assert self.stack.stepper is not None
        self.stack.stepper.settle()

    # --- counts -------------------------------------------------------------------------------------------

    def hub_state(self) -> tuple[Any, ...]:
        """Everything a request could change in the task hub: row counts of instances, their histories, inboxes
        (a raised event lands there), queued activities and entities, and every instance's status."""
        with self.host.store.tx() as db:
            rows = tuple(
                db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - our own table names
                for table in ("instances", "history", "inbox", "activities", "entities")
            )
            statuses = tuple(tuple(r) for r in db.execute("SELECT id, status FROM instances ORDER BY id").fetchall())
        return rows, statuses

    def arm_calls(self) -> int:
        """Requests the emulator served outside its control API (every one respot made)."""
        return sum(self.arm.services.requests.snapshot()["counts"].values())

    def arm_entries(self) -> list[dict[str, Any]]:
        return list(self.arm.services.requests.snapshot()["entries"])

    def instances(self) -> list[dict[str, Any]]:
        """Every orchestration instance, through the durable HTTP management API (all pages)."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            url = f"{self.host.url}/runtime/webhooks/durabletask/instances?code={self.host.keys.system}&top=500&showInput=false"
            req = urllib.request.Request(url, headers={"x-ms-continuation-token": token} if token else {})
            with urllib.request.urlopen(req, timeout=60) as resp:
                found += json.loads(resp.read())
                token = resp.headers.get("x-ms-continuation-token") or ""
            if not token:
                return found

    # --- HTTP ---------------------------------------------------------------------------------------------

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """One request on this thread's keep-alive connection to the host (reconnecting once if it was closed)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
                return Answer(resp.status, data, {k.lower(): v for k, v in resp.getheaders()})
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            parts = urlsplit(self.host.url)
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
            self._local.conn = conn
        return conn


@contextmanager
def module_stack(tmp: Path, **env: str) -> Iterator[World]:
    """The e2e stepped stack (tests/e2e/conftest.py), for a whole module, with a :class:`LogWatch` on the root
    logger. The product's settings come from the environment, as the e2e stacks set them."""
    watch = LogWatch()
    root = logging.getLogger()
    with pytest.MonkeyPatch.context() as mp:
        clock = Clock(speed=0, start=START)
        arm = ArmEmulator(clock=clock, seed=3).start()
        for key, value in product_env(arm, **env).items():
            mp.setenv(key, value)
        reset_product_caches()
        host = FunctionsHost(REPO / "function_app.py", port=0, clock=clock, db_path=tmp / "hub.sqlite").start()
        stack = Stack(arm, host, Stepper(clock, {"functions": host, "arm": arm}, settle_timeout=120))
        root.addHandler(watch)
        try:
            yield World(stack, watch)
        finally:
            root.removeHandler(watch)
            host.stop()
            arm.stop()
            reset_product_caches()
