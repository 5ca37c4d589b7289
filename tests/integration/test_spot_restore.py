"""VMSS Try & restore (use-spot.md): instances a capacity recall took come back as capacity returns, by the
platform's hand, until restoreTimeout; never for price or simulated evictions, and never under autoscale."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import activity, autoscale_body, control, raw, vmss_body

pytestmark = pytest.mark.integration

POOL = {"region": "eastus", "size": "Standard_D2s_v5"}
ON = {"enabled": True, "restoreTimeout": "PT1H"}


def create(arm: ArmEmulator, compute: Any, name: str = "ss", **kwargs: Any) -> Any:
    body = vmss_body(arm, **{"capacity": 2, "policy": "Delete", "restore": ON, **kwargs})
    return compute.virtual_machine_scale_sets.begin_create_or_update(arm.resource_group, name, body).result()


def recall(arm: ArmEmulator) -> None:
    """Take the pool away at a stopped clock and let the Preempt notices run out."""
    control(arm, "/clock", {"speed": 0})
    control(arm, "/capacity", {**POOL, "available": 0})
    control(arm, "/clock", {"advance": 30})


def instance_ids(compute: Any, rg: str, name: str = "ss") -> list[str]:
    return [i.instance_id for i in compute.virtual_machine_scale_set_vms.list(rg, name)]


def test_delete_policy_instances_come_back_as_new_instances_when_capacity_returns(
    arm: ArmEmulator, compute: Any
) -> None:
    rg = arm.resource_group
    ss = create(arm, compute)
    assert ss.spot_restore_policy.enabled is True
    recall(arm)
    assert instance_ids(compute, rg) == [] and compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 0
    control(arm, "/clock", {"advance": 60})  # the platform looks, and finds no capacity yet
    assert instance_ids(compute, rg) == []
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 60})
    assert instance_ids(compute, rg) == ["2", "3"]
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 2
    restored = [r for r in activity(arm, "virtualMachineScaleSets/write") if r["caller"] == "Microsoft.Compute"]
    assert [r["status"] for r in restored] == ["Started"]
    assert "Try & restore" in restored[0]["properties"]["description"]
    control(arm, "/clock", {"advance": 40})
    codes = [s.code for s in compute.virtual_machine_scale_set_vms.get_instance_view(rg, "ss", "2").statuses]
    assert "PowerState/running" in codes
    assert [
        r["status"] for r in activity(arm, "virtualMachineScaleSets/write") if r["caller"] == "Microsoft.Compute"
    ] == [
        "Started",
        "Succeeded",
    ]


def test_deallocate_policy_instances_are_started_again(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, policy="Deallocate")
    recall(arm)
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 60})
    starts = activity(arm, "virtualMachineScaleSets/virtualMachines/start/action")
    assert {r["caller"] for r in starts} == {"Microsoft.Compute"}
    assert {r["resource_id"].rsplit("/", 1)[-1] for r in starts} == {"0", "1"}
    assert all("Try & restore" in r["properties"]["description"] for r in starts)
    control(arm, "/clock", {"advance": 25})
    for iid in ("0", "1"):
        statuses = compute.virtual_machine_scale_set_vms.get_instance_view(rg, "ss", iid).statuses
        assert "PowerState/running" in [s.code for s in statuses]


def test_nothing_comes_back_after_the_restore_timeout(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, restore={"enabled": True, "restoreTimeout": "PT2M"})
    recall(arm)
    control(arm, "/clock", {"advance": 150})
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 600})
    assert instance_ids(compute, rg) == []
    assert not any(r["caller"] == "Microsoft.Compute" for r in activity(arm, "virtualMachineScaleSets/write"))


def test_an_autoscale_setting_turns_try_and_restore_off(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    ss = create(arm, compute)
    path = f"/subscriptions/{arm.subscription}/resourcegroups/{rg}/providers/Microsoft.Insights/autoscalesettings/as?api-version=2022-10-01"
    assert raw(arm, "PUT", path, autoscale_body(ss.id, minimum=0, maximum=5, default=0))[0] == 201
    recall(arm)
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 600})
    assert instance_ids(compute, rg) == []  # autoscale keeps 0 (within its bounds) and Try & restore is off


def test_price_and_simulated_evictions_are_not_restored(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, capacity=1)
    control(arm, "/clock", {"speed": 0})
    compute.virtual_machine_scale_set_vms.simulate_eviction(rg, "ss", "0")
    control(arm, "/clock", {"advance": 30})
    assert instance_ids(compute, rg) == []
    control(arm, "/clock", {"advance": 600})
    assert instance_ids(compute, rg) == []


def test_a_flexible_set_gets_new_member_vms(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    ss = create(arm, compute, "flex", flexible=True)
    before = {v.name for v in compute.virtual_machines.list(rg)}
    recall(arm)
    assert list(compute.virtual_machines.list(rg)) == []
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 60})
    after = list(compute.virtual_machines.list(rg))
    assert len(after) == 2 and not {v.name for v in after} & before
    assert all(v.virtual_machine_scale_set.id == ss.id for v in after)
    assert compute.virtual_machine_scale_sets.get(rg, "flex").sku.capacity == 2


def test_a_count_someone_else_restored_is_not_restored_twice(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute)
    recall(arm)
    control(arm, "/capacity", {**POOL, "available": 50})
    stepped = arm.compute_client(advance_on_sleep=True, retry_total=0)
    stepped.virtual_machine_scale_sets.begin_update(rg, "ss", {"sku": {"capacity": 2}}).result()  # respot, say
    control(arm, "/clock", {"advance": 600})
    assert instance_ids(compute, rg) == ["2", "3"]


def test_patch_turns_try_and_restore_on_for_an_existing_set(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    body = vmss_body(arm, capacity=1, policy="Delete")
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", body).result()
    patch = {"properties": {"spotRestorePolicy": {"enabled": True}}}
    ss = compute.virtual_machine_scale_sets.begin_update(rg, "ss", patch).result()
    assert ss.spot_restore_policy.enabled is True
    recall(arm)
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 60})
    assert instance_ids(compute, rg) == ["1"]  # the default timeout (PT1H) had not run out


def test_what_spot_restore_refuses(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    regular = vmss_body(arm, capacity=0, restore={"enabled": True})
    for key in ("priority", "evictionPolicy", "billingProfile"):
        del regular["properties"]["virtualMachineProfile"][key]
    bad_timeout = vmss_body(arm, capacity=0, restore={"enabled": True, "restoreTimeout": "an hour"})
    for body, code in [
        (regular, "SpotRestorationIsSupportedOnlyForAzureSpotScaleSets"),
        (bad_timeout, "InvalidParameter"),
    ]:
        with pytest.raises(HttpResponseError) as err:
            compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", body)
        assert (err.value.status_code, err.value.error.code) == (400, code)
    path = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/old?api-version=2021-03-01"
    status, _, answer = raw(arm, "PUT", path, vmss_body(arm, capacity=0, restore={"enabled": True}))
    assert (status, answer["error"]["code"]) == (400, "SpotRestorationIsNotSupportedForThisAPIVersion")
    text = vmss_body(arm, capacity=0, restore={"enabled": "true", "restoreTimeout": "PT30M"})
    made = compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", text).result()
    assert made.spot_restore_policy.enabled is True  # a JSON string read as a boolean


def test_a_policy_inside_the_profile_is_not_the_scale_sets_and_restores_nothing(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    body = vmss_body(arm, capacity=1, policy="Delete")
    body["properties"]["virtualMachineProfile"]["spotRestorePolicy"] = ON  # where use-spot.md's template puts it
    ss = compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", body).result()
    assert ss.spot_restore_policy is None
    recall(arm)
    control(arm, "/capacity", {**POOL, "available": 50})
    control(arm, "/clock", {"advance": 600})
    assert instance_ids(compute, rg) == []
