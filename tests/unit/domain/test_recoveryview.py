"""A recovery in operator terms (orchestrator.domain.recoveryview): finished from its output, running from its status
and its strategy's history."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.domain.fleet import parse_fleets
from orchestrator.domain.models import VmFacts, VmRef, VmStatus
from orchestrator.domain.recoveryview import fleet_view, is_recovery, summary, timeline
from tests.unit.domain.test_fleet import profile

VM = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.compute/virtualmachines/web"
IID = "respot-dd4ef94327cdeffa3ba3b227-0001"
SIGNAL = {
    "source": "activity-log-alert",
    "eventId": "e1",
    "occurredAt": "2026-12-01T12:03:20Z",
    "receivedAt": "2026-12-01T12:04:20Z",
}


def finished(**extra: Any) -> dict[str, Any]:
    output = {
        "vm": VM,
        "outcome": "recovered",
        "reason": "evicted",
        "detail": "running again",
        "decision": {"action": "restart", "reason": "evicted", "detail": "deallocated by a Spot eviction"},
        "strategy": f"{IID}:restart",
        "signals": [SIGNAL, {**SIGNAL, "source": "event-grid", "eventId": "e2", "occurredAt": "2026-12-01T12:03:30Z"}],
        "attempts": [
            {
                "action": "start",
                "result": "capacity",
                "code": "ZonalAllocationFailed",
                "message": "no capacity",
                "first": "2026-12-01T12:04:50Z",
                "last": "2026-12-01T12:20:50Z",
                "count": 3,
                "nextTry": "2026-12-01T12:30:00Z",
            },
            {
                "action": "start",
                "result": "succeeded",
                "code": "",
                "message": "",
                "first": "2026-12-01T12:30:01Z",
                "last": "2026-12-01T12:30:01Z",
                "count": 1,
                "nextTry": None,
            },
        ],
        "attemptCount": 4,
        "startedAt": "2026-12-01T12:04:20Z",
        "concludedAt": "2026-12-01T12:31:00Z",
        **extra,
    }
    return {
        "instanceId": IID,
        "runtimeStatus": "Completed",
        "output": output,
        "customStatus": {"phase": "done"},
        "createdTime": "2026-12-01T12:04:20Z",
        "lastUpdatedTime": "2026-12-01T12:36:00Z",
    }


def test_a_finished_recovery_reads_eviction_decision_failed_tries_timer_success_outcome_in_time_order() -> None:
    page = timeline(finished())
    kinds = [e["kind"] for e in page["events"]]
    assert kinds == ["eviction", "signal", "decision", "attempt-failed", "timer", "attempt-succeeded", "outcome"]
    failed = page["events"][3]
    assert (failed["code"], failed["count"], failed["title"]) == (
        "ZonalAllocationFailed",
        3,
        "start capacity ZonalAllocationFailed",
    )
    assert page["events"][-1]["outcome"] == "recovered" and page["vmName"] == "web" and not page["running"]
    assert page["attemptCount"] == 4 and page["lastError"] is None


def test_a_replacement_shows_its_ranked_candidates_and_what_replaced_what() -> None:
    ranking = {
        "choice": "cheapest",
        "ranked": [{"size": "D2", "region": "westus", "zone": "1", "price": 0.02, "score": 1.5}] * 12,
    }
    replacement = {"old": {"id": VM, "size": "D2"}, "new": {"id": VM + "-r1", "size": "D2", "region": "westus"}}
    page = timeline(finished(reason="replaced", ranking=ranking, replacement=replacement, detail=""))
    assert len(page["candidates"]) == 10 and page["candidates"][0]["price"] == 0.02 and page["choice"] == "cheapest"
    assert page["replacement"]["new"]["id"] == VM + "-r1"
    assert page["events"][-1]["detail"] == f"replaced by {VM}-r1"


def test_a_running_recovery_grows_from_its_strategys_history() -> None:
    signal = {
        "vm": {"subscription": "s1", "resource_group": "rg", "name": "web", "scale_set": None, "instance_id": None},
        "source": "activity-log-alert",
        "event_id": "e1",
        "occurred_at": "2026-12-01T12:03:20Z",
    }
    status = {
        "instanceId": IID,
        "runtimeStatus": "Running",
        "input": json.dumps({"seq": 1, "signal": signal}),
        "customStatus": {
            "phase": "recovering",
            "vm": VM,
            "signals": ["activity-log-alert:e1", "event-grid:e2"],
            "strategy": f"{IID}:restart",
        },
        "createdTime": "2026-12-01T12:04:20Z",
        "lastUpdatedTime": "2026-12-01T12:04:30Z",
    }
    failure = {"kind": "capacity", "code": "ZonalAllocationFailed", "message": "no capacity"}
    history = [
        {"EventType": "ExecutionStarted", "Timestamp": "2026-12-01T12:04:30Z"},
        {
            "EventType": "TaskCompleted",
            "FunctionName": "read_vm",
            "Timestamp": "2026-12-01T12:04:40Z",
            "Result": {"step": "ok"},
        },
        {
            "EventType": "TaskCompleted",
            "FunctionName": "try_start",
            "Timestamp": "2026-12-01T12:04:50Z",
            "Result": json.dumps({"step": "failed", "failure": failure}),
        },
        {"EventType": "TimerCreated", "Timestamp": "2026-12-01T12:04:50Z", "FireAt": "2026-12-01T12:05:44Z"},
    ]
    strategy = {
        "runtimeStatus": "Running",
        "customStatus": {"phase": "waiting", "attempt": 1},
        "historyEvents": history,
        "lastUpdatedTime": "2026-12-01T12:04:50Z",
    }
    page = timeline(status, strategy)
    assert [e["kind"] for e in page["events"]] == ["eviction", "signal", "attempt-failed", "timer", "phase"]
    assert page["events"][2]["code"] == "ZonalAllocationFailed" and page["events"][-1]["title"] == "now: waiting"
    assert page["running"] and page["vm"] == VM and page["attemptCount"] == 1 and page["lastError"] is None
    strategy["customStatus"] = {"phase": "waiting", "attempt": "many", "lastError": failure}
    again = timeline(status, strategy)
    assert again["attemptCount"] == 0 and again["lastError"] == failure  # what the strategy says, checked
    assert summary(status)["vmName"] == "web"


def test_untrusted_text_is_passed_on_as_bounded_text() -> None:
    evil = "<img src=x onerror=alert(1)>" * 100
    page = timeline(finished(detail=evil, lastError={"code": "<b>", "message": evil}))
    assert page["detail"].startswith("<img") and len(page["detail"]) == 500  # the page sets it as text
    assert page["lastError"] == {"kind": "", "code": "<b>", "message": evil[:500]}
    assert timeline({"instanceId": IID, "output": "not an object", "customStatus": 7})["events"][-1]["kind"] == "phase"


def test_only_recovery_ids_are_recoveries() -> None:
    assert is_recovery(IID)
    for other in (f"{IID}:restart", "respot-sweep-20261201T1205Z", "@limiter@s1", "respot-return-abc", None, 3):
        assert not is_recovery(other)


def test_the_fleet_view_counts_each_profiles_members_and_lists_every_vm() -> None:
    fleets = parse_fleets({"fleets": [profile(name="api", desired=2)]})

    def vm(name: str, status: VmStatus, tags: dict[str, str]) -> tuple[VmRef, VmFacts]:
        ref = VmRef("s1", "rg", name)
        return ref, VmFacts(
            True, status=status, priority="Spot", eviction_policy="Delete", size="D2", location="eastus", tags=tags
        )

    view = fleet_view(
        fleets,
        [
            vm("b", VmStatus.RUNNING, {}),
            vm("a2", VmStatus.DEALLOCATED, {"respot-fleet": "api"}),
            vm("a1", VmStatus.RUNNING, {"respot-fleet": "api"}),
        ],
    )
    assert view["fleets"] == [{"name": "api", "desired": 2, "members": 2, "running": 1}]
    assert [(v["name"], v["fleet"], v["status"]) for v in view["vms"]] == [
        ("a1", "api", "running"),
        ("a2", "api", "deallocated"),
        ("b", "", "running"),
    ]
