"""Shared fixtures: a running ARM emulator per test, the real SDK clients pointed at it, a webhook receiver, and
``cloud`` for azure_live tests (tests/live.py)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from localcloud.arm import ArmEmulator
from localcloud.arm.scenario import DEFAULT_SUBSCRIPTION
from localcloud.httpserver import LocalHTTPServer, Request, Response
from tests.live import cloud, live_target, pytest_collection_modifyitems, pytest_report_header

# azure_live tests (tests/live.py): the emulator by default, real Azure with RESPOT_AZURE_LIVE=1.
__all__ = ["cloud", "live_target", "pytest_collection_modifyitems", "pytest_report_header"]

# The product validates its settings when function_app is imported: give tests a valid, local configuration.
os.environ.setdefault("RESPOT_SUBSCRIPTIONS", DEFAULT_SUBSCRIPTION)
os.environ.setdefault("RESPOT_CREDENTIAL", "localcloud")

# `make test` (and CI) draws the same examples every run, so a property found failing fails every time; set
# HYPOTHESIS_PROFILE=explore (`make fuzz`) to search new examples.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# Simulated seconds per real second in integration tests: a 40 s VM create takes ~70 ms.
FAST = 600.0


@pytest.fixture
def arm() -> Iterator[ArmEmulator]:
    with ArmEmulator(speed=FAST, seed=1) as emulator:
        yield emulator


@pytest.fixture
def compute(arm: ArmEmulator) -> Any:
    # azure-core's own retry off, so a test sees exactly what the emulator answered.
    return arm.compute_client(retry_total=0)


class Webhook:
    """A receiver for alerts and events: records every POST body, answers 200 (or what ``status`` says)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self._cond = threading.Condition()
        self.server = LocalHTTPServer("127.0.0.1", 0, self._handle)

    def _handle(self, req: Request) -> Response:
        with self._cond:
            self.bodies.append(json.loads(req.body))
            self.headers.append(dict(req.headers))
            self._cond.notify_all()
        return Response.empty(self.status)

    @property
    def url(self) -> str:
        return f"{self.server.url}/api/alerts"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.bodies) >= count, timeout):
                raise AssertionError(f"expected {count} deliveries, got {len(self.bodies)}")
            return list(self.bodies)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.server.start()
    yield hook
    hook.server.stop()
