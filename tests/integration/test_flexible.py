"""Flexible orchestration: the set's VMs are VM resources, operated through the VM API; the scale-set VM API
refuses them (orchestration-modes-api-comparison.md)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, power_state, raw, vm_body, vmss_body

pytestmark = pytest.mark.integration


def flexible(arm: ArmEmulator, *, capacity: int | None = None, **profile: Any) -> dict[str, Any]:
    """A Flexible set's body: with a profile (and capacity) when ``capacity`` is given, else without."""
    if capacity is None:
        return {"location": "eastus", "properties": {"orchestrationMode": "Flexible", "platformFaultDomainCount": 1}}
    body = vmss_body(arm, capacity=capacity, **profile)
    body["properties"] = {"orchestrationMode": "Flexible", **body["properties"]}
    del body["properties"]["upgradePolicy"]
    return body


def member(arm: ArmEmulator, ss_id: str, **kwargs: Any) -> dict[str, Any]:
    body = vm_body(arm, **kwargs)
    body["properties"]["virtualMachineScaleSet"] = {"id": ss_id}
    return body


def test_a_vm_joins_a_flexible_set_and_is_a_vm_resource(arm: ArmEmulator, compute: Any) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    ss = sets.begin_create_or_update(rg, "flex", flexible(arm)).result()
    assert (ss.orchestration_mode, ss.platform_fault_domain_count, ss.sku) == ("Flexible", 1, None)
    vm = compute.virtual_machines.begin_create_or_update(rg, "web1", member(arm, ss.id.upper())).result()
    assert vm.virtual_machine_scale_set.id == ss.id  # the set's own spelling
    assert compute.virtual_machines.get(rg, "web1").virtual_machine_scale_set.id == ss.id
    assert [v.name for v in compute.virtual_machines.list(rg)] == ["web1"]
    assert sets.get(rg, "flex").orchestration_mode == "Flexible"
    compute.virtual_machines.begin_deallocate(rg, "web1").result()
    compute.virtual_machines.begin_start(rg, "web1").result()
    assert power_state(compute, rg, "web1") == "PowerState/running"


def test_the_scale_set_vm_api_refuses_a_flexible_set(arm: ArmEmulator, compute: Any) -> None:
    rg, vms = arm.resource_group, compute.virtual_machine_scale_set_vms
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "flex", flexible(arm, capacity=1)).result()
    calls = {
        "VirtualMachineScaleSets.virtualMachines.GET": lambda: list(vms.list(rg, "flex")),
        "VirtualMachineScaleSets.virtualMachines.instanceView.GET": lambda: vms.get_instance_view(rg, "flex", "0"),
        "VirtualMachineScaleSets.virtualMachines.start.POST": lambda: vms.begin_start(rg, "flex", "0"),
        "VirtualMachineScaleSets.virtualMachines.simulateEviction.POST": lambda: vms.simulate_eviction(rg, "flex", "0"),
    }
    for operation, call in calls.items():
        with pytest.raises(HttpResponseError) as err:
            call()
        assert (err.value.status_code, err.value.error.code) == (400, "BadRequest")
        assert f"Operation '{operation}' is not allowed on Virtual Machine Scale Set 'flex'" in err.value.error.message


def test_a_profile_makes_standalone_vms_that_scale_with_capacity(arm: ArmEmulator, compute: Any) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    ss = sets.begin_create_or_update(rg, "flex", flexible(arm, capacity=2)).result()
    assert ss.sku.capacity == 2 and ss.virtual_machine_profile.priority == "Spot"
    made = sorted(compute.virtual_machines.list(rg), key=lambda v: v.time_created)
    assert len(made) == 2 and all(v.name.startswith("flex_") and len(v.name) == len("flex_") + 8 for v in made)
    vm = compute.virtual_machines.get(rg, made[0].name, expand="instanceView")
    assert vm.virtual_machine_scale_set.id == ss.id and vm.priority == "Spot"
    assert [s.code for s in vm.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    sets.begin_update(rg, "flex", {"sku": {"capacity": 3}}).result()
    assert len(list(compute.virtual_machines.list(rg))) == 3
    sets.begin_update(rg, "flex", {"sku": {"capacity": 1}}).result()
    assert [v.name for v in compute.virtual_machines.list(rg)] == [made[0].name]  # the newest went first
    assert sets.get(rg, "flex").sku.capacity == 1


def test_resource_graph_finds_a_flexible_sets_vms_as_the_doc_queries_them(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "portalbb01", flexible(arm, capacity=2)).result()
    compute.virtual_machines.begin_create_or_update(rg, "alone", vm_body(arm)).result()
    query = (
        'resources | where type == "microsoft.compute/virtualmachines" '
        '| where properties.virtualMachineScaleSet.id contains "portalbb01" | project name'
    )
    status, _, body = raw(
        arm, "POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01", {"query": query}
    )
    assert status == 200 and body["count"] == 2
    assert all(row["name"].startswith("portalbb01_") for row in body["data"])


def test_evicting_a_flexible_vm_is_recorded_against_the_vm_and_delete_shrinks_the_set(
    arm: ArmEmulator, compute: Any
) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    keep = sets.begin_create_or_update(rg, "keep", flexible(arm, capacity=1)).result()
    drop = sets.begin_create_or_update(rg, "drop", flexible(arm, capacity=2, policy="Delete")).result()
    by_set = {
        ss.id: [v for v in compute.virtual_machines.list(rg) if v.virtual_machine_scale_set.id == ss.id]
        for ss in (keep, drop)
    }
    control(arm, "/evict", {"id": by_set[keep.id][0].id})
    control(arm, "/evict", {"id": by_set[drop.id][0].id})
    assert power_state(compute, rg, by_set[keep.id][0].name) == "PowerState/deallocated"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(rg, by_set[drop.id][0].name)
    assert (sets.get(rg, "keep").sku.capacity, sets.get(rg, "drop").sku.capacity) == (1, 1)
    records = [r for r in control(arm, "/activity-log")["value"] if r["operation_name"].endswith("evictSpotVM/action")]
    assert {r["operation_name"] for r in records} == {"Microsoft.Compute/virtualMachines/evictSpotVM/action"}
    assert sorted(r["resource_id"] for r in records) == sorted([by_set[keep.id][0].id, by_set[drop.id][0].id])
    compute.virtual_machines.begin_start(rg, by_set[keep.id][0].name).result()  # restarted through the VM API
    assert power_state(compute, rg, by_set[keep.id][0].name) == "PowerState/running"


def test_priority_mix_makes_the_base_and_a_share_above_it_regular(arm: ArmEmulator, compute: Any) -> None:
    body = flexible(arm, capacity=4)
    body["properties"]["priorityMixPolicy"] = {"baseRegularPriorityCount": 1, "regularPriorityPercentageAboveBase": 50}
    compute.virtual_machine_scale_sets.begin_create_or_update(arm.resource_group, "mix", body).result()
    vms = sorted(compute.virtual_machines.list(arm.resource_group), key=lambda v: v.time_created)
    assert [v.priority or "Regular" for v in vms] == ["Regular", "Spot", "Regular", "Spot"]


def test_what_a_flexible_set_refuses(arm: ArmEmulator, compute: Any) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    uniform = sets.begin_create_or_update(rg, "uni", vmss_body(arm, capacity=0)).result()
    assert uniform.orchestration_mode == "Uniform"  # the default
    flex = sets.begin_create_or_update(rg, "flex", flexible(arm)).result()
    cases = [
        (
            lambda: compute.virtual_machines.begin_create_or_update(rg, "a", member(arm, uniform.id)),
            400,
            "InvalidParameter",
        ),
        (
            lambda: compute.virtual_machines.begin_create_or_update(rg, "b", member(arm, flex.id + "x")),
            404,
            "ResourceNotFound",
        ),
        (
            lambda: compute.virtual_machines.begin_create_or_update(rg, "c", member(arm, flex.id, region="westus2")),
            400,
            "InvalidParameter",
        ),
        (lambda: sets.begin_update(rg, "flex", {"sku": {"capacity": 1}}), 400, "InvalidParameter"),
        (lambda: sets.begin_create_or_update(rg, "uni", flexible(arm)), 409, "PropertyChangeNotAllowed"),
    ]
    for call, status, code in cases:
        with pytest.raises(HttpResponseError) as err:
            call()
        assert (err.value.status_code, err.value.error.code) == (status, code)
    compute.virtual_machines.begin_create_or_update(rg, "d", member(arm, flex.id)).result()
    moved = vm_body(arm)  # no virtualMachineScaleSet: leaving the set is a change Azure does not allow
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_create_or_update(rg, "d", moved)
    assert err.value.error.code == "PropertyChangeNotAllowed"
