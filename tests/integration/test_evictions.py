"""Evictions follow the eviction policy, for standalone VMs and scale-set instances, and raise alerts."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.arm import ArmEmulator
from localcloud.httpserver import Request, Response
from tests.conftest import Webhook
from tests.integration.helpers import control, power_state, raw, vm_body, vmss_body, wait_until

pytestmark = pytest.mark.integration

SIZE = "Standard_D2s_v5"


def create(arm: ArmEmulator, compute: Any, name: str, **kwargs: Any) -> Any:
    return compute.virtual_machines.begin_create_or_update(arm.resource_group, name, vm_body(arm, **kwargs)).result()


def exists(compute: Any, rg: str, name: str) -> bool:
    return any(v.name == name for v in compute.virtual_machines.list(rg))


def test_recall_deallocates_a_deallocate_policy_vm_after_a_preempt_notice(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, "vm1", zones=["1"])
    control(arm, "/clock", {"speed": 0})
    evicting = control(arm, "/capacity", {"region": "eastus", "zone": "1", "size": SIZE, "available": 0})["evicting"]
    assert [e.rsplit("/", 1)[-1] for e in evicting] == ["vm1"]
    assert power_state(compute, rg, "vm1") == "PowerState/running"  # the 30 s notice has not run out
    control(arm, "/clock", {"advance": 30})
    assert power_state(compute, rg, "vm1") == "PowerState/deallocated"
    vm = compute.virtual_machines.get(rg, "vm1")
    assert vm.provisioning_state == "Succeeded" and vm.storage_profile.os_disk.name  # disks kept


@pytest.mark.parametrize(("nic_option", "nics_left"), [("Delete", 0), (None, 1)])
def test_recall_deletes_a_delete_policy_vm_with_its_disks_and_a_nic_that_says_delete(
    arm: ArmEmulator, compute: Any, nic_option: str | None, nics_left: int
) -> None:
    rg = arm.resource_group
    body = vm_body(arm, policy="Delete")
    if nic_option:
        body["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["deleteOption"] = (
            nic_option
        )
    compute.virtual_machines.begin_create_or_update(rg, "vm1", body).result()
    state = control(arm, "/state")
    assert state["vms"][0]["localcloud"]["slot"] is not None and len(state["disks"]) == 1
    vm_id = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/vm1"
    control(arm, "/evict", {"id": vm_id})
    assert not exists(compute, rg, "vm1")
    state = control(arm, "/state")
    assert state["disks"] == []  # use-spot.md: "deleted together with their underlying disks"
    assert [n["vm"] for n in state["nics"]] == [None] * nics_left  # delete.md: NICs persist by default


def test_only_the_vms_beyond_capacity_are_evicted_newest_first(arm: ArmEmulator, compute: Any) -> None:
    for name in ("old", "mid", "new"):
        create(arm, compute, name, zones=["2"])
    control(arm, "/clock", {"speed": 0})
    evicting = control(arm, "/capacity", {"region": "eastus", "zone": "2", "size": SIZE, "available": 2})["evicting"]
    assert [e.rsplit("/", 1)[-1] for e in evicting] == ["new"]
    # Asking again while the notice runs does not pick a second victim.
    again = control(arm, "/capacity", {"region": "eastus", "zone": "2", "size": SIZE, "available": 2})["evicting"]
    assert again == []


def test_price_above_max_price_evicts_only_capped_vms(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, "capped", max_price=0.03)
    create(arm, compute, "uncapped", max_price=-1)
    control(arm, "/clock", {"speed": 0})
    evicting = control(arm, "/price", {"region": "eastus", "size": SIZE, "price": 0.05})["evicting"]
    assert [e.rsplit("/", 1)[-1] for e in evicting] == ["capped"]
    control(arm, "/clock", {"advance": 31})
    assert power_state(compute, rg, "capped") == "PowerState/deallocated"
    assert power_state(compute, rg, "uncapped") == "PowerState/running"
    rec = [r for r in control(arm, "/activity-log")["value"] if r["operation_name"].endswith("evictSpotVM/action")]
    assert rec[0]["properties"]["evictionReason"] == "price"


def test_scale_set_instances_follow_the_policy(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    compute.virtual_machine_scale_sets.begin_create_or_update(rg, "keep", vmss_body(arm, capacity=2)).result()
    compute.virtual_machine_scale_sets.begin_create_or_update(
        rg, "drop", vmss_body(arm, capacity=2, policy="Delete")
    ).result()
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets"
    control(arm, "/evict", {"id": f"{base}/keep/virtualMachines/0"})
    control(arm, "/evict", {"id": f"{base}/drop/virtualMachines/0"})
    view = compute.virtual_machine_scale_set_vms.get_instance_view(rg, "keep", "0")
    assert "PowerState/deallocated" in [s.code for s in view.statuses]
    assert compute.virtual_machine_scale_sets.get(rg, "keep").sku.capacity == 2  # deallocated still counts
    assert [v.instance_id for v in compute.virtual_machine_scale_set_vms.list(rg, "drop")] == ["1"]
    assert compute.virtual_machine_scale_sets.get(rg, "drop").sku.capacity == 1
    ops = [
        r["operation_name"]
        for r in control(arm, "/activity-log")["value"]
        if r["operation_name"].endswith("evictSpotVM/action")
    ]
    assert ops == ["Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action"] * 2


def test_simulate_eviction_is_a_user_action_followed_by_the_platform_eviction(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, "vm1")
    control(arm, "/clock", {"speed": 0})
    compute.virtual_machines.simulate_eviction(rg, "vm1")
    control(arm, "/clock", {"advance": 30})
    records = [(r["operation_name"].rsplit("/", 2)[-2], r["caller"]) for r in control(arm, "/activity-log")["value"]]
    assert ("simulateEviction", "respot@localcloud") in records
    assert ("evictSpotVM", "Microsoft.Compute") in records
    assert power_state(compute, rg, "vm1") == "PowerState/deallocated"


def test_evictions_raise_activity_log_and_resource_health_alerts_and_event_grid_events(
    arm: ArmEmulator, compute: Any, webhook: Webhook
) -> None:
    for kind in ("activityLogAlert", "resourceHealthAlert", "eventGrid", "cloudEvents"):
        control(arm, "/action-groups", {"name": kind, "url": webhook.url, "kind": kind, "delay_seconds": 60})
    create(arm, compute, "vm1")
    vm_id = compute.virtual_machines.get(arm.resource_group, "vm1").id
    control(arm, "/evict", {"id": vm_id})
    bodies = webhook.wait_for(4)
    alerts = [b for b in bodies if isinstance(b, dict) and b.get("schemaId") == "azureMonitorCommonAlertSchema"]
    services = sorted(a["data"]["essentials"]["monitoringService"] for a in alerts)
    assert services == ["Activity Log - Administrative", "Resource Health"]
    admin = next(a for a in alerts if a["data"]["essentials"]["monitoringService"].startswith("Activity"))
    assert admin["data"]["alertContext"]["operationName"] == "Microsoft.Compute/virtualMachines/evictSpotVM/action"
    assert admin["data"]["essentials"]["alertTargetIDs"] == [vm_id.lower()]
    grid = next(b for b in bodies if isinstance(b, list))
    assert grid[0]["eventType"] == "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
    assert grid[0]["data"]["resourceInfo"]["properties"]["annotationName"] == "VirtualMachinePreempted"
    cloud = next(b for b in bodies if isinstance(b, dict) and b.get("specversion") == "1.0")
    assert cloud["subject"] == vm_id


def test_user_deallocation_is_annotated_as_customer_initiated(arm: ArmEmulator, compute: Any, webhook: Webhook) -> None:
    control(
        arm,
        "/action-groups",
        {
            "name": "eg",
            "url": webhook.url,
            "kind": "eventGrid",
            "delay_seconds": 0,
            "annotations": ["VirtualMachineDeallocationInitiated"],
        },
    )
    create(arm, compute, "vm1")
    compute.virtual_machines.begin_deallocate(arm.resource_group, "vm1").result()
    props = webhook.wait_for(1)[0][0]["data"]["resourceInfo"]["properties"]
    assert (props["annotationName"], props["context"]) == ("VirtualMachineDeallocationInitiated", "Customer Initiated")


class FailsFirst(Webhook):
    """A receiver that answers 503 to its first ``failures`` deliveries, then 200: no race with the retries."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def _handle(self, req: Request) -> Response:
        self.status = 503 if len(self.bodies) < self.failures else 200
        return super()._handle(req)


def test_a_failing_webhook_is_retried_and_the_outcome_recorded(arm: ArmEmulator, compute: Any) -> None:
    webhook = FailsFirst(failures=2)
    webhook.server.start()
    try:
        control(
            arm, "/action-groups", {"name": "flaky", "url": webhook.url, "kind": "activityLogAlert", "delay_seconds": 0}
        )
        create(arm, compute, "vm1")
        control(arm, "/evict", {"id": compute.virtual_machines.get(arm.resource_group, "vm1").id})
        wait_until(lambda: bool(control(arm, "/deliveries")["value"]), what="the delivery outcome")
    finally:
        webhook.server.stop()
    outcome = control(arm, "/deliveries")["value"][0]
    assert (outcome["status"], outcome["attempts"]) == (200, 3)
    assert len(webhook.bodies) == 3


def test_scheduled_events_show_preempt_and_an_ack_evicts_at_once(arm: ArmEmulator, compute: Any) -> None:
    rg = arm.resource_group
    create(arm, compute, "vm1")
    vm_id = compute.virtual_machines.get(rg, "vm1").id
    imds = f"/_imds{vm_id}/metadata/scheduledevents?api-version=2020-07-01"
    status, _, doc = raw(arm, "GET", imds, token=None, headers={"Metadata": "true"})
    assert (status, doc["Events"]) == (200, [])
    control(arm, "/clock", {"speed": 0})
    control(arm, "/capacity", {"region": "eastus", "size": SIZE, "available": 0})
    _, _, doc = raw(arm, "GET", imds, token=None, headers={"Metadata": "true"})
    event = doc["Events"][0]
    assert (event["EventType"], event["EventStatus"], event["Resources"]) == ("Preempt", "Scheduled", ["vm1"])
    assert event["NotBefore"].endswith("GMT")
    assert raw(arm, "GET", imds, token=None)[0] == 400  # no Metadata header
    bad = raw(
        arm, "POST", imds, {"StartRequests": [{"EventId": "not-an-event"}]}, token=None, headers={"Metadata": "true"}
    )
    assert bad[0] == 400
    ack = raw(
        arm, "POST", imds, {"StartRequests": [{"EventId": event["EventId"]}]}, token=None, headers={"Metadata": "true"}
    )
    assert ack[0] == 200
    arm.backend.tick()
    assert power_state(compute, rg, "vm1") == "PowerState/deallocated"  # no need to wait for NotBefore
