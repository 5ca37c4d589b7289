"""One record per eviction, whatever arrives when: the identity of a recovery end to end on localcloud."""

from __future__ import annotations

import json
import urllib.request
from email.utils import format_datetime
from typing import Any

import pytest

from orchestrator.domain.identity import recovery_id
from orchestrator.domain.models import VmRef
from tests.e2e.conftest import Stack
from tests.e2e.test_restart import _annotated
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e


def evict_now(stack: Stack, vm_id: str, notice: float = 0) -> None:
    control(stack.arm, "/evict", {"id": vm_id, "noticeSeconds": notice})


def test_three_signal_kinds_with_different_delays_make_one_recovery_that_lists_them_all(stack_factory: Any) -> None:
    stack: Stack = stack_factory(speed=0)
    stack.alert_group("eventGrid", delay=0)
    stack.alert_group("resourceHealthAlert", delay=120)
    stack.alert_group("activityLogAlert", delay=300)
    [vm_id] = stack.fleet(["three"])
    evict_now(stack, vm_id)
    out = stack.finished(vm_id, timeout=90)
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted")
    assert sorted(s["source"] for s in out["signals"]) == ["activity-log-alert", "event-grid", "resource-health-alert"]
    assert len(stack.recoveries(vm_id)) == 1 and stack.successful_starts() == 1
    assert all(d["status"] in (200, 202) for d in control(stack.arm, "/deliveries")["value"])


def test_the_same_eviction_reposted_after_it_finished_changes_nothing(stepped: Stack) -> None:
    stack = stepped
    [vm_id] = stack.fleet(["again"])
    evict_now(stack, vm_id)
    stack.wait(lambda: stack.power("again") == "PowerState/deallocated", what="the eviction")
    when = next(
        r["timestamp"] for r in control(stack.arm, "/activity-log")["value"] if "evictSpotVM" in r["operation_name"]
    )
    event = _annotated(vm_id, "eg-1", when)
    assert stack.post_alert([event])[0] == 202
    before = stack.finished(vm_id)
    status, body = stack.post_alert([event])  # the very same event again
    assert status == 200 and body["ignored"][0]["reason"] == "duplicate"
    status, body = stack.post_alert([_annotated(vm_id, "eg-2", when)])  # another report of that eviction, late
    assert status == 200 and body["ignored"][0]["reason"] == "late_signal"
    assert stack.recovery(vm_id) in body["ignored"][0]["detail"]
    assert stack.instance(stack.recovery(vm_id))["output"] == before and len(stack.recoveries(vm_id)) == 1


def test_a_second_eviction_later_gets_its_own_recovery_linked_to_the_first(stepped: Stack) -> None:
    stack = stepped
    stack.alert_group("eventGrid", delay=0)
    [vm_id] = stack.fleet(["twice"])
    evict_now(stack, vm_id)
    first = stack.finished(vm_id)
    assert first["outcome"] == "recovered" and first["previous"] is None
    stack.later(3600)
    evict_now(stack, vm_id)
    second = stack.finished(vm_id, seq=2)
    assert second["outcome"] == "recovered" and second["seq"] == 2
    assert second["previous"] == {
        "instanceId": stack.recovery(vm_id),
        "outcome": "recovered",
        "concludedAt": first["concludedAt"],
    }
    assert second["openedAfter"] == first["concludedAt"]
    assert stack.instance(stack.recovery(vm_id))["output"] == first  # the first record is untouched
    assert stack.successful_starts() == 2


def test_an_agent_notice_30_s_before_the_eviction_ends_recovered_not_already_running(stepped: Stack) -> None:
    stack = stepped
    [vm_id] = stack.fleet(["noticed"])
    evict_now(stack, vm_id, notice=30)  # Scheduled Events Preempt now, the eviction at NotBefore
    [event] = [e for e in _scheduled_events(stack, vm_id)["Events"] if e["EventType"] == "Preempt"]
    notice = {
        "schema": "respot.preempt/v1",
        "eventType": "Preempt",
        "eventId": event["EventId"],
        "resourceId": vm_id,
        "notBefore": event["NotBefore"],
        "observedAt": format_datetime(stack.arm.clock.now(), usegmt=True),
    }
    assert stack.post_alert(notice)[0] == 202
    out = stack.finished(vm_id)
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted")
    assert [s["source"] for s in out["signals"]] == ["in-vm-agent"]
    assert stack.power("noticed") == "PowerState/running"


def _scheduled_events(stack: Stack, vm_id: str) -> Any:
    req = urllib.request.Request(
        f"{stack.arm.url}/_imds{vm_id}/metadata/scheduledevents?api-version=2020-07-01", headers={"Metadata": "true"}
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def test_a_durable_management_call_naming_a_vm_outside_the_scope_makes_no_arm_call(stepped: Stack) -> None:
    stack = stepped
    outside = VmRef("99999999-9999-9999-9999-999999999999", "theirs", "x")
    signal = {
        "vm": outside.to_dict(),
        "source": "event-grid",
        "event_id": "forged",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    control(stack.arm, "/requests", method="DELETE")
    for iid, seq in ((recovery_id(outside, 1), 1), ("respot-forged-0001", 1)):
        url = f"{stack.host.url}/runtime/webhooks/durabletask/orchestrators/recover_vm/{iid}?code={stack.host.keys.system}"
        body = json.dumps({"signal": signal, "seq": seq, "previous": None}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as resp:
            assert resp.status == 202
    stack.wait(lambda: stack.instance("respot-forged-0001").get("runtimeStatus") == "Completed", what="the forged one")
    assert stack.instance("respot-forged-0001")["output"]["outcome"] == "rejected"
    stack.wait(lambda: stack.instance(recovery_id(outside, 1)).get("runtimeStatus") == "Completed", what="recovery")
    out = stack.instance(recovery_id(outside, 1))["output"]
    assert (out["outcome"], out["reason"]) == ("ignored", "out_of_scope")
    entries = control(stack.arm, "/requests")["entries"]
    assert [e for e in entries if not e["operation"].endswith("_ListAll")] == []  # the inventory sweep only lists
    assert all("99999999" not in e["path"] for e in entries)


def test_two_hundred_made_up_vm_ids_make_no_redeploy_decision(stepped: Stack) -> None:
    stack = stepped
    rg, sub = stack.arm.resource_group, stack.arm.subscription
    made_up = [
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/ghost-{i}"
        for i in range(200)
    ]
    status, body = stack.post_alert([_annotated(vm, f"g{i}") for i, vm in enumerate(made_up)])
    assert status == 202 and len(body["accepted"]) == 200
    outs = [stack.finished(vm, timeout=120) for vm in made_up]
    assert {(o["outcome"], o["reason"]) for o in outs} == {("not_found", "vm_missing")}
    assert stack.requests("VirtualMachines_CreateOrUpdate") == 0
