"""Scale-set instances restart through the scale-set VM API; a user's deallocation after an eviction stops respot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import SIZE, Stack
from tests.integration.helpers import control, vmss_body

pytestmark = pytest.mark.e2e


def test_a_scale_set_instance_restarts_through_the_scale_set_vm_api(stack: Stack) -> None:
    stack.alert_group()
    rg = stack.arm.resource_group
    body = vmss_body(stack.arm, capacity=2)
    body["zones"] = ["1"]
    stack.compute.virtual_machine_scale_sets.begin_create_or_update(rg, "pool", body, polling=False)

    def power(iid: str) -> str:
        view = stack.compute.virtual_machine_scale_set_vms.get_instance_view(rg, "pool", iid)
        return next((s.code for s in view.statuses or [] if s.code.startswith("PowerState/")), "")

    def instance_ids() -> list[str]:
        return [str(i.instance_id) for i in stack.compute.virtual_machine_scale_set_vms.list(rg, "pool")]

    stack.wait(lambda: [power(i) for i in instance_ids()] == ["PowerState/running"] * 2, what="the scale set")
    stack.capacity(1)  # one of the two instances must go

    stack.wait(lambda: any(power(i) == "PowerState/deallocated" for i in instance_ids()), what="the eviction")
    [evicted] = [i for i in instance_ids() if power(i) == "PowerState/deallocated"]
    vm_id = f"/subscriptions/{stack.arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/{evicted}"
    stack.wait(lambda: stack.phase(vm_id) == "waiting", what="the recovery to wait")
    stack.capacity(2)
    assert stack.finished(vm_id)["outcome"] == "recovered"
    assert power(evicted) == "PowerState/running"
    assert stack.requests("VirtualMachineScaleSetVMs_Start") >= 1 and stack.requests("VirtualMachines_Start") == 0


def test_a_user_deallocation_after_the_eviction_stops_the_recovery(stack_factory: Any) -> None:
    stack: Stack = stack_factory(RESPOT_LOG_WORKSPACE_ID="respot-workspace")
    stack.alert_group()
    [vm_id] = stack.fleet(["mine"])
    stack.capacity(0)
    stack.wait(lambda: stack.phase(vm_id) == "waiting", what="the recovery to wait")
    # The owner decides the VM should stay off: a deallocation of their own, recorded with their name as caller.
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_deallocate(stack.arm.resource_group, "mine", polling=False)
    stack.wait(lambda: stack.power("mine") == "PowerState/deallocated", what="the owner's deallocation")
    control(stack.arm, "/capacity", {"region": "eastus", "zone": "1", "size": SIZE, "available": 5})
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("stopped", "user_deallocated")
    assert stack.power("mine") == "PowerState/deallocated"
    assert stack.successful_starts() == 0


def test_with_the_health_gate_a_vm_is_recovered_only_when_its_app_is_healthy(stack_factory: Any) -> None:
    stack: Stack = stack_factory(RESPOT_REQUIRE_HEALTH_EXTENSION="true")
    stack.alert_group()
    [vm_id] = stack.fleet(["app"])
    control(stack.arm, "/health", {"id": vm_id, "state": "unhealthy"})
    stack.capacity(0)
    stack.wait(lambda: stack.phase(vm_id) == "waiting", what="the recovery to wait")
    stack.capacity(1)
    stack.wait(lambda: stack.power("app") == "PowerState/running", what="the VM to start")
    stack.wait(
        lambda: (stack.strategy_status(vm_id).get("lastError") or {}).get("code") == "unhealthy",
        what="the gate to hold",
    )
    assert stack.instance(stack.recovery(vm_id))["runtimeStatus"] == "Running"
    control(stack.arm, "/health", {"id": vm_id, "state": "healthy"})
    assert stack.finished(vm_id)["outcome"] == "recovered"


def test_a_price_eviction_raises_max_price_up_to_the_ceiling_when_allowed(stack_factory: Any) -> None:
    from tests.integration.helpers import vm_body

    stack: Stack = stack_factory(RESPOT_PRICE_POLICY="raise", RESPOT_MAX_PRICE_CEILING="0.06")
    stack.alert_group()
    rg = stack.arm.resource_group
    stack.compute.virtual_machines.begin_create_or_update(
        rg, "capped", vm_body(stack.arm, max_price=0.03), polling=False
    )
    stack.wait(lambda: stack.power("capped") == "PowerState/running", what="the VM")
    control(stack.arm, "/price", {"region": "eastus", "size": SIZE, "price": 0.05})
    out = stack.finished(str(stack.compute.virtual_machines.get(rg, "capped").id))
    assert out["outcome"] == "recovered" and [r["action"] for r in out["attempts"]][:2] == ["start", "set_max_price"]
    assert stack.compute.virtual_machines.get(stack.arm.resource_group, "capped").billing_profile.max_price == 0.06
    assert stack.power("capped") == "PowerState/running"


def test_a_delete_policy_scale_set_gets_its_capacity_back_in_one_patch(stack_factory: Any) -> None:
    stack: Stack = stack_factory(RESPOT_LOG_WORKSPACE_ID="respot-workspace")
    stack.alert_group()
    rg = stack.arm.resource_group
    body = vmss_body(stack.arm, capacity=3, policy="Delete")
    body["zones"] = ["1"]
    stack.compute.virtual_machine_scale_sets.begin_create_or_update(rg, "pool", body, polling=False)
    stack.wait(lambda: _running(stack, "pool") == 3, what="the scale set")
    stack.later(330)  # the inventory sweep records its capacity
    control(stack.arm, "/requests", method="DELETE")
    evicting = stack.capacity(1)  # a recall: two instances must go, and Delete takes them with their disks
    assert len(evicting) == 2
    stack.wait(lambda: stack.compute.virtual_machine_scale_sets.get(rg, "pool").sku.capacity == 1, what="the loss")
    stack.capacity(3)  # the capacity comes back a little later
    outs = [stack.finished(vm_id, timeout=120) for vm_id in evicting]
    assert sorted(o["reason"] for o in outs) == ["capacity_restored", "wave_joined"]
    assert stack.compute.virtual_machine_scale_sets.get(rg, "pool").sku.capacity == 3
    assert stack.requests("VirtualMachineScaleSets_Update") == 1  # once per eviction wave


def test_a_try_and_restore_scale_set_is_left_to_the_platform_with_the_reason(stack_factory: Any) -> None:
    stack: Stack = stack_factory(RESPOT_LOG_WORKSPACE_ID="respot-workspace")
    stack.alert_group()
    rg = stack.arm.resource_group
    body = vmss_body(stack.arm, capacity=2, policy="Delete")
    body["zones"] = ["1"]
    body["properties"]["spotRestorePolicy"] = {"enabled": True, "restoreTimeout": "PT1H"}
    stack.compute.virtual_machine_scale_sets.begin_create_or_update(rg, "tnr", body, polling=False)
    stack.wait(lambda: _running(stack, "tnr") == 2, what="the scale set")
    control(stack.arm, "/requests", method="DELETE")
    [vm_id] = stack.capacity(1)
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("ignored", "try_and_restore")
    assert "spotRestorePolicy" in out["detail"] and stack.requests("VirtualMachineScaleSets_Update") == 0


def _running(stack: Stack, name: str) -> int:
    rg = stack.arm.resource_group
    count = 0
    for inst in stack.compute.virtual_machine_scale_set_vms.list(rg, name):
        view = stack.compute.virtual_machine_scale_set_vms.get_instance_view(rg, name, str(inst.instance_id))
        count += any(s.code == "PowerState/running" for s in view.statuses or [])
    return count
