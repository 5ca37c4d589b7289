"""Scale sets through the real SDK: create, scale out and in by PATCH sku.capacity, instance operations."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, vmss_body

pytestmark = pytest.mark.integration


def test_create_get_and_list_instances(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    ss = compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=3)).result()
    assert (ss.sku.capacity, ss.virtual_machine_profile.priority, ss.virtual_machine_profile.eviction_policy) == (
        3,
        "Spot",
        "Deallocate",
    )
    instances = list(compute.virtual_machine_scale_set_vms.list(rg, "ss", expand="instanceView"))
    assert [i.instance_id for i in instances] == ["0", "1", "2"]
    assert all("PowerState/running" in [s.code for s in i.instance_view.statuses] for i in instances)
    assert [s.name for s in compute.virtual_machine_scale_sets.list(rg)] == ["ss"]


def test_patch_capacity_scales_out_and_in(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=1)).result()
    out = compute.virtual_machine_scale_sets.begin_update(rg, "ss", {"sku": {"capacity": 3}}).result()
    assert out.sku.capacity == 3
    assert len(list(compute.virtual_machine_scale_set_vms.list(rg, "ss"))) == 3
    compute.virtual_machine_scale_sets.begin_update(rg, "ss", {"sku": {"capacity": 1}}).result()
    assert [i.instance_id for i in compute.virtual_machine_scale_set_vms.list(rg, "ss")] == ["0"]


def test_instance_deallocate_start_power_off_and_delete(arm: ArmEmulator, compute: Any) -> None:
    rg, vms = arm.resource_group, compute.virtual_machine_scale_set_vms
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=2)).result()

    def power(iid: str) -> str:
        return next(s.code for s in vms.get_instance_view(rg, "ss", iid).statuses if s.code.startswith("PowerState/"))

    vms.begin_deallocate(rg, "ss", "1").result()
    assert power("1") == "PowerState/deallocated"
    vms.begin_start(rg, "ss", "1").result()
    assert power("1") == "PowerState/running"
    vms.begin_power_off(rg, "ss", "1").result()
    assert power("1") == "PowerState/stopped"
    vms.begin_delete(rg, "ss", "1").result()
    assert [i.instance_id for i in vms.list(rg, "ss")] == ["0"]
    assert compute.virtual_machine_scale_sets.get(rg, "ss").sku.capacity == 1


def test_instance_simulate_eviction_then_restart_when_capacity_allows(arm: ArmEmulator, compute: Any) -> None:
    rg, vms = arm.resource_group, compute.virtual_machine_scale_set_vms
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=1)).result()
    control(arm, "/clock", {"speed": 0})
    vms.simulate_eviction(rg, "ss", "0")
    control(arm, "/clock", {"advance": 30})
    assert "PowerState/deallocated" in [s.code for s in vms.get_instance_view(rg, "ss", "0").statuses]
    control(arm, "/clock", {"speed": 600})
    vms.begin_start(rg, "ss", "0").result()
    assert "PowerState/running" in [s.code for s in vms.get_instance_view(rg, "ss", "0").statuses]


def test_scale_out_without_capacity_fails_the_lro_with_the_allocation_error(arm: ArmEmulator, compute: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=1)).result()
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machine_scale_sets.begin_update(rg, "ss", {"sku": {"capacity": 2}}).result()
    assert err.value.error.code == "AllocationFailed"


def test_a_failed_instance_start_shows_failed_provisioning_until_a_start_succeeds(
    arm: ArmEmulator, compute: Any
) -> None:
    from azure.core.exceptions import HttpResponseError

    rg, vms = arm.resource_group, compute.virtual_machine_scale_set_vms
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "ss", vmss_body(arm, capacity=1)).result()
    vms.begin_deallocate(rg, "ss", "0").result()
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    with pytest.raises(HttpResponseError) as err:
        vms.begin_start(rg, "ss", "0").result()
    code = err.value.error.code
    assert code == "AllocationFailed"  # a zoneless scale set
    instance = vms.get(rg, "ss", "0", expand="instanceView")
    assert instance.provisioning_state == "Failed"
    assert [s.code for s in instance.instance_view.statuses] == [
        f"ProvisioningState/failed/{code}",
        "PowerState/deallocated",
    ]
    assert vms.get_instance_view(rg, "ss", "0").statuses[0].code == f"ProvisioningState/failed/{code}"
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 1})
    vms.begin_start(rg, "ss", "0").result()
    instance = vms.get(rg, "ss", "0", expand="instanceView")
    assert instance.provisioning_state == "Succeeded"
    assert [s.code for s in instance.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
