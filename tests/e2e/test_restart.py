"""Evictions in, VMs back: the Stop/Deallocate recovery end to end on localcloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e


def recovery_of(stack: Stack, vm_id: str) -> str:
    from orchestrator.domain.resources import parse_vm_id

    return parse_vm_id(vm_id).instance_id_for_recovery


def test_evicted_vms_restart_when_capacity_returns(stack: Stack) -> None:
    stack.alert_group()
    ids = stack.fleet(["a", "b"])
    assert len(stack.capacity(0)) == 2
    stack.wait(lambda: len(stack.instances()) == 2, what="two recoveries to start from the alerts")
    stack.wait(
        lambda: all((i.get("customStatus") or {}).get("phase") == "waiting" for i in stack.instances()),
        what="both to wait for capacity",
    )
    assert stack.power("a") == "PowerState/deallocated"
    stack.capacity(2)
    for vm_id in ids:
        stack.wait(
            lambda v=vm_id: stack.instance(recovery_of(stack, v)).get("runtimeStatus") == "Completed", what="recovery"
        )
        done = stack.instance(recovery_of(stack, vm_id))
        assert done["output"]["outcome"] == "recovered" and done["output"]["decision"]["reason"] == "evicted"
    assert stack.power("a") == stack.power("b") == "PowerState/running"


def test_capacity_absent_for_hours_keeps_history_bounded_and_recovers(stack_factory: Any) -> None:
    stack: Stack = stack_factory(speed=4000.0)
    stack.alert_group()
    [vm_id] = stack.fleet(["long"])
    stack.capacity(0)
    instance_id = recovery_of(stack, vm_id)
    stack.wait(
        lambda: (stack.instance(instance_id).get("customStatus") or {}).get("attempt", 0) >= 14,
        timeout=90,
        what="14 attempts (~3 simulated hours)",
    )
    current = stack.instance(instance_id, history=True)
    assert len(current["historyEvents"]) < 100  # continue-as-new keeps each execution short
    stack.capacity(1)
    stack.wait(lambda: stack.instance(instance_id).get("runtimeStatus") == "Completed", timeout=60, what="recovery")
    out = stack.instance(instance_id)["output"]
    assert out["outcome"] == "recovered" and out["executions"] >= 3 and out["attempts"] >= 15
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
    stack.compute.virtual_machines.begin_deallocate(stack.arm.resource_group, "mine").result()
    stack.wait(lambda: len(control(stack.arm, "/deliveries")["value"]) >= 2, what="the alerts to be delivered")
    assert all(d["status"] == 200 for d in control(stack.arm, "/deliveries")["value"])  # answered, and ignored
    assert stack.instances() == [] and stack.power("mine") == "PowerState/deallocated"
    assert stack.successful_starts() == 0


def test_the_same_alert_ten_times_gives_one_recovery(stack: Stack) -> None:
    [vm_id] = stack.fleet(["dup"])
    stack.capacity(0)
    stack.wait(lambda: stack.power("dup") == "PowerState/deallocated", what="the eviction")
    record = next(
        r for r in control(stack.arm, "/activity-log")["value"] if r["operation_name"].endswith("evictSpotVM/action")
    )
    from localcloud.arm.models import ActivityRecord
    from localcloud.arm.notifications import ActionGroup, activity_alert

    alert = activity_alert(
        ActionGroup("x", "http://x"), ActivityRecord(**{**record, "timestamp": stack.arm.clock.now()})
    )
    answers = [stack.post_alert(alert) for _ in range(10)]
    assert {status for status, _ in answers} == {202}
    assert [a["accepted"][0]["joined"] for _, a in answers].count(False) == 1
    assert {a["accepted"][0]["instanceId"] for _, a in answers} == {recovery_of(stack, vm_id)}
    stack.capacity(1)
    stack.wait(lambda: stack.instance(recovery_of(stack, vm_id)).get("runtimeStatus") == "Completed", what="recovery")
    assert len(stack.instances()) == 1 and stack.successful_starts() == 1


def test_an_out_of_scope_alert_reaches_no_arm_call(stack: Stack) -> None:
    other = "/subscriptions/99999999-9999-9999-9999-999999999999/resourceGroups/theirs/providers/Microsoft.Compute/virtualMachines/x"
    wrong_rg = (
        f"/subscriptions/{stack.arm.subscription}/resourceGroups/not-ours/providers/Microsoft.Compute/virtualMachines/y"
    )
    control(stack.arm, "/requests", method="DELETE")
    for target in (other, wrong_rg):
        event = {
            "id": "e",
            "topic": "t",
            "subject": target,
            "eventType": "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
            "eventTime": "2026-01-01T00:00:00Z",
            "dataVersion": "1",
            "data": {
                "resourceInfo": {
                    "properties": {
                        "targetResourceId": target,
                        "annotationName": "VirtualMachinePreempted",
                        "occurredTime": "2026-01-01T00:00:00Z",
                    }
                }
            },
        }
        status, body = stack.post_alert([event])
        assert status == 200 and body["ignored"][0]["reason"] == "out_of_scope"
    assert control(stack.arm, "/requests")["entries"] == [] and stack.instances() == []


def test_bad_input_is_a_400_with_a_reason_and_nothing_else_happens(stack: Stack) -> None:
    import urllib.error
    import urllib.request

    for data, problem in (
        (b"{nope", "not JSON"),
        (json.dumps({"schemaId": "azureMonitorCommonAlertSchema"}).encode(), "data must be an object"),
        (b"x" * 2_000_000, "limit"),
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
    stack.wait(
        lambda: stack.instance(recovery_of(stack, vm_id)).get("runtimeStatus") == "Completed",
        timeout=90,
        what="recovery through the storm",
    )
    assert stack.instance(recovery_of(stack, vm_id))["output"]["outcome"] in ("recovered", "ignored")
    assert stack.power("storm") == "PowerState/running"
    assert control(stack.arm, "/state")["faultsInjected"] > 0
    assert (
        stack.requests("VirtualMachines_Get") + stack.requests("VirtualMachines_Start")
        > control(stack.arm, "/state")["faultsInjected"]
    )


def test_a_second_eviction_starts_a_new_run_that_remembers_the_first(stack: Stack) -> None:
    stack.alert_group()
    [vm_id] = stack.fleet(["twice"])
    recovery = recovery_of(stack, vm_id)
    stack.capacity(0)
    stack.wait(
        lambda: (stack.instance(recovery).get("customStatus") or {}).get("phase") == "waiting",
        what="the first recovery to wait",
    )
    stack.capacity(1)
    stack.wait(lambda: stack.instance(recovery).get("runtimeStatus") == "Completed", what="the first recovery")
    first = stack.instance(recovery)["output"]
    assert first["outcome"] == "recovered" and first["previous"] is None
    stack.capacity(0)
    stack.wait(
        lambda: (
            (stack.instance(recovery).get("output") or {}).get("previous") is not None
            or stack.instance(recovery).get("runtimeStatus") == "Running"
        ),
        what="the second recovery",
    )
    stack.capacity(1)
    stack.wait(
        lambda: (stack.instance(recovery).get("output") or {}).get("previous") is not None,
        what="the second recovery to finish",
    )
    second = stack.instance(recovery)["output"]
    assert second["outcome"] == "recovered"
    assert second["previous"] == {
        "runtimeStatus": "Completed",
        "outcome": "recovered",
        "attempts": first["attempts"],
        "finishedAt": first["finishedAt"],
    }
