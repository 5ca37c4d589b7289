"""A replacement VM as respot would make one: from a template, in another region, zone or size, with an inline NIC
(networkInterfaceConfigurations + networkApiVersion), Spot or Regular, with data disks; refused or failed as
Azure would; a re-PUT is an update; and deleted again with what its deleteOptions say."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from localcloud.arm import ArmEmulator
from tests.integration.helpers import activity, control, graph, power_state, vm_body

pytestmark = pytest.mark.integration


def template(arm: ArmEmulator, **kwargs: Any) -> dict[str, Any]:
    """A replacement's body: an inline NIC that goes with the VM, an OS disk that goes, two data disks."""
    body = vm_body(arm, **kwargs)
    props = body["properties"]
    props["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["deleteOption"] = "Delete"
    props["storageProfile"]["osDisk"]["deleteOption"] = "Delete"
    props["storageProfile"]["dataDisks"] = [
        {"lun": 0, "createOption": "Empty", "diskSizeGB": 64, "deleteOption": "Delete"},
        {"lun": 1, "createOption": "Empty", "diskSizeGB": 128},  # Detach, the default
    ]
    return body


def put(arm: ArmEmulator, compute: Any, name: str, body: dict[str, Any]) -> Any:
    return compute.virtual_machines.begin_create_or_update(arm.resource_group, name, body).result()


def rows(arm: ArmEmulator, kind: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in graph(arm, f"resources | where type =~ '{kind}'")}


def error_of(call: Any) -> Any:
    with pytest.raises(HttpResponseError) as err:
        call()
    return err.value


def test_a_replacement_in_another_region_zone_and_size_and_its_clean_delete(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    vm = put(
        arm, compute, "repl", template(arm, region="westus2", zones=["3"], size="Standard_E4s_v5", policy="Delete")
    )
    assert (vm.location, vm.zones, vm.hardware_profile.vm_size) == ("westus2", ["3"], "Standard_E4s_v5")
    assert (vm.priority, vm.eviction_policy) == ("Spot", "Delete")
    (nic,) = vm.network_profile.network_interfaces  # the NIC the VM made, as the official create example shows
    assert nic.id.endswith("/networkInterfaces/repl-nic")
    nics = rows(arm, "microsoft.network/networkinterfaces")
    assert nics["repl-nic"]["properties"]["virtualMachine"]["id"] == vm.id
    assert nics["repl-nic"]["location"] == "westus2"
    assert "/vnet-westus2/" in nics["repl-nic"]["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
    data = {d.lun: d for d in vm.storage_profile.data_disks}
    assert (data[0].disk_size_gb, data[0].delete_option, data[1].delete_option) == (64, "Delete", "Detach")
    disks = rows(arm, "microsoft.compute/disks")
    assert {d["managedBy"] for d in disks.values()} == {vm.id} and len(disks) == 3
    assert {d["zones"][0] for d in disks.values()} == {"3"}
    compute.virtual_machines.begin_delete(rg, "repl").result()
    assert rows(arm, "microsoft.network/networkinterfaces") == {}
    (kept,) = rows(arm, "microsoft.compute/disks").values()
    assert kept["name"] == data[1].name and kept["managedBy"] == ""
    assert kept["properties"]["diskState"] == "Unattached"


def test_a_regular_replacement_is_held_to_its_family_and_regional_quota(arm: ArmEmulator, compute: Any) -> None:
    regular = {"priority": "Regular", "policy": None, "max_price": None, "size": "Standard_E4s_v5"}
    control(arm, "/quota", {"region": "eastus", "name": "standardESv5Family", "limit": 6})
    put(arm, compute, "r1", vm_body(arm, **regular))
    err = error_of(lambda: put(arm, compute, "r2", vm_body(arm, **regular)))
    assert (err.status_code, err.error.code) == (409, "OperationNotAllowed")
    assert "standardESv5Family Cores quota" in err.error.message and "Current Usage: 4" in err.error.message
    control(arm, "/quota", {"region": "eastus", "name": "cores", "limit": 4})
    err = error_of(
        lambda: put(arm, compute, "r3", vm_body(arm, region="eastus", priority="Regular", policy=None, max_price=None))
    )
    assert "Total Regional Cores quota" in err.error.message
    put(arm, compute, "spot", vm_body(arm))  # Spot is a separate pool (lowPriorityCores)
    usage = {u.name.value: u.current_value for u in compute.usage.list("eastus")}
    assert (usage["standardESv5Family"], usage["cores"], usage["lowPriorityCores"]) == (4, 4, 2)


def test_a_spot_replacement_is_held_to_low_priority_cores(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/quota", {"region": "westus2", "name": "lowPriorityCores", "limit": 4})
    err = error_of(lambda: put(arm, compute, "big", vm_body(arm, region="westus2", size="Standard_D8s_v5")))
    assert (err.status_code, err.error.code) == (409, "OperationNotAllowed")
    assert "LowPriorityCores" in err.error.message and "Additional Required: 8" in err.error.message
    assert [v.name for v in compute.virtual_machines.list(arm.resource_group)] == []


def test_a_size_restricted_in_one_zone_is_refused_there_and_never_placed_there(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/scenario", {"restrictions": [{"region": "eastus", "zone": "2", "size": "Standard_D2s_v5"}]})
    err = error_of(lambda: put(arm, compute, "z2", vm_body(arm, zones=["2"])))
    assert (err.status_code, err.error.code) == (409, "SkuNotAvailable")
    assert put(arm, compute, "z1", vm_body(arm, zones=["1"])).zones == ["1"]
    for i in range(6):
        put(arm, compute, f"any{i}", vm_body(arm))
    slots = {v["name"]: v["localcloud"]["slot"] for v in control(arm, "/state")["vms"]}
    assert "2" not in {slots[f"any{i}"] for i in range(6)}


def test_a_max_price_below_the_spot_price_elsewhere_is_refused(arm: ArmEmulator, compute: Any) -> None:
    control(arm, "/price", {"region": "westus2", "size": "Standard_D4s_v5", "price": 0.05})
    err = error_of(
        lambda: put(arm, compute, "cheap", vm_body(arm, region="westus2", size="Standard_D4s_v5", max_price=0.04))
    )
    assert (err.status_code, err.error.code) == (409, "SpotPriceGreaterThanProvidedMaxPrice")
    assert "'0.04 USD'" in err.error.message and "'0.05 USD'" in err.error.message


@pytest.mark.parametrize(
    ("zones", "pool_code", "code"),
    [
        (None, None, "AllocationFailed"),
        (["1"], None, "ZonalAllocationFailed"),
        (None, "OverconstrainedAllocationRequest", "OverconstrainedAllocationRequest"),
        (["1"], "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest"),
    ],
)
def test_an_empty_pool_fails_the_create_through_the_lro(
    arm: ArmEmulator, compute: Any, zones: list[str] | None, pool_code: str | None, code: str
) -> None:
    pool = {"region": "eastus", "size": "Standard_D2s_v5", "available": 0, **({"code": pool_code} if pool_code else {})}
    control(arm, "/capacity", pool)
    poller = compute.virtual_machines.begin_create_or_update(arm.resource_group, "vm", vm_body(arm, zones=zones))
    err = error_of(poller.result)
    assert err.error.code == code
    vm = compute.virtual_machines.get(arm.resource_group, "vm", expand="instanceView")
    assert vm.instance_view.statuses[0].code == f"ProvisioningState/failed/{code}"


def test_a_re_put_of_the_same_body_changes_nothing_and_makes_no_second_vm(arm: ArmEmulator, compute: Any) -> None:
    rg, body = arm.resource_group, template(arm)
    first = put(arm, compute, "repl", body)
    poller = compute.virtual_machines.begin_create_or_update(rg, "repl", template(arm))
    second = poller.result()
    assert [v.name for v in compute.virtual_machines.list(rg)] == ["repl"]
    assert (second.vm_id, second.time_created) == (first.vm_id, first.time_created)
    assert second.storage_profile.os_disk.name == first.storage_profile.os_disk.name
    assert second.storage_profile.os_disk.managed_disk.id == first.storage_profile.os_disk.managed_disk.id
    assert [d.managed_disk.id for d in second.storage_profile.data_disks] == [
        d.managed_disk.id for d in first.storage_profile.data_disks
    ]
    assert len(rows(arm, "microsoft.network/networkinterfaces")) == 1 and len(rows(arm, "microsoft.compute/disks")) == 3
    assert power_state(compute, rg, "repl") == "PowerState/running"
    assert [r["status"] for r in activity(arm, "virtualMachines/write")] == ["Started", "Succeeded"] * 2


def test_if_none_match_star_creates_only_and_leaves_an_existing_vm_untouched(arm: ArmEmulator, compute: Any) -> None:
    rg, body = arm.resource_group, template(arm)
    created = compute.virtual_machines.begin_create_or_update(
        rg, "only", body, match_condition=MatchConditions.IfMissing
    ).result()
    changed = {**body, "tags": {"changed": "yes"}}
    error = error_of(
        lambda: compute.virtual_machines.begin_create_or_update(
            rg, "only", changed, match_condition=MatchConditions.IfMissing
        )
    )
    assert (error.status_code, error.error.code) == (412, "PreconditionFailed")
    now = compute.virtual_machines.get(rg, "only")
    assert (now.vm_id, now.tags) == (created.vm_id, created.tags)  # not updated
    assert [r["status"] for r in activity(arm, "virtualMachines/write")] == ["Started", "Succeeded"]


def test_a_re_put_retries_a_create_that_failed_for_capacity(arm: ArmEmulator, compute: Any) -> None:
    rg, pool = arm.resource_group, {"region": "eastus", "size": "Standard_D2s_v5"}
    control(arm, "/capacity", {**pool, "available": 0})
    error_of(lambda: put(arm, compute, "vm", vm_body(arm)))
    assert compute.virtual_machines.get(rg, "vm").provisioning_state == "Failed"
    control(arm, "/capacity", {**pool, "available": 5})
    assert put(arm, compute, "vm", vm_body(arm)).provisioning_state == "Succeeded"
    assert power_state(compute, rg, "vm") == "PowerState/running"


def test_a_kept_data_disk_can_be_attached_to_the_next_vm_but_not_to_two(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    old = put(arm, compute, "old", template(arm))
    kept = next(d for d in old.storage_profile.data_disks if d.lun == 1).managed_disk.id
    compute.virtual_machines.begin_delete(rg, "old").result()
    body = vm_body(arm)
    body["properties"]["storageProfile"]["dataDisks"] = [
        {"lun": 0, "createOption": "Attach", "managedDisk": {"id": kept}}
    ]
    new = put(arm, compute, "new", body)
    assert new.storage_profile.data_disks[0].managed_disk.id == kept
    assert rows(arm, "microsoft.compute/disks")[kept.rsplit("/", 1)[-1]]["managedBy"] == new.id
    err = error_of(lambda: put(arm, compute, "third", body))
    assert (err.status_code, err.error.code) == (409, "OperationNotAllowed")


def test_a_new_disk_cannot_take_the_name_of_one_that_exists(arm: ArmEmulator, compute: Any) -> None:
    first = put(arm, compute, "a", vm_body(arm))
    body = vm_body(arm)
    body["properties"]["storageProfile"]["osDisk"]["name"] = first.storage_profile.os_disk.name
    err = error_of(lambda: put(arm, compute, "b", body))
    assert (err.status_code, err.error.code) == (409, "ConflictingUserInput")
    assert "Only CreateOption.Attach is supported." in err.error.message


def test_a_delete_policy_eviction_takes_every_disk_whatever_its_delete_option(arm: ArmEmulator, compute: Any) -> None:
    vm = put(arm, compute, "spot", template(arm, policy="Delete"))
    control(arm, "/evict", {"id": vm.id})
    assert rows(arm, "microsoft.compute/disks") == {}  # use-spot.md: "deleted together with their underlying disks"
    assert rows(arm, "microsoft.network/networkinterfaces") == {}


def test_a_referenced_nic_stays_unless_its_reference_says_delete(arm: ArmEmulator, compute: Any) -> None:
    rg, sub = arm.resource_group, arm.subscription
    nic_ids = [
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/n{i}" for i in (1, 2)
    ]
    control(arm, "/scenario", {"nics": [{"id": n, "region": "eastus"} for n in nic_ids]})
    for i, (nic, option) in enumerate(zip(nic_ids, ("Delete", "Detach"), strict=True)):
        body = vm_body(arm)
        body["properties"]["networkProfile"] = {
            "networkInterfaces": [{"id": nic, "properties": {"deleteOption": option}}]
        }
        put(arm, compute, f"vm{i}", body)
        compute.virtual_machines.begin_delete(rg, f"vm{i}").result()
    assert set(rows(arm, "microsoft.network/networkinterfaces")) == {"n2"}


def test_what_is_kept_by_default_and_a_patch_that_changes_it(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    put(arm, compute, "keep", vm_body(arm))  # no deleteOption anywhere: delete.md's "persisted by default"
    compute.virtual_machines.begin_delete(rg, "keep").result()
    assert set(rows(arm, "microsoft.network/networkinterfaces")) == {"keep-nic"}
    assert len(rows(arm, "microsoft.compute/disks")) == 1
    put(arm, compute, "tidy", vm_body(arm))
    configs = vm_body(arm)["properties"]["networkProfile"]["networkInterfaceConfigurations"]
    configs[0]["properties"]["deleteOption"] = "Delete"  # an array replaces the stored one whole (merge patch)
    patch = {
        "properties": {
            "storageProfile": {"osDisk": {"deleteOption": "Delete"}},
            "networkProfile": {"networkInterfaceConfigurations": configs},
        }
    }
    patched = compute.virtual_machines.begin_update(
        rg, "tidy", patch
    ).result()  # delete.md: "Update the delete behavior"
    assert patched.storage_profile.os_disk.delete_option == "Delete"
    compute.virtual_machines.begin_delete(rg, "tidy").result()
    assert set(rows(arm, "microsoft.network/networkinterfaces")) == {"keep-nic"}
    assert len(rows(arm, "microsoft.compute/disks")) == 1


def test_a_flexible_sets_vms_take_their_disks_and_nics_with_them(arm: ArmEmulator, compute: Any) -> None:
    from tests.integration.helpers import vmss_body

    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(
        rg, "flex", vmss_body(arm, capacity=1, flexible=True)
    ).result()
    (member,) = compute.virtual_machines.list(rg)
    assert member.storage_profile.os_disk.delete_option == "Delete"  # delete.md: Flexible sets default to Delete
    assert len(rows(arm, "microsoft.compute/disks")) == 1 and len(rows(arm, "microsoft.network/networkinterfaces")) == 1
    compute.virtual_machines.begin_delete(rg, member.name).result()
    assert rows(arm, "microsoft.compute/disks") == {} and rows(arm, "microsoft.network/networkinterfaces") == {}
