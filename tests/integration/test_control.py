"""The control API drives scenarios: timelines, slow LROs, reset, and the request log."""

from __future__ import annotations

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
    control(arm, "/clock", {"speed": 0})  # with time stopped the SDK's poller would wait forever: use raw HTTP
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{arm.resource_group}/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2026-04-01"
    status, headers, _ = raw(arm, "PUT", path, vm_body(arm))
    assert status == 201 and headers["Retry-After"] == "3600"  # nothing finishes while time stands still
    assert control(arm, "/operations")["value"][-1]["status"] == "InProgress"
    control(arm, "/clock", {"advance": 40 * 5})  # a normal create (40 s) would be long done
    assert control(arm, "/operations")["value"][-1]["status"] == "InProgress"
    control(arm, "/clock", {"advance": 40 * 5})
    assert control(arm, "/operations")["value"][-1]["status"] == "Succeeded"


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
