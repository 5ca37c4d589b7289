"""Virtual machines through the real azure-mgmt-compute client: every operation and both LRO outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import control, power_state, vm_body
from tests.live import Cloud

pytestmark = pytest.mark.integration


def create(arm: ArmEmulator, compute: Any, name: str, **kwargs: Any) -> Any:
    return compute.virtual_machines.begin_create_or_update(arm.resource_group, name, vm_body(arm, **kwargs)).result()


@pytest.mark.azure_live
def test_create_is_an_lro_that_ends_running_with_spot_settings(cloud: Cloud) -> None:
    compute, name = cloud.compute, cloud.name("vm1")
    poller = compute.virtual_machines.begin_create_or_update(cloud.resource_group, name, cloud.vm_body(zones=["2"]))
    assert poller.status().lower() in ("inprogress", "creating", "succeeded")
    vm = poller.result()
    assert vm.provisioning_state == "Succeeded"
    assert (vm.priority, vm.eviction_policy, vm.billing_profile.max_price) == ("Spot", "Deallocate", -1)
    assert vm.zones == ["2"]
    assert vm.os_profile.admin_password is None  # secrets never come back
    assert power_state(compute, cloud.resource_group, name) == "PowerState/running"


@pytest.mark.azure_live
def test_get_with_instance_view_and_the_instance_view_agree(cloud: Cloud) -> None:
    compute, rg, name = cloud.compute, cloud.resource_group, cloud.name("vm1")
    cloud.create("vm1")
    expanded = compute.virtual_machines.get(rg, name, expand="instanceView")
    codes = [s.code for s in expanded.instance_view.statuses]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [s.code for s in compute.virtual_machines.instance_view(rg, name).statuses] == codes


@pytest.mark.azure_live
def test_deallocate_start_and_power_off_move_the_power_state(cloud: Cloud) -> None:
    compute, rg, name = cloud.compute, cloud.resource_group, cloud.name("vm1")
    cloud.create("vm1")
    compute.virtual_machines.begin_deallocate(rg, name).result()
    assert power_state(compute, rg, name) == "PowerState/deallocated"
    compute.virtual_machines.begin_start(rg, name).result()
    assert power_state(compute, rg, name) == "PowerState/running"
    compute.virtual_machines.begin_power_off(rg, name).result()
    assert power_state(compute, rg, name) == "PowerState/stopped"
    compute.virtual_machines.begin_start(rg, name).result()
    assert power_state(compute, rg, name) == "PowerState/running"


def test_lists_by_resource_group_subscription_and_location(arm: ArmEmulator, compute: Any) -> None:
    create(arm, compute, "a", region="eastus")
    create(arm, compute, "b", region="westus2")
    assert sorted(v.name for v in compute.virtual_machines.list(arm.resource_group)) == ["a", "b"]
    assert sorted(v.name for v in compute.virtual_machines.list_all()) == ["a", "b"]
    assert [v.name for v in compute.virtual_machines.list_by_location("westus2")] == ["b"]


@pytest.mark.azure_live
def test_delete_removes_the_vm_and_deleting_again_is_harmless(cloud: Cloud) -> None:
    compute, rg, name = cloud.compute, cloud.resource_group, cloud.name("vm1")
    cloud.create("vm1")
    compute.virtual_machines.begin_delete(rg, name).result()
    with pytest.raises(ResourceNotFoundError) as err:
        compute.virtual_machines.get(rg, name)
    assert err.value.error.code == "ResourceNotFound"
    compute.virtual_machines.begin_delete(rg, name).result()  # 204: nothing to delete


def test_create_failure_arrives_through_the_lro_and_leaves_a_failed_vm(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/capacity", {"region": "eastus", "size": "Standard_D2s_v5", "available": 0})
    with pytest.raises(HttpResponseError) as err:
        create(arm, compute, "vm1")
    assert err.value.error.code == "AllocationFailed"
    assert "sufficient capacity" in err.value.error.message
    vm = compute.virtual_machines.get(arm.resource_group, "vm1", expand="instanceView")
    assert vm.provisioning_state == "Failed"
    assert vm.instance_view.statuses[0].code == "ProvisioningState/failed/AllocationFailed"


@pytest.mark.parametrize(("zones", "code"), [(["1"], "ZonalAllocationFailed"), (None, "AllocationFailed")])
def test_a_failed_start_leaves_the_vm_failed_and_deallocated_until_a_start_succeeds(
    arm: ArmEmulator, compute: Any, zones: list[str] | None, code: str
) -> None:
    rg, pool = arm.resource_group, {"region": "eastus", "size": "Standard_D2s_v5", **({"zone": "1"} if zones else {})}
    create(arm, compute, "vm1", zones=zones)
    compute.virtual_machines.begin_deallocate(rg, "vm1").result()
    control(arm, "/capacity", {**pool, "available": 0})
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_start(rg, "vm1").result()
    assert err.value.error.code == code
    vm = compute.virtual_machines.get(rg, "vm1", expand="instanceView")
    assert vm.provisioning_state == "Failed"
    failed, power = vm.instance_view.statuses
    assert (failed.code, failed.level, failed.display_status) == (
        f"ProvisioningState/failed/{code}",
        "Error",
        "Provisioning failed",
    )
    assert "sufficient capacity" in failed.message and failed.time is not None
    assert power.code == "PowerState/deallocated"
    assert [s.code for s in compute.virtual_machines.instance_view(rg, "vm1").statuses] == [failed.code, power.code]
    control(arm, "/capacity", {**pool, "available": 1})
    compute.virtual_machines.begin_start(rg, "vm1").result()
    vm = compute.virtual_machines.get(rg, "vm1", expand="instanceView")
    assert vm.provisioning_state == "Succeeded"
    assert [s.code for s in vm.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]


def test_a_deallocate_after_a_failed_start_clears_the_failure(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, "vm1")
    compute.virtual_machines.begin_deallocate(rg, "vm1").result()
    control(arm, "/faults", {"allocation": {"code": "AllocationFailed"}})
    with pytest.raises(HttpResponseError):
        compute.virtual_machines.begin_start(rg, "vm1").result()
    assert compute.virtual_machines.get(rg, "vm1").provisioning_state == "Failed"
    compute.virtual_machines.begin_deallocate(rg, "vm1").result()
    vm = compute.virtual_machines.get(rg, "vm1", expand="instanceView")
    assert vm.provisioning_state == "Succeeded"
    assert [s.code for s in vm.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/deallocated"]


def test_a_second_operation_while_one_runs_is_refused(arm: ArmEmulator, compute: Any) -> None:
    create(arm, compute, "vm1")
    control(arm, "/clock", {"speed": 0})  # freeze time so the deallocate stays in flight
    compute.virtual_machines.begin_deallocate(arm.resource_group, "vm1")
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_start(arm.resource_group, "vm1")
    assert err.value.status_code == 409
    assert err.value.error.code == "OperationNotAllowed"


@pytest.mark.azure_live
def test_max_price_can_be_raised_while_deallocated_but_not_while_running(cloud: Cloud) -> None:
    compute, rg, name = cloud.compute, cloud.resource_group, cloud.name("vm1")
    cloud.create("vm1", max_price=0.05)
    patch = {"properties": {"billingProfile": {"maxPrice": 0.08}}}
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_update(rg, name, patch).result()
    assert err.value.error.code == "MaxPriceChangeNotAllowedForAllocatedVMs"
    compute.virtual_machines.begin_deallocate(rg, name).result()
    vm = compute.virtual_machines.begin_update(rg, name, patch).result()
    assert vm.billing_profile.max_price == 0.08


def test_tags_update_through_put_and_the_activity_log_names_the_caller(arm: ArmEmulator, compute: Any) -> None:
    create(arm, compute, "vm1")
    body = vm_body(arm, tags={"respot:ignore": "true"})
    vm = compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm1", body).result()
    assert vm.tags == {"respot:ignore": "true"}
    records = control(arm, "/activity-log")["value"]
    writes = [r for r in records if r["operation_name"].endswith("virtualMachines/write")]
    assert {r["status"] for r in writes} == {"Started", "Succeeded"}
    assert {r["caller"] for r in writes} == {"respot@localcloud"}


def test_list_all_with_status_only_gives_every_instance_view_with_the_time_of_the_last_change(
    arm: ArmEmulator, compute: Any
) -> None:
    rg = arm.resource_group
    create(arm, compute, "vm1")
    create(arm, compute, "vm2")
    created = {s.code: s.time for s in compute.virtual_machines.instance_view(rg, "vm2").statuses}
    compute.virtual_machines.begin_deallocate(rg, "vm1").result()
    listed = {str(v.name): v for v in compute.virtual_machines.list_all(status_only="true")}
    assert set(listed) == {"vm1", "vm2"}
    views = {name: {s.code: s.time for s in v.instance_view.statuses} for name, v in listed.items()}
    assert set(views["vm1"]) == {"ProvisioningState/succeeded", "PowerState/deallocated"}
    assert views["vm1"]["ProvisioningState/succeeded"] > views["vm2"]["ProvisioningState/succeeded"]
    assert views["vm2"]["ProvisioningState/succeeded"] == created["ProvisioningState/succeeded"]  # unchanged: same time
    assert all(v.tags is None and v.hardware_profile is None for v in listed.values())  # the model is not in it
    assert all(v.instance_view is None for v in compute.virtual_machines.list_all())  # without it: the model only
