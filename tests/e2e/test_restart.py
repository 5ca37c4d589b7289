"""Evictions in, VMs back: the Stop/Deallocate recovery end to end on localcloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e


def test_evicted_vms_restart_when_capacity_returns(stack: Stack) -> None:
    stack.alert_group()
    ids = stack.fleet(["a", "b"])
    assert len(stack.capacity(0)) == 2
    stack.wait(lambda: all(stack.phase(v) == "waiting" for v in ids), what="both to wait for capacity")
    assert stack.power("a") == "PowerState/deallocated"
    stack.capacity(2)
    for vm_id in ids:
        out = stack.finished(vm_id)
        assert (out["outcome"], out["reason"], out["decision"]["reason"]) == ("recovered", "evicted", "evicted")
        assert out["lastError"] is None and out["attempts"][0]["code"] == "ZonalAllocationFailed"
    assert stack.power("a") == stack.power("b") == "PowerState/running"


def test_capacity_absent_for_hours_keeps_history_bounded_and_recovers(stack_factory: Any) -> None:
    stack: Stack = stack_factory()
    stack.alert_group()
    [vm_id] = stack.fleet(["long"])
    stack.capacity(0)
    strategy = stack.recovery(vm_id) + ":restart"
    stack.wait(lambda: stack.strategy_status(vm_id).get("attempt", 0) >= 14, timeout=90, what="14 attempts (~3 hours)")
    assert len(stack.instance(strategy, history=True)["historyEvents"]) < 100  # continue-as-new keeps it short
    stack.capacity(1)
    out = stack.finished(vm_id, timeout=90)
    assert out["outcome"] == "recovered" and out["executions"] >= 2 and out["attemptCount"] >= 15
    capacity = out["attempts"][0]
    assert capacity["result"] == "capacity" and capacity["count"] >= 14  # every try is in the story
    assert len(json.dumps(out)) < 6000
    assert stack.successful_starts() == 1  # one restart, after hours of tries that found no capacity


def test_a_user_deallocation_is_left_alone(stack: Stack) -> None:
    stack.alert_group("eventGrid", delay=0)
    control(
        stack.arm,
        "/action-groups",
        {
            "name": "ops",
            "url": stack.alerts_url,
            "kind": "activityLogAlert",
            "delay_seconds": 0,
            "operations": ["/deallocate/action"],
            "annotations": [],
        },
    )
    control(
        stack.arm,
        "/action-groups",
        {
            "name": "rh",
            "url": stack.alerts_url,
            "kind": "eventGrid",
            "delay_seconds": 0,
            "annotations": ["VirtualMachineDeallocationInitiated"],
        },
    )
    stack.fleet(["mine"])
    stack.compute.virtual_machines.begin_deallocate(stack.arm.resource_group, "mine", polling=False)
    stack.wait(lambda: stack.power("mine") == "PowerState/deallocated", what="the deallocation")
    stack.wait(lambda: len(control(stack.arm, "/deliveries")["value"]) >= 2, what="the alerts to be delivered")
    assert all(d["status"] == 200 for d in control(stack.arm, "/deliveries")["value"])  # answered, and ignored
    assert stack.instances() == [] and stack.power("mine") == "PowerState/deallocated"
    assert stack.successful_starts() == 0


def _eviction_alert(stack: Stack) -> dict[str, Any]:
    from localcloud.arm.models import ActivityRecord
    from localcloud.arm.notifications import ActionGroup, activity_alert

    record = next(
        r for r in control(stack.arm, "/activity-log")["value"] if r["operation_name"].endswith("evictSpotVM/action")
    )
    when = record["timestamp"]
    from datetime import datetime

    at = datetime.fromisoformat(when)
    return activity_alert(ActionGroup("x", "http://x"), ActivityRecord(**{**record, "timestamp": at}))


def test_the_same_alert_ten_times_gives_one_recovery(stack: Stack) -> None:
    [vm_id] = stack.fleet(["dup"])
    stack.capacity(0)
    stack.wait(lambda: stack.power("dup") == "PowerState/deallocated", what="the eviction")
    alert = _eviction_alert(stack)
    answers = [stack.post_alert(alert) for _ in range(10)]
    routes = [a["accepted"][0]["route"] if a["accepted"] else a["ignored"][0]["reason"] for _, a in answers]
    assert routes[0] == "start" and set(routes[1:]) <= {"duplicate", "join"}
    stack.capacity(1)
    out = stack.finished(vm_id)
    assert out["outcome"] == "recovered" and len(out["signals"]) == 1
    assert len(stack.recoveries(vm_id)) == 1 and stack.successful_starts() == 1


def test_an_out_of_scope_alert_reaches_no_arm_call(stack: Stack) -> None:
    other = "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/theirs/providers/Microsoft.Compute/virtualMachines/x"
    wrong_rg = (
        f"/subscriptions/{stack.arm.subscription}/resourceGroups/not-ours/providers/Microsoft.Compute/virtualMachines/y"
    )
    control(stack.arm, "/requests", method="DELETE")
    for target in (other, wrong_rg):
        status, body = stack.post_alert([_annotated(target, "e")])
        assert status == 200 and body["ignored"][0]["reason"] == "out_of_scope"
    assert control(stack.arm, "/requests")["entries"] == [] and stack.instances() == []


def _annotated(target: str, event_id: str, when: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": "t",
        "subject": target,
        "eventType": "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
        "eventTime": when,
        "dataVersion": "1",
        "data": {
            "resourceInfo": {
                "properties": {
                    "targetResourceId": target,
                    "annotationName": "VirtualMachinePreempted",
                    "occurredTime": when,
                }
            }
        },
    }


def test_bad_input_is_a_400_with_a_reason_and_nothing_else_happens(stack: Stack) -> None:
    import urllib.error
    import urllib.request

    for data, problem in (
        (b"{nope", "not JSON"),
        (json.dumps({"schemaId": "azureMonitorCommonAlertSchema"}).encode(), "data must be an object"),
        (b"x" * 2_000_000, "limit"),
        (b"[" * 10_000 + b"]" * 10_000, "nested deeper"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested deeper"),
    ):
        req = urllib.request.Request(stack.alerts_url, data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        assert err.value.code == 400 and problem in json.loads(err.value.read())["error"]
    assert stack.instances() == []


def test_event_grid_and_cloud_events_handshakes(stack: Stack) -> None:
    import urllib.request

    status, body = stack.post_alert(
        [
            {
                "id": "1",
                "topic": "t",
                "subject": "",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "eventTime": "2026-01-01T00:00:00Z",
                "dataVersion": "2",
                "data": {"validationCode": "abc-123"},
            }
        ]
    )
    assert (status, body) == (200, {"validationResponse": "abc-123"})
    req = urllib.request.Request(
        stack.alerts_url, method="OPTIONS", headers={"WebHook-Request-Origin": "eventgrid.azure.net"}
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200 and resp.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_a_429_storm_is_absorbed(stack: Stack) -> None:
    stack.alert_group()
    [vm_id] = stack.fleet(["storm"])
    control(stack.arm, "/faults", {"error429": 0.6, "seed": 1, "path": "/virtualMachines/storm"})
    stack.capacity(0)
    stack.capacity(1)
    out = stack.finished(vm_id, timeout=90)
    injected = control(stack.arm, "/state")["faultsInjected"]
    control(stack.arm, "/faults", {"error429": 0})
    assert out["outcome"] == "recovered" and stack.power("storm") == "PowerState/running"
    assert injected > 0
    assert any(run["result"] == "throttled" for run in out["attempts"])  # waited out, and written down


def test_the_202_holds_instance_ids_only_never_a_url_with_a_key(stack: Stack) -> None:
    [vm_id] = stack.fleet(["keys"])
    status, body = stack.post_alert([_annotated(vm_id, "k1")])
    assert status == 202 and body["accepted"][0]["instanceId"] == stack.recovery(vm_id)
    text = json.dumps(body)
    assert "code=" not in text and "http" not in text and stack.host.keys.system not in text
