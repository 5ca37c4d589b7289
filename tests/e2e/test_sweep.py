"""The reconciliation sweep on localcloud with the real SDKs, with no alert delivered: an eviction whose alert was
lost is recovered within one period, a VM whose start failed for capacity is started again, a fleet member deleted
by an eviction is rebuilt, and what a person did (a deallocation, a deletion) stays done through sweep after sweep.
Every sweep leaves one record, respot-sweep-<minute>, whose output says what it found and what it did."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.models import parse_iso
from orchestrator.domain.sweep import sweep_id
from tests.e2e.conftest import Stack
from tests.e2e.test_redeploy import evict, fleets_file, members, replacements
from tests.e2e.test_scale_sets_and_users import _running
from tests.integration.helpers import control, vmss_body

pytestmark = pytest.mark.e2e
PERIOD = timedelta(minutes=5)
LOG_DELAY = timedelta(minutes=20)  # RESPOT_ACTIVITY_LOG_DELAY_MINUTES' default
WORKSPACE = {"RESPOT_LOG_WORKSPACE_ID": "respot-workspace"}


@pytest.fixture
def fleet_stack(stack_factory: Any, tmp_path: Path) -> Any:
    """A stack with the fleet 'web' (three Delete-policy members wanted) and the Activity Log; no alert group."""
    return lambda: stack_factory(RESPOT_FLEETS_FILE=fleets_file(tmp_path), **WORKSPACE)


def changed_at(stack: Stack, name: str) -> datetime:
    statuses = stack.compute.virtual_machines.instance_view(stack.arm.resource_group, name).statuses
    return next(s.time for s in statuses if s.code.startswith("ProvisioningState/"))


def records(stack: Stack) -> list[dict[str, Any]]:
    """The sweeps' records so far, oldest first."""
    found = [i for i in stack.instances() if i["instanceId"].startswith("respot-sweep-")]
    return sorted((stack.instance(i["instanceId"]) for i in found), key=lambda i: str(i["instanceId"]))


def found(stack: Stack, vm_id: str) -> list[dict[str, Any]]:
    """What each sweep's record says it found for the VM and where its signal went."""
    entries = [e for r in records(stack) for e in (r.get("output") or {}).get("found", [])]
    return [e for e in entries if e["vm"] == vm_id.lower()]


def test_an_eviction_whose_alert_was_lost_is_recovered_by_the_next_sweep(stack_factory: Any) -> None:
    stack: Stack = stack_factory(**WORKSPACE)  # no action group: no alert reaches respot
    [vm_id] = stack.fleet(["lost"])
    evict(stack, vm_id)
    stack.wait(lambda: stack.power("lost") == "PowerState/deallocated", what="the eviction")
    evicted_at = changed_at(stack, "lost")
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted")
    [signal] = out["signals"]
    assert signal["source"] == "sweep" and parse_iso(signal["occurredAt"], "t") == evicted_at
    # Within one period of the moment the Activity Log surely has the eviction (RESPOT_ACTIVITY_LOG_DELAY_MINUTES).
    assert LOG_DELAY <= parse_iso(out["startedAt"], "t") - evicted_at <= LOG_DELAY + PERIOD
    assert "evictSpotVM" in out["decision"]["detail"]  # a sweep restarts only on the platform's eviction record
    assert stack.power("lost") == "PowerState/running" and stack.successful_starts() == 1
    [entry] = found(stack, vm_id)[:1]
    assert (entry["finding"], entry["route"], entry["instanceId"]) == ("deallocated", "start", stack.recovery(vm_id))


def test_with_the_alert_delivered_the_sweep_leaves_its_recovery_at_work_and_never_starts_another(
    stack: Stack,
) -> None:
    stack.alert_group()
    [vm_id] = stack.fleet(["alerted"])
    stack.capacity(0)
    stack.wait(lambda: stack.phase(vm_id) == "waiting", what="the recovery to wait for capacity")
    stack.later(3 * PERIOD.total_seconds())  # three sweeps while it waits
    stack.capacity(1)
    out = stack.finished(vm_id)
    assert out["outcome"] == "recovered" and len(stack.recoveries(vm_id)) == 1
    routes = [e["route"] for e in found(stack, vm_id)]
    assert len(routes) >= 3 and set(routes) == {"recovering"}
    assert [s["source"] for s in out["signals"]] == ["activity-log-alert"]  # its history is not lengthened


def test_a_vm_its_owner_deallocated_stays_deallocated_through_ten_sweeps_with_one_recovery(
    stack_factory: Any,
) -> None:
    stack: Stack = stack_factory(**WORKSPACE)
    [vm_id] = stack.fleet(["mine"])
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_deallocate(stack.arm.resource_group, "mine", polling=False)
    stack.wait(lambda: stack.power("mine") == "PowerState/deallocated", what="the owner's deallocation")
    swept = len(records(stack))
    stack.wait(lambda: len(records(stack)) >= swept + 10, what="ten sweeps", within=11 * PERIOD.total_seconds())
    assert stack.power("mine") == "PowerState/deallocated" and stack.successful_starts() == 0
    [recovery] = stack.recoveries(vm_id)  # one recovery in ten sweeps: the same state is the same signal
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("ignored", "user_deallocated")
    routes = [e["route"] for e in found(stack, vm_id)]
    # The first sweeps hold the state until the Activity Log surely has the deallocation; then one start.
    assert len(routes) >= 10 - LOG_DELAY / PERIOD and routes[0] == "start" and set(routes[1:]) == {"duplicate"}
    assert recovery["instanceId"] == stack.recovery(vm_id)


def test_a_vm_its_owner_deallocated_then_tagged_an_hour_later_stays_deallocated_through_ten_sweeps(
    stack_factory: Any,
) -> None:
    stack: Stack = stack_factory(**WORKSPACE)
    [vm_id] = stack.fleet(["mine"])
    rg = stack.arm.resource_group
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_deallocate(rg, "mine", polling=False)
    stack.wait(lambda: stack.power("mine") == "PowerState/deallocated", what="the owner's deallocation")
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("ignored", "user_deallocated")
    stack.later(3600)
    before = changed_at(stack, "mine")
    owner.virtual_machines.begin_update(rg, "mine", {"tags": {"owner": "me"}}, polling=False)
    stack.wait(lambda: changed_at(stack, "mine") > before, what="the tag change to move the state's time")
    swept = len(records(stack))
    stack.wait(lambda: len(records(stack)) >= swept + 10, what="ten sweeps", within=11 * PERIOD.total_seconds())
    assert stack.power("mine") == "PowerState/deallocated" and stack.successful_starts() == 0
    second = stack.finished(vm_id, seq=2)  # the new state is a new signal: its recovery finds no eviction
    assert (second["outcome"], second["reason"]) == ("ignored", "no_eviction_record")
    assert len(stack.recoveries(vm_id)) == 2


def test_with_a_slow_activity_log_the_sweep_waits_for_it_a_person_is_seen_and_a_lost_member_is_rebuilt(
    fleet_stack: Any,
) -> None:
    stack: Stack = fleet_stack()
    control(stack.arm, "/log-analytics", {"ingestionDelaySeconds": 15 * 60})  # within the 20-minute margin
    [member] = members(stack, ["web-1"])
    [mine] = stack.fleet(["mine"])
    stack.later(PERIOD.total_seconds())  # a sweep puts the member on the roster
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_deallocate(stack.arm.resource_group, "mine", polling=False)
    evict(stack, member)  # a Delete-policy eviction whose alert is lost
    out = stack.finished(mine, timeout=120)
    assert (out["outcome"], out["reason"]) == ("ignored", "user_deallocated")  # the deallocate was in the log
    assert stack.power("mine") == "PowerState/deallocated" and stack.successful_starts() == 0
    rebuilt = stack.finished(member, timeout=120)
    assert (rebuilt["outcome"], rebuilt["reason"]) == ("recovered", "replaced"), rebuilt
    held = [p for r in records(stack) for p in (r.get("output") or {}).get("passed", []) if p["vm"] == member.lower()]
    assert held and {p["reason"] for p in held} == {"held_for_activity_log"}  # kept on the roster meanwhile


def test_a_vm_whose_start_failed_for_capacity_is_started_by_the_sweep_without_an_activity_log(
    stack: Stack,
) -> None:
    [vm_id] = stack.fleet(["flaky"])
    stack.capacity(0)  # the zone is reclaimed: the VM is evicted (deallocated), and no alert comes
    stack.wait(lambda: stack.power("flaky") == "PowerState/deallocated", what="the eviction")
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_start(stack.arm.resource_group, "flaky", polling=False)
    stack.wait(lambda: _failed(stack, "flaky"), what="the owner's start to fail")
    stack.capacity(1)
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted") and "AllocationFailed" in out["decision"][
        "detail"
    ]
    assert stack.power("flaky") == "PowerState/running"
    entries = found(stack, vm_id)
    assert [e["finding"] for e in entries if e["route"] == "start"] == ["failed_start"]
    # Before the failed start the sweep saw a deallocated VM and, with no Activity Log to tell who did it, left it.
    passed = [p for r in records(stack) for p in (r.get("output") or {}).get("passed", []) if p["vm"] == vm_id.lower()]
    assert {p["reason"] for p in passed} <= {"no_activity_log"}


def test_a_fleet_member_deleted_by_an_eviction_is_rebuilt_by_the_sweep(fleet_stack: Any) -> None:
    stack: Stack = fleet_stack()  # no alert group
    [vm_id] = members(stack, ["web-1"])
    evict(stack, vm_id)  # a Delete-policy eviction: the VM and its disks are gone
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("recovered", "replaced"), out
    assert [s["source"] for s in out["signals"]] == ["sweep"] and "evictSpotVM" in out["decision"]["detail"]
    [new] = replacements(stack)
    assert new.tags["respot:replaces"] == "web-1" and stack.power(new.name) == "PowerState/running"
    [entry] = [e for e in found(stack, vm_id) if e["route"] == "start"]
    assert entry["finding"] == "missing" and entry["fleet"] == "web"
    last = records(stack)[-1]["output"]
    assert last["fleets"]["web"]["listed"] == 1  # the replacement is the fleet's member now


def test_a_fleet_member_its_owner_deleted_is_not_rebuilt_and_the_recovery_says_why(fleet_stack: Any) -> None:
    stack: Stack = fleet_stack()
    [vm_id] = members(stack, ["web-1"])
    owner = stack.arm.compute_client(principal="owner@contoso.com", retry_total=0)
    owner.virtual_machines.begin_delete(stack.arm.resource_group, "web-1", polling=False)
    out = stack.finished(vm_id, timeout=120)
    assert (out["outcome"], out["reason"]) == ("ignored", "user_deleted")
    stack.later(3 * PERIOD.total_seconds())  # later sweeps do not try again: the roster no longer has it
    assert replacements(stack) == [] and len(stack.recoveries(vm_id)) == 1
    assert [e["route"] for e in found(stack, vm_id)] == ["start"]


def test_a_second_firing_of_the_same_occurrence_finds_the_record_and_does_nothing(stack: Stack) -> None:
    from localcloud.functions import aio
    from orchestrator.app import sweep as app

    stack.later(PERIOD.total_seconds())
    [first] = records(stack)
    at = parse_iso(first["output"]["at"], "at")
    assert first["instanceId"] == sweep_id(at) and first["runtimeStatus"] == "Completed"
    client = stack.host.management.client_binding()  # what a second instance of a scaled-out app would be given
    assert aio.call(app.run(_client(client), at)) is None
    assert len(records(stack)) == 1


def _client(raw: str) -> Any:
    import azure.durable_functions as df

    return df.DurableOrchestrationClient(raw)


def _failed(stack: Stack, name: str) -> bool:
    statuses = stack.compute.virtual_machines.instance_view(stack.arm.resource_group, name).statuses
    return any(s.code.startswith("ProvisioningState/failed/") for s in statuses or [])


def test_the_sweep_reads_each_subscription_three_times_whatever_the_number_of_vms(stack: Stack) -> None:
    stack.fleet([f"vm{i}" for i in range(6)])
    control(stack.arm, "/requests", method="DELETE")
    stack.later(PERIOD.total_seconds())
    counts = control(stack.arm, "/requests")["counts"]
    reads = {
        k: n for k, n in counts.items() if k.split()[0].startswith(("VirtualMachines_", "VirtualMachineScaleSets_"))
    }
    assert reads == {"VirtualMachines_ListAll 200": 2, "VirtualMachineScaleSets_ListAll 200": 1}


def _pool(stack: Stack, policy: str, capacity: int = 2) -> None:
    body = vmss_body(stack.arm, capacity=capacity, policy=policy)
    body["zones"] = ["1"]
    stack.compute.virtual_machine_scale_sets.begin_create_or_update(
        stack.arm.resource_group, "pool", body, polling=False
    )
    stack.wait(lambda: _running(stack, "pool") == capacity, what="the scale set")


def _instance_id(stack: Stack, iid: str) -> str:
    return f"/subscriptions/{stack.arm.subscription}/resourceGroups/{stack.arm.resource_group}/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/{iid}"


def test_a_uniform_instance_whose_alert_was_lost_is_restarted_through_the_scale_set_vm_api(stack_factory: Any) -> None:
    stack: Stack = stack_factory(**WORKSPACE)
    _pool(stack, "Deallocate")
    vm_id = _instance_id(stack, "0")
    evict(stack, vm_id)
    stack.wait(lambda: _running(stack, "pool") == 1, what="the eviction")
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted") and out["signals"][0]["source"] == "sweep"
    assert _running(stack, "pool") == 2 and stack.requests("VirtualMachineScaleSetVMs_Start") == 1


def test_a_delete_policy_set_whose_alerts_were_lost_gets_its_capacity_back(stack_factory: Any) -> None:
    stack: Stack = stack_factory(**WORKSPACE)
    rg = stack.arm.resource_group
    _pool(stack, "Delete", capacity=3)
    stack.later(PERIOD.total_seconds())  # a sweep puts the instances on the roster, the capacity in its entity
    evicting = stack.capacity(1)  # a recall takes two instances, with their disks
    assert len(evicting) == 2
    stack.wait(lambda: stack.compute.virtual_machine_scale_sets.get(rg, "pool").sku.capacity == 1, what="the loss")
    stack.capacity(3)
    outs = [stack.finished(vm_id, timeout=120) for vm_id in evicting]
    assert sorted(o["reason"] for o in outs) == ["capacity_restored", "wave_joined"]
    assert stack.compute.virtual_machine_scale_sets.get(rg, "pool").sku.capacity == 3
    assert all(o["signals"][0]["source"] == "sweep" for o in outs)
