"""The whole thing on localcloud: the ARM emulator and respot's function_app on the local Functions host,
sharing one fast clock; the emulator's action group posts eviction alerts to /api/alerts."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.common import product_env
from localcloud.arm import ArmEmulator
from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from localcloud.stepper import Stepper
from tests.conftest import REPO
from tests.integration.helpers import control, vm_body

SPEED = 0.0  # stepped: the stepper moves the clock from one due moment to the next (see Stack)
# A stepped world starts at the same moment every run: timer schedules (the sweep every 5 minutes) fall at the same
# simulated times, so what a test sees cannot depend on the minute it ran in.
START = datetime(2026, 12, 1, 12, 2, 10, tzinfo=UTC)
FAST = 1200.0  # a simulated hour in three real seconds, for the tests that want time to flow
SIZE = "Standard_D2s_v5"


def reset_product_caches() -> None:
    from orchestrator.adapters.activitylog import activity_log_for
    from orchestrator.adapters.compute import compute_for
    from orchestrator.app import compose
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    compute_for.cache_clear()
    activity_log_for.cache_clear()
    for cached in (compose.fleets, compose.market, compose.scale_sets, compose.secrets):
        cached.cache_clear()


class Stack:
    """The emulator and the host on one clock. At speed 0 a :class:`Stepper` drives it: every wait steps the
    clock from one due moment to the next, so what a test sees cannot depend on the machine's speed."""

    def __init__(self, arm: ArmEmulator, host: FunctionsHost, stepper: Stepper | None = None) -> None:
        self.arm, self.host, self.stepper = arm, host, stepper
        self.compute = arm.compute_client(retry_total=0)

    @property
    def alerts_url(self) -> str:
        return f"{self.host.url}/api/alerts?code={self.host.keys.function}"

    def alert_group(self, kind: str = "activityLogAlert", delay: float = 60) -> None:
        control(
            self.arm, "/action-groups", {"name": kind, "url": self.alerts_url, "kind": kind, "delay_seconds": delay}
        )

    def fleet(self, names: list[str], region: str = "eastus", zone: str = "1") -> list[str]:
        body = vm_body(self.arm, region=region, zones=[zone])
        create = self.compute.virtual_machines.begin_create_or_update
        if self.stepper is not None:  # the clock moves only when the stepper moves it: no poller may wait
            # polling=False: an SDK poller polls (and reads the VM at its end) from a thread of its own, which under
            # load can land after a test has cleared the request log
            for n in names:
                create(self.arm.resource_group, n, body, polling=False)
            self.wait(lambda: all(self.power(n) == "PowerState/running" for n in names), what="the fleet")
            return [str(self.compute.virtual_machines.get(self.arm.resource_group, n).id) for n in names]
        pollers = [create(self.arm.resource_group, n, body) for n in names]
        return [str(p.result().id) for p in pollers]

    def capacity(self, available: int, region: str = "eastus", zone: str = "1") -> list[str]:
        return list(
            control(self.arm, "/capacity", {"region": region, "zone": zone, "size": SIZE, "available": available})[
                "evicting"
            ]
        )

    def post_alert(self, body: Any) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.alerts_url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def instances(self) -> list[dict[str, Any]]:
        url = f"{self.host.url}/runtime/webhooks/durabletask/instances?code={self.host.keys.system}"
        with urllib.request.urlopen(url) as resp:
            return list(json.loads(resp.read()))

    def instance(self, instance_id: str, history: bool = False) -> dict[str, Any]:
        url = f"{self.host.url}/runtime/webhooks/durabletask/instances/{instance_id}?code={self.host.keys.system}&showHistory={str(history).lower()}"
        try:
            with urllib.request.urlopen(url) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as err:
            return dict(json.loads(err.read())) if err.code != 404 else {}

    # --- recoveries: respot-<vm hash>-<n>, its strategy <id>:restart ---------------------------------------

    @staticmethod
    def recovery(vm_id: str, seq: int = 1) -> str:
        from orchestrator.domain.identity import recovery_id
        from orchestrator.domain.scope import parse_vm_id

        return recovery_id(parse_vm_id(vm_id), seq)

    def recoveries(self, vm_id: str) -> list[dict[str, Any]]:
        prefix = self.recovery(vm_id)[:-4]
        return sorted(
            (i for i in self.instances() if i["instanceId"].startswith(prefix) and ":" not in i["instanceId"]),
            key=lambda i: str(i["instanceId"]),
        )

    def phase(self, vm_id: str, seq: int = 1) -> str | None:
        """The strategy's phase while it runs (waiting, warming...), else the recovery's own."""
        strategy = self.instance(self.recovery(vm_id, seq) + ":restart")
        if strategy.get("runtimeStatus") in ("Running", "Pending"):
            return (strategy.get("customStatus") or {}).get("phase")
        return (self.instance(self.recovery(vm_id, seq)).get("customStatus") or {}).get("phase")

    def strategy_status(self, vm_id: str, seq: int = 1) -> dict[str, Any]:
        return dict(self.instance(self.recovery(vm_id, seq) + ":restart").get("customStatus") or {})

    def finished(self, vm_id: str, seq: int = 1, timeout: float = 60) -> dict[str, Any]:
        """Wait for the recovery to complete (it settles for a while after concluding); its output."""
        iid = self.recovery(vm_id, seq)
        self.wait(lambda: self.instance(iid).get("runtimeStatus") == "Completed", timeout, f"recovery {iid}")
        return dict(self.instance(iid)["output"])

    def concluded(self, vm_id: str, seq: int = 1, timeout: float = 60) -> dict[str, Any]:
        """Wait until the recovery concluded (settling or done); its custom status."""
        iid = self.recovery(vm_id, seq)
        self.wait(
            lambda: (self.instance(iid).get("customStatus") or {}).get("concludedAt") is not None, timeout, f"{iid}"
        )
        return dict(self.instance(iid).get("customStatus") or {})

    def power(self, name: str) -> str:
        statuses = self.compute.virtual_machines.instance_view(self.arm.resource_group, name).statuses
        return next((s.code for s in statuses or [] if s.code.startswith("PowerState/")), "")

    def wait(self, predicate: Any, timeout: float = 60, what: str = "condition", within: float = 3 * 86400) -> None:
        """Until ``predicate()``: stepping the clock (at speed 0, up to ``within`` simulated seconds), or polling
        in real time for ``timeout`` seconds."""
        if self.stepper is not None:
            self.stepper.run_until(predicate, max_seconds=within, what=what)
            return
        deadline, pause = time.monotonic() + timeout, threading.Event()
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; instances: {[(i['instanceId'], i['runtimeStatus'], i.get('customStatus')) for i in self.instances()]}"
                )
            pause.wait(0.05)

    def later(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (through every due moment, when stepped)."""
        if self.stepper is not None:
            self.stepper.advance(seconds)
        else:
            control(self.arm, "/clock", {"advance": seconds})

    def requests(self, operation: str) -> int:
        counts = control(self.arm, "/requests")["counts"]
        return sum(n for key, n in counts.items() if key.startswith(operation + " "))

    def successful_starts(self) -> int:
        records = control(self.arm, "/activity-log")["value"]
        return sum(1 for r in records if r["operation_name"].endswith("/start/action") and r["status"] == "Succeeded")


@pytest.fixture
def stack_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[tuple[ArmEmulator, FunctionsHost]] = []

    def make(speed: float = SPEED, **env: str) -> Stack:
        clock = Clock(speed=speed, start=START if speed == 0 else None)
        arm = ArmEmulator(clock=clock, seed=3).start()
        for key, value in product_env(arm, **env).items():
            monkeypatch.setenv(key, value)
        reset_product_caches()
        host = FunctionsHost(
            REPO / "function_app.py", port=0, clock=clock, db_path=tmp_path / f"hub{len(started)}.sqlite"
        ).start()
        started.append((arm, host))
        stepper = Stepper(clock, {"functions": host, "arm": arm}) if speed == 0 else None
        return Stack(arm, host, stepper)

    yield make
    for arm, host in started:
        host.stop()
        arm.stop()
    reset_product_caches()
    os.environ.pop("RESPOT_ARM_ENDPOINT", None)


@pytest.fixture
def stack(stack_factory: Any) -> Stack:
    return stack_factory()  # type: ignore[no-any-return]


@pytest.fixture
def stepped(stack_factory: Any) -> Stack:
    """A stack on a stopped clock, driven by the stepper."""
    return stack_factory(speed=0)  # type: ignore[no-any-return]
