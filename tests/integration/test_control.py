"""The control API drives scenarios: timelines, slow LROs, reset, and the request log."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, power_state, raw, vm_body

pytestmark = pytest.mark.integration

SIZE = "Standard_D2s_v5"


def test_a_timeline_raises_the_price_at_its_time(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm, max_price=0.03)).result()
    control(arm, "/clock", {"speed": 0})
    at = arm.clock.elapsed() + 600
    control(arm, "/scenario", {"timeline": [{"at": at, "price": {"region": "eastus", "size": SIZE, "price": 0.04}}]})
    control(arm, "/clock", {"advance": 599})
    assert power_state(compute, arm.resource_group, "vm1") == "PowerState/running"
    control(arm, "/clock", {"advance": 1 + 30})  # the step, then the Preempt notice
    assert power_state(compute, arm.resource_group, "vm1") == "PowerState/deallocated"
    assert any(p["price"] == 0.04 for p in control(arm, "/state")["prices"])


def test_slow_lro_fault_stretches_operations(arm: ArmEmulator) -> None:
    control(arm, "/faults", {"slowLro": 10})
    control(arm, "/clock", {"speed": 0})  # only the client's own waits move time (advance_on_sleep)
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/vm0?api-version=2026-04-01"
    status, headers, _ = raw(arm, "PUT", path, vm_body(arm))
    assert status == 201 and headers["Retry-After"] == "5"  # simulated seconds: poll again in 5 s
    assert control(arm, "/operations")["value"][-1]["status"] == "InProgress"  # time stands still
    client = arm.compute_client(advance_on_sleep=True, retry_total=0)
    began = arm.clock.elapsed()
    client.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    assert arm.clock.elapsed() - began == 400  # a 40 s create, ten times slower, polled every 5 s
    assert {o["status"] for o in control(arm, "/operations")["value"]} == {"Succeeded"}  # vm0's 400 s passed too


def test_reset_returns_to_the_start_scenario(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    control(arm, "/quota", {"region": "eastus", "name": "lowPriorityCores", "limit": 1})
    control(arm, "/faults", {"error503": 1.0, "path": "/nothing-matches-this$"})
    control(arm, "/reset", {})
    state = control(arm, "/state")
    assert state["vms"] == [] and state["quotas"] == [] and state["activityRecords"] == 0
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()  # the RG is back


def test_request_log_counts_operations_by_status(arm: ArmEmulator, compute: Any) -> None:
    compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", vm_body(arm)).result()
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(arm.resource_group, "nope")
    counts = control(arm, "/requests")["counts"]
    assert counts["VirtualMachines_CreateOrUpdate 201"] == 1
    assert counts["VirtualMachines_Get 404"] == 1
    assert counts["Operations_Get 200"] >= 1


def test_a_request_log_listener_sees_each_request_once_it_is_served(arm: ArmEmulator) -> None:
    seen: list[tuple[str, int, int]] = []
    arm.services.requests.listeners.append(
        lambda e: seen.append((e["operation"], e["status"], len(arm.backend.world.vms)))
    )
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2026-04-01"
    assert not seen
    assert raw(arm, "PUT", path, vm_body(arm))[0] == 201
    assert seen == [("VirtualMachines_CreateOrUpdate", 201, 1)]  # served: the VM exists when the listener runs


def test_the_request_log_and_the_activity_log_carry_simulated_time_to_the_microsecond(arm: ArmEmulator) -> None:
    control(arm, "/clock", {"speed": 0})
    control(arm, "/clock", {"advance": 1.0015})  # a millisecond and a half past a second
    arrived = arm.clock.now()
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2026-04-01"
    assert raw(arm, "PUT", path, vm_body(arm))[0] == 201
    [entry] = control(arm, "/requests")["entries"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", entry["time"])  # ARM's shape, always
    assert datetime.fromisoformat(entry["time"]) == arrived
    [started] = control(arm, "/activity-log")["value"]
    assert datetime.fromisoformat(started["timestamp"]) == arrived
    control(arm, "/clock", {"advance": 40})
    finished = control(arm, "/activity-log")["value"][-1]
    assert datetime.fromisoformat(finished["timestamp"]) == arrived + timedelta(seconds=40)  # when it was due
