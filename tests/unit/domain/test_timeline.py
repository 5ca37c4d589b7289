"""orchestrator.domain.timeline: the management API's JSON in the operator's terms (rows and a timeline)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain import timeline

VM = "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg/providers/microsoft.compute/virtualmachines/web-1"
ID = "respot-0123456789abcdef01234567-0002"


def completed(**extra: Any) -> dict[str, Any]:
    output = {
        "recovery": ID,
        "seq": 2,
        "vm": VM,
        "outcome": "recovered",
        "reason": "evicted",
        "detail": "running again",
        "decision": {"action": "restart", "reason": "evicted", "detail": "deallocated by a Spot eviction"},
        "strategy": f"{ID}:restart",
        "signals": [
            {
                "source": "event-grid",
                "eventId": "e-1",
                "occurredAt": "2026-12-01T12:00:00Z",
                "receivedAt": "2026-12-01T12:00:30Z",
            }
        ],
        "attempts": [
            {
                "action": "start",
                "result": "capacity",
                "code": "ZonalAllocationFailed",
                "message": "no room",
                "first": "2026-12-01T12:01:00Z",
                "last": "2026-12-01T12:20:00Z",
                "count": 4,
                "nextTry": "2026-12-01T12:35:00Z",
            },
            {
                "action": "start",
                "result": "succeeded",
                "code": "",
                "message": "",
                "first": "2026-12-01T12:35:00Z",
                "last": "2026-12-01T12:35:00Z",
                "count": 1,
            },
        ],
        "attemptCount": 5,
        "concludedAt": "2026-12-01T12:36:00Z",
        "previous": {"instanceId": ID[:-1] + "1", "outcome": "recovered", "concludedAt": "2026-11-30T10:00:00Z"},
        **extra,
    }
    return {
        "instanceId": ID,
        "runtimeStatus": "Completed",
        "customStatus": {"phase": "done"},
        "output": output,
        "createdTime": "2026-12-01T12:00:31Z",
    }


def test_only_recovery_ids_are_recoveries() -> None:
    assert timeline.is_recovery(ID)
    for other in (
        f"{ID}:restart",
        f"{ID}:observe-1",
        "respot-sweep-202612011200",
        "respot-return-0123456789abcdef01234567",
    ):
        assert not timeline.is_recovery(other)


def test_a_completed_recovery_is_a_row_from_its_output() -> None:
    row = timeline.recovery_row(completed())
    assert (row.vm_name, row.seq, row.outcome, row.reason, row.signals, row.attempts) == (
        "web-1",
        2,
        "recovered",
        "evicted",
        1,
        5,
    )
    assert not row.running and not row.failed
    assert timeline.recovery_row(completed(outcome="gave_up", reason="deadline")).failed


def test_a_settling_recovery_is_not_running_and_a_working_one_is() -> None:
    live = {
        "instanceId": ID,
        "runtimeStatus": "Running",
        "customStatus": {"phase": "recovering", "vm": VM, "seq": 2, "signals": ["event-grid:e-1"]},
    }
    assert timeline.recovery_row(live).running and timeline.recovery_row(live).phase == "recovering"
    settling = {
        **live,
        "customStatus": {
            **live["customStatus"],
            "phase": "settling",
            "concludedAt": "2026-12-01T12:36:00Z",
            "outcome": "recovered",
            "reason": "evicted",
        },
    }
    row = timeline.recovery_row(settling)
    assert not row.running and row.outcome == "recovered"


def test_the_timeline_orders_signals_decision_attempts_and_outcome_and_links_the_others() -> None:
    recovery = completed()
    recovery["historyEvents"] = [
        {
            "EventType": "SubOrchestrationInstanceCompleted",
            "Timestamp": "2026-12-01T12:00:40Z",
            "Result": {
                "read": {
                    "step": "ok",
                    "facts": {
                        "exists": True,
                        "status": "deallocated",
                        "priority": "Spot",
                        "eviction_policy": "Deallocate",
                        "size": "Standard_D2s_v5",
                        "location": "eastus",
                        "zone": "1",
                    },
                }
            },
        },
        {"EventType": "TimerCreated", "Timestamp": "2026-12-01T12:36:00Z", "FireAt": "2026-12-01T12:51:00Z"},
    ]
    strategy = {
        "instanceId": f"{ID}:restart",
        "runtimeStatus": "Completed",
        "historyEvents": [
            {"EventType": "TimerCreated", "Timestamp": "2026-12-01T12:05:00Z", "FireAt": "2026-12-01T12:20:00Z"}
        ],
    }
    other = {
        "instanceId": ID[:-1] + "1",
        "runtimeStatus": "Completed",
        "output": {"vm": VM, "seq": 1, "outcome": "recovered", "reason": "evicted"},
    }
    story = timeline.timeline(recovery, strategy, [recovery, other])
    kinds = [r["kind"] for r in story["rows"]]
    assert kinds == ["signal", "look", "decision", "attempt", "timer", "attempt", "outcome", "timer"]
    texts = [r["text"] for r in story["rows"]]
    assert "start -> capacity ZonalAllocationFailed x4 (until 12:20:00), next try 12:35:00: no room" in texts
    assert "restart waits until 12:20:00" in texts and "recovered / evicted: running again" in texts
    assert story["previous"]["instanceId"] == other["instanceId"]
    assert [o["instanceId"] for o in story["others"]] == [other["instanceId"]]


def test_a_running_strategy_shows_its_arm_steps_and_where_it_waits() -> None:
    recovery = {
        "instanceId": ID,
        "runtimeStatus": "Running",
        "createdTime": "2026-12-01T12:00:31Z",
        "customStatus": {
            "phase": "recovering",
            "vm": VM,
            "seq": 2,
            "signals": ["event-grid:e-1"],
            "strategy": f"{ID}:restart",
        },
    }
    failed = {"step": "failed", "failure": {"kind": "capacity", "code": "AllocationFailed", "message": "m"}}
    strategy = {
        "instanceId": f"{ID}:restart",
        "runtimeStatus": "Running",
        "lastUpdatedTime": "2026-12-01T12:10:00Z",
        "customStatus": {
            "phase": "waiting",
            "attempt": 2,
            "nextTry": "2026-12-01T12:15:00Z",
            "lastError": {"code": "AllocationFailed"},
        },
        "historyEvents": [
            {
                "EventType": "TaskCompleted",
                "FunctionName": "recovery_policy",
                "Timestamp": "2026-12-01T12:00:45Z",
                "Result": {},
            },
            {
                "EventType": "TaskCompleted",
                "FunctionName": "check_operation",
                "Timestamp": "2026-12-01T12:01:00Z",
                "Result": failed,
            },
        ],
    }
    rows = timeline.timeline(recovery, strategy)["rows"]
    assert [r["text"] for r in rows if r["kind"] == "attempt"] == [
        "restart: check_operation -> failed AllocationFailed"
    ]
    [now] = [r["text"] for r in rows if r["kind"] == "status"]
    assert now == "now: waiting, attempt 2, next try 12:15:00, last error AllocationFailed"


def test_candidates_keep_the_first_ten_and_name_the_one_used() -> None:
    ranked = [{"size": "Standard_D2s_v5", "region": "eastus", "zone": str(z), "score": 5 - z / 10} for z in range(12)]
    ranking = {
        "ranked": ranked,
        "excluded": [{"size": "x", "region": "centralus", "zone": "1", "excluded": "cooling down"}],
        "choice": "the first",
    }
    walk = [{"attempt": 1, "offering": "a", "result": "cool"}, {"attempt": 2, "offering": "b", "result": "succeeded"}]
    found = timeline.candidates({"ranking": ranking, "walk": walk})
    assert found is not None and len(found["ranked"]) == 10 and found["rankedTotal"] == 12
    assert found["used"] == "b" and found["excluded"][0]["excluded"] == "cooling down"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert timeline.parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "soon"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="90s, 15m, 1h or 2d"):
        timeline.parse_since(text)


def test_a_duration_longer_than_any_task_hub_is_refused_not_overflowed() -> None:
    assert timeline.parse_since("3650d") == 3650 * 86400
    with pytest.raises(ValueError, match="longer than 3650d"):
        timeline.parse_since("99999999999d")
