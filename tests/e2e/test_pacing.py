"""A wave of restarts paced by the limiter entity, through a host SIGKILL: the new host takes up the same budget.

The budget is made small (RESPOT_ARM_BUDGETS: 2 writes, then one per 2000 s) so that pacing is visible in the
emulator's request log, in simulated time. Both hosts run on the emulator's clock (``--start``). Four VMs are
evicted before the kill and three after it: had the limiter's state been lost with the host, the three would go
at once, beside the four's reservations (the window check below catches that)."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path

import pytest

from bench.common import free_port
from localcloud.arm import ArmEmulator
from localcloud.clock import Clock
from orchestrator.domain.models import iso
from tests.e2e.conftest import Stack
from tests.e2e.test_crash import get, serve, status_of
from tests.integration.helpers import control, vm_body, wait_until

pytestmark = pytest.mark.e2e

SPEED = 600  # a start 3 real seconds late still keeps to the window check below
BURST, EVERY = 2, 2000.0  # writes=2/0.0005
SLACK = 120.0  # simulated seconds of dispatch jitter (a fifth of a real second at SPEED)
BEFORE, AFTER = 4, 3
VMS = BEFORE + AFTER


def test_the_limiter_paces_a_wave_of_restarts_and_holds_after_a_host_sigkill(tmp_path: Path) -> None:
    with ArmEmulator(clock=Clock(speed=SPEED)) as arm:
        env = {"RESPOT_ARM_BUDGETS": f"writes={BURST}/{1 / EVERY}"}
        compute = arm.compute_client(retry_total=0)
        names = [f"wave-{i}" for i in range(VMS)]
        pollers = [compute.virtual_machines.begin_create_or_update(arm.resource_group, n, vm_body(arm)) for n in names]
        ids = [str(p.result().id) for p in pollers]
        port = free_port()
        hooks = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances"
        host = serve(tmp_path, port, arm, speed=SPEED, start=iso(arm.clock.now()), **env)
        try:
            wait_until(lambda: get(f"http://127.0.0.1:{port}/api/health") is not None, timeout=30, what="the host")
            keys = json.loads((tmp_path / "keys.json").read_text())
            alerts = f"http://127.0.0.1:{port}/api/alerts?code={keys['function']}"
            control(
                arm, "/action-groups", {"name": "r", "url": alerts, "kind": "activityLogAlert", "delay_seconds": 30}
            )
            control(arm, "/requests", method="DELETE")
            for vm_id in ids[:BEFORE]:
                control(arm, "/evict", {"id": vm_id})
            # Killed once the first starts were answered (their recoveries watch them), while the others wait for
            # their turns on durable timers. (A kill inside a start's activity is another story: the replayed
            # activity finds the VM starting and cannot tell respot's own start from a person's.)
            watching = [f"{hooks}/{Stack.recovery(v)}:restart?code={keys['system']}" for v in ids[:BURST]]
            wait_until(lambda: all(_answered(u) for u in watching), timeout=60, what="the wave's first starts")
        finally:
            host.send_signal(signal.SIGKILL)
            host.wait(timeout=10)
        host = serve(tmp_path, port, arm, speed=SPEED, start=iso(arm.clock.now()), **env)
        try:
            wait_until(lambda: get(f"http://127.0.0.1:{port}/api/health") is not None, timeout=30, what="the host")
            for vm_id in ids[BEFORE:]:
                control(arm, "/evict", {"id": vm_id})
            for vm_id in ids:
                url = f"{hooks}/{Stack.recovery(vm_id)}?code={keys['system']}"
                wait_until(lambda u=url: status_of(u).get("runtimeStatus") == "Completed", 120, "the recoveries")
                out = status_of(url)["output"]
                assert out["outcome"] == "recovered", json.dumps(out)[:1500]
        finally:
            host.send_signal(signal.SIGTERM)
            assert host.wait(timeout=20) == 0
        starts = _starts(arm)
        assert not [e for e in control(arm, "/requests")["entries"] if e["status"] == 429]
    assert len(starts) == VMS  # one start per VM: nothing was asked twice across the kill
    for i, first in enumerate(starts):  # any window: at most the burst plus what refilled in it
        for j in range(i + 1, len(starts)):
            assert j - i + 1 <= BURST + ((starts[j] - first).total_seconds() + SLACK) / EVERY, (i, j, starts)


def _answered(strategy_url: str) -> bool:
    """The restart strategy has its start's answer: it watches the operation, warms up, or is done."""
    status = status_of(strategy_url)
    phase = (status.get("customStatus") or {}).get("phase")
    return phase in ("watching", "warming") or status.get("runtimeStatus") == "Completed"


def _starts(arm: ArmEmulator) -> list[datetime]:
    entries = control(arm, "/requests")["entries"]
    return sorted(
        datetime.fromisoformat(e["time"])
        for e in entries
        if e["operation"] == "VirtualMachines_Start" and e["status"] == 202
    )
