"""Resource Graph's Resources table: VMs, scale sets, autoscale settings, disks and NICs in ARG's row shape, and the
queries respot runs to leave alone a set that the platform restores or that autoscale drives."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from tests.integration.helpers import autoscale_body, graph, raw, vm_body, vmss_body

pytestmark = pytest.mark.integration


@pytest.fixture
def world(arm: ArmEmulator, compute: Any) -> dict[str, Any]:
    """A restoring Uniform set, an autoscaled Flexible set, a plain Delete-policy set and a VM."""
    rg, sets = arm.resource_group, compute.virtual_machine_scale_sets
    restoring = sets.begin_create_or_update(
        rg, "restoring", vmss_body(arm, capacity=2, restore={"enabled": True, "restoreTimeout": "PT1H"})
    ).result()
    scaled = sets.begin_create_or_update(rg, "scaled", vmss_body(arm, capacity=1, flexible=True)).result()
    plain = sets.begin_create_or_update(rg, "plain", vmss_body(arm, capacity=1, policy="Delete")).result()
    compute.virtual_machines.begin_create_or_update(rg, "alone", vm_body(arm)).result()
    path = f"/subscriptions/{arm.subscription}/resourcegroups/{rg}/providers/Microsoft.Insights/autoscalesettings/auto?api-version=2022-10-01"
    assert raw(arm, "PUT", path, autoscale_body(scaled.id, minimum=1, maximum=3, default=1))[0] == 201
    return {"restoring": restoring, "scaled": scaled, "plain": plain}


def test_rows_have_every_arg_column_and_its_spellings(arm: ArmEmulator, world: dict[str, Any]) -> None:
    rows = graph(arm, "resources | order by id asc")
    types = sorted({r["type"] for r in rows})
    assert types == [
        "microsoft.compute/disks",
        "microsoft.compute/virtualmachines",
        "microsoft.compute/virtualmachinescalesets",
        "microsoft.insights/autoscalesettings",
        "microsoft.network/networkinterfaces",
    ]
    columns = {"id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy"}
    columns |= {"sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"}
    assert all(set(r) == columns for r in rows)
    assert {r["resourceGroup"] for r in rows} == {arm.resource_group.lower()}
    assert {r["subscriptionId"] for r in rows} == {arm.subscription}
    vms = [r["name"] for r in rows if r["type"] == "microsoft.compute/virtualmachines"]
    assert "alone" in vms and not any(n.startswith("restoring_") for n in vms)  # Uniform instances are not rows


def test_scale_sets_carry_restore_policy_orchestration_and_capacity(arm: ArmEmulator, world: dict[str, Any]) -> None:
    query = (
        "resources | where type =~ 'microsoft.compute/virtualmachinescalesets' "
        "| project name, mode = tostring(properties.orchestrationMode), capacity = toint(sku.capacity), "
        "restore = tobool(properties.spotRestorePolicy.enabled), timeout = tostring(properties.spotRestorePolicy.restoreTimeout) "
        "| order by name asc"
    )
    assert graph(arm, query) == [
        {"name": "plain", "mode": "Uniform", "capacity": 1, "restore": None, "timeout": ""},
        {"name": "restoring", "mode": "Uniform", "capacity": 2, "restore": True, "timeout": "PT1H"},
        {"name": "scaled", "mode": "Flexible", "capacity": 1, "restore": None, "timeout": ""},
    ]


def test_the_set_the_platform_restores_is_found(arm: ArmEmulator, world: dict[str, Any]) -> None:
    query = (
        "resources | where type =~ 'microsoft.compute/virtualmachinescalesets' "
        "| where properties.spotRestorePolicy.enabled == true | project id"
    )
    assert graph(arm, query) == [{"id": world["restoring"].id}]
    # The path of use-spot.md's template (inside virtualMachineProfile) is not where Azure keeps the policy.
    wrong = query.replace("properties.spotRestorePolicy", "properties.virtualMachineProfile.spotRestorePolicy")
    assert graph(arm, wrong) == []


def test_the_autoscale_setting_of_a_set_is_found_by_its_target(arm: ArmEmulator, world: dict[str, Any]) -> None:
    target = world["scaled"].id.lower()  # =~ ignores case, as ARM ids are case-insensitive
    query = (
        "resources | where type =~ 'microsoft.insights/autoscalesettings' "
        f"| where properties.targetResourceUri =~ '{target}' "
        "| project name, location, enabled = properties.enabled, target = tostring(properties.targetResourceUri)"
    )
    assert graph(arm, query) == [{"name": "auto", "location": "eastus", "enabled": True, "target": world["scaled"].id}]
    assert graph(arm, query.replace(target, world["plain"].id)) == []


def test_one_query_tells_which_sets_respot_may_restore(arm: ArmEmulator, world: dict[str, Any]) -> None:
    query = """resources
    | where type =~ 'microsoft.compute/virtualmachinescalesets'
    | extend key = tolower(id), restores = tobool(properties.spotRestorePolicy.enabled)
    | join kind=leftouter (
        resources
        | where type =~ 'microsoft.insights/autoscalesettings' and properties.enabled == true
        | project key = tolower(tostring(properties.targetResourceUri)), autoscale = name
      ) on key
    | where restores != true and isempty(autoscale)
    | project name"""
    assert graph(arm, query) == [{"name": "plain"}]


def test_disks_and_nics_name_the_vm_that_holds_them(arm: ArmEmulator, world: dict[str, Any]) -> None:
    alone = next(r for r in graph(arm, "resources | where name == 'alone'"))
    query = f"resources | where type =~ 'microsoft.compute/disks' | where managedBy =~ '{alone['id']}' | count"
    assert graph(arm, query) == [{"Count": 1}]
    nic = graph(arm, "resources | where type =~ 'microsoft.network/networkinterfaces' | where name == 'alone-nic'")
    assert nic[0]["properties"]["virtualMachine"]["id"] == alone["id"]
    assert graph(arm, "resources | where sku.capacity > 1 | project name") == [{"name": "restoring"}]
