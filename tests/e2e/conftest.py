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
from pathlib import Path
from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from localcloud.clock import Clock
from localcloud.functions.host import FunctionsHost
from tests.conftest import REPO
from tests.integration.helpers import control, vm_body

SPEED = 1200.0  # a simulated hour in three real seconds
SIZE = "Standard_D2s_v5"


def product_env(arm: ArmEmulator, **extra: str) -> dict[str, str]:
    return {
        "RESPOT_SUBSCRIPTIONS": arm.subscription,
        "RESPOT_RESOURCE_GROUPS": arm.resource_group,
        "RESPOT_CREDENTIAL": "localcloud",
        "RESPOT_ARM_ENDPOINT": arm.url,
        "RESPOT_LOGS_ENDPOINT": arm.url,
        **extra,
    }


def reset_product_caches() -> None:
    from orchestrator.adapters.activitylog import activity_log_for
    from orchestrator.adapters.compute import compute_for
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    compute_for.cache_clear()
    activity_log_for.cache_clear()


class Stack:
    def __init__(self, arm: ArmEmulator, host: FunctionsHost) -> None:
        self.arm, self.host = arm, host
        self.compute = arm.compute_client(retry_total=0)

    @property
    def alerts_url(self) -> str:
        return f"{self.host.url}/api/alerts?code={self.host.keys.function}"

    def alert_group(self, kind: str = "activityLogAlert", delay: float = 60) -> None:
        control(
            self.arm, "/action-groups", {"name": kind, "url": self.alerts_url, "kind": kind, "delay_seconds": delay}
        )

    def fleet(self, names: list[str], region: str = "eastus", zone: str = "1") -> list[str]:
        ids = []
        for name in names:
            vm = self.compute.virtual_machines.begin_create_or_update(
                self.arm.resource_group, name, vm_body(self.arm, region=region, zones=[zone])
            ).result()
            ids.append(vm.id)
        return ids

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
        return next(s.code for s in statuses if s.code.startswith("PowerState/"))

    def wait(self, predicate: Any, timeout: float = 60, what: str = "condition") -> None:
        deadline, pause = time.monotonic() + timeout, threading.Event()
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; instances: {[(i['instanceId'], i['runtimeStatus'], i.get('customStatus')) for i in self.instances()]}"
                )
            pause.wait(0.05)

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
        clock = Clock(speed=speed)
        arm = ArmEmulator(clock=clock, seed=3).start()
        for key, value in product_env(arm, **env).items():
            monkeypatch.setenv(key, value)
        reset_product_caches()
        host = FunctionsHost(
            REPO / "function_app.py", port=0, clock=clock, db_path=tmp_path / f"hub{len(started)}.sqlite"
        ).start()
        started.append((arm, host))
        return Stack(arm, host)

    yield make
    for arm, host in started:
        host.stop()
        arm.stop()
    reset_product_caches()
    os.environ.pop("RESPOT_ARM_ENDPOINT", None)


@pytest.fixture
def stack(stack_factory: Any) -> Stack:
    return stack_factory()  # type: ignore[no-any-return]
