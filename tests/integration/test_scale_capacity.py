"""PATCH sku.capacity restores a Delete-policy scale set after evictions, for Uniform and Flexible sets, and a
second PATCH to the same capacity creates nothing (the real SDK's begin_update)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, vmss_body

pytestmark = pytest.mark.integration


def members(arm: ArmEmulator, compute: Any, name: str, flexible: bool) -> dict[str, str]:
    """The set's VMs: id -> vmId (a VM made again would have a new vmId)."""
    rg = arm.resource_group
    if flexible:
        vms = [v for v in compute.virtual_machines.list(rg) if v.virtual_machine_scale_set.id.endswith(f"/{name}")]
    else:
        vms = list(compute.virtual_machine_scale_set_vms.list(rg, name))
    return {v.id: v.vm_id for v in vms}


def running(arm: ArmEmulator, compute: Any, name: str, flexible: bool) -> bool:
    rg = arm.resource_group
    for vm_id in members(arm, compute, name, flexible):
        iid = vm_id.rsplit("/", 1)[-1]
        view = (
            compute.virtual_machines.instance_view(rg, iid)
            if flexible
            else compute.virtual_machine_scale_set_vms.get_instance_view(rg, name, iid)
        )
        if "PowerState/running" not in [s.code for s in view.statuses]:
            return False
    return True


@pytest.mark.parametrize("flexible", [False, True], ids=["uniform", "flexible"])
def test_raising_capacity_after_delete_evictions_recreates_the_missing_and_a_second_patch_creates_nothing(
    arm: ArmEmulator, compute: Any, flexible: bool
) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    body = vmss_body(arm, capacity=3, policy="Delete", flexible=flexible)
    sets.begin_create_or_update(rg, "pool", body).result()
    before = members(arm, compute, "pool", flexible)
    for victim in sorted(before)[:2]:
        control(arm, "/evict", {"id": victim})
    assert sets.get(rg, "pool").sku.capacity == 1
    survivor = set(members(arm, compute, "pool", flexible))
    restored = sets.begin_update(rg, "pool", {"sku": {"capacity": 3}}).result()
    assert restored.sku.capacity == 3 and restored.provisioning_state == "Succeeded"
    after = members(arm, compute, "pool", flexible)
    assert len(after) == 3 and survivor <= set(after)
    assert not set(after) - survivor & set(before)  # the missing two are new VMs, not the evicted ones back
    assert running(arm, compute, "pool", flexible)
    again = sets.begin_update(rg, "pool", {"sku": {"capacity": 3}}).result()
    assert again.sku.capacity == 3
    assert members(arm, compute, "pool", flexible) == after  # same VMs, same vmIds: nothing created


def test_deallocated_evictions_still_count_so_the_same_capacity_creates_nothing(arm: ArmEmulator, compute: Any) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    sets.begin_create_or_update(rg, "pool", vmss_body(arm, capacity=2, policy="Deallocate")).result()
    before = members(arm, compute, "pool", False)
    control(arm, "/evict", {"id": min(before)})
    assert sets.get(rg, "pool").sku.capacity == 2  # use-spot.md: deallocated instances count toward capacity
    sets.begin_update(rg, "pool", {"sku": {"capacity": 2}}).result()
    assert members(arm, compute, "pool", False) == before
    view = compute.virtual_machine_scale_set_vms.get_instance_view(rg, "pool", min(before).rsplit("/", 1)[-1])
    assert "PowerState/deallocated" in [s.code for s in view.statuses]


@pytest.mark.parametrize("flexible", [False, True], ids=["uniform", "flexible"])
def test_a_scale_out_beyond_quota_is_refused_before_any_instance_exists(
    arm: ArmEmulator, compute: Any, flexible: bool
) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    sets.begin_create_or_update(rg, "pool", vmss_body(arm, capacity=2, flexible=flexible)).result()
    control(arm, "/quota", {"region": "eastus", "name": "lowPriorityCores", "limit": 6})
    with pytest.raises(HttpResponseError) as err:
        sets.begin_update(rg, "pool", {"sku": {"capacity": 4}})
    assert (err.value.status_code, err.value.error.code) == (409, "OperationNotAllowed")
    assert "LowPriorityCores" in err.value.error.message and "Additional Required: 4" in err.value.error.message
    assert len(members(arm, compute, "pool", flexible)) == 2 and sets.get(rg, "pool").sku.capacity == 2
    sets.begin_update(rg, "pool", {"sku": {"capacity": 3}}).result()  # 6 cores: exactly the quota
    assert len(members(arm, compute, "pool", flexible)) == 3


def test_a_restricted_size_is_refused_at_the_patch(arm: ArmEmulator, compute: Any) -> None:
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    sets.begin_create_or_update(rg, "pool", vmss_body(arm, capacity=1)).result()
    control(arm, "/scenario", {"restrictions": [{"region": "eastus", "size": "Standard_D2s_v5"}]})
    with pytest.raises(HttpResponseError) as err:
        sets.begin_update(rg, "pool", {"sku": {"capacity": 2}})
    assert (err.value.status_code, err.value.error.code) == (409, "SkuNotAvailable")
    assert sets.get(rg, "pool").sku.capacity == 1
