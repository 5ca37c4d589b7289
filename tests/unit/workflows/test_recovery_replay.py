"""The recovery orchestration, replayed by azure-functions-durable over scripted histories.

Each test writes the history Durable Functions would hold (task numbers in scheduling order) and checks the
actions the orchestrator asks for next, its custom status, and its output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions import Orchestrator

from localcloud.functions.history import Kind, event, stamp
from orchestrator.domain.vmstate import VmStatus
from orchestrator.workflows import names
from orchestrator.workflows.recovery import recover_vm

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VM = {
    "subscription": "11111111-2222-3333-4444-555555555555",
    "resource_group": "rg",
    "name": "vm1",
    "scale_set": None,
    "instance_id": None,
}
DEALLOCATED = {
    "exists": True,
    "status": VmStatus.DEALLOCATED.value,
    "priority": "Spot",
    "eviction_policy": "Deallocate",
    "max_price": 0.05,
    "size": "Standard_D2s_v5",
    "location": "eastus",
    "tags": {},
    "codes": ["ProvisioningState/succeeded", "PowerState/deallocated"],
}
RUNNING = {
    **DEALLOCATED,
    "status": VmStatus.RUNNING.value,
    "codes": ["ProvisioningState/succeeded", "PowerState/running"],
}
CAPACITY = {
    "ok": False,
    "failure": {"kind": "capacity", "code": "AllocationFailed", "message": "no capacity", "status": 409},
}


class Script:
    """A history as the Durable Task Framework records it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.now, self.seq, self.input = T0, 0, json.dumps(data)
        self.events = [
            event(Kind.ORCHESTRATOR_STARTED, T0),
            event(Kind.EXECUTION_STARTED, T0, Name=names.RECOVER_VM, Input=self.input, Version=""),
        ]

    def activity(self, name: str, result: Any) -> Script:
        tid, self.seq = self.seq, self.seq + 1
        self.events.append(event(Kind.TASK_SCHEDULED, self.now, tid, Name=name))
        self.now += timedelta(seconds=2)
        self.events += [
            event(Kind.ORCHESTRATOR_STARTED, self.now),
            event(Kind.TASK_COMPLETED, self.now, TaskScheduledId=tid, Result=json.dumps(result)),
        ]
        return self

    def timer(self, fire_at: datetime) -> Script:
        tid, self.seq = self.seq, self.seq + 1
        self.events.append(event(Kind.TIMER_CREATED, self.now, tid, FireAt=stamp(fire_at)))
        self.now = fire_at
        self.events += [
            event(Kind.ORCHESTRATOR_STARTED, fire_at),
            event(Kind.TIMER_FIRED, fire_at, TimerId=tid, FireAt=stamp(fire_at)),
        ]
        return self

    def run(self) -> dict[str, Any]:
        context = {
            "history": self.events,
            "instanceId": "respot-test",
            "isReplaying": False,
            "parentInstanceId": None,
            "input": self.input,
        }
        return dict(json.loads(Orchestrator.create(recover_vm)(json.dumps(context))))


def data(**config: Any) -> dict[str, Any]:
    return {
        "vm": VM,
        "eviction": {"source": "activity-log-alert", "event_id": "e1", "occurred_at": stamp(T0)},
        "config": config,
    }


def new_actions(state: dict[str, Any], already: int) -> list[dict[str, Any]]:
    flat = [a for group in state["actions"] for a in group]
    return flat[already:]


def test_first_it_reads_the_vm() -> None:
    state = Script(data()).run()
    [action] = new_actions(state, 0)
    assert (action["actionType"], action["functionName"], json.loads(action["input"])) == (
        0,
        names.GET_VM_FACTS,
        {"vm": VM},
    )


def test_a_running_vm_is_left_alone_with_the_reason() -> None:
    state = Script(data()).activity(names.GET_VM_FACTS, RUNNING).run()
    assert state["isDone"] and state["output"]["outcome"] == "ignored"
    assert state["output"]["decision"]["reason"] == "already_running"
    assert state["customStatus"]["phase"] == "done"


def test_an_evicted_vm_is_started() -> None:
    state = Script(data()).activity(names.GET_VM_FACTS, DEALLOCATED).run()
    [start] = new_actions(state, 1)
    assert start["functionName"] == names.START_VM
    assert state["customStatus"]["phase"] == "starting" and state["customStatus"]["attempt"] == 1


def test_no_capacity_waits_on_a_durable_timer_with_backoff() -> None:
    script = (
        Script(data(retry_first_seconds=60))
        .activity(names.GET_VM_FACTS, DEALLOCATED)
        .activity(names.START_VM, CAPACITY)
    )
    state = script.run()
    [timer] = new_actions(state, 2)
    fire_at = datetime.fromisoformat(timer["fireAt"])
    assert timer["actionType"] == 5 and timedelta(seconds=54) <= fire_at - script.now <= timedelta(seconds=66)
    status = state["customStatus"]
    assert (status["phase"], status["attempt"], status["lastError"]["code"]) == ("waiting", 1, "AllocationFailed")
    assert datetime.fromisoformat(status["next_try"]) == fire_at


def test_after_the_timer_it_rereads_the_vm_then_tries_again_and_recovers() -> None:
    script = Script(data()).activity(names.GET_VM_FACTS, DEALLOCATED).activity(names.START_VM, CAPACITY)
    fire = Script(data()).activity(names.GET_VM_FACTS, DEALLOCATED).activity(names.START_VM, CAPACITY).run()
    fire_at = datetime.fromisoformat(new_actions(fire, 2)[0]["fireAt"])
    script.timer(fire_at).activity(names.GET_VM_FACTS, DEALLOCATED).activity(names.START_VM, {"ok": True}).activity(
        names.GET_VM_FACTS, RUNNING
    )
    state = script.run()
    assert state["isDone"] and state["output"]["outcome"] == "recovered" and state["output"]["attempts"] == 2


def test_it_stops_when_someone_started_the_vm_meanwhile() -> None:
    first = Script(data()).activity(names.GET_VM_FACTS, DEALLOCATED).activity(names.START_VM, CAPACITY).run()
    fire_at = datetime.fromisoformat(new_actions(first, 2)[0]["fireAt"])
    state = (
        Script(data())
        .activity(names.GET_VM_FACTS, DEALLOCATED)
        .activity(names.START_VM, CAPACITY)
        .timer(fire_at)
        .activity(names.GET_VM_FACTS, RUNNING)
        .run()
    )
    assert state["output"]["outcome"] == "stopped_started_meanwhile"


def test_quota_is_not_waited_out() -> None:
    quota = {
        "ok": False,
        "failure": {"kind": "quota", "code": "OperationNotAllowed", "message": "quota", "status": 409},
    }
    state = Script(data()).activity(names.GET_VM_FACTS, DEALLOCATED).activity(names.START_VM, quota).run()
    assert state["output"]["outcome"] == "failed_quota"


def test_price_policy_raise_lifts_max_price_up_to_the_ceiling() -> None:
    price = {
        "ok": False,
        "failure": {"kind": "price", "code": "SpotPriceGreaterThanProvidedMaxPrice", "message": "", "status": 409},
    }
    state = (
        Script(data(price_policy="raise", max_price_ceiling=0.08))
        .activity(names.GET_VM_FACTS, DEALLOCATED)
        .activity(names.START_VM, price)
        .run()
    )
    [raise_price] = new_actions(state, 2)
    assert raise_price["functionName"] == names.SET_MAX_PRICE and json.loads(raise_price["input"])["price"] == 0.08
    waiting = (
        Script(data(price_policy="wait"))
        .activity(names.GET_VM_FACTS, DEALLOCATED)
        .activity(names.START_VM, price)
        .run()
    )
    assert new_actions(waiting, 2)[0]["actionType"] == 5  # wait for the price instead


def test_continue_as_new_after_a_few_tries_carries_the_progress() -> None:
    script = (
        Script(data(attempts_per_execution=1))
        .activity(names.GET_VM_FACTS, DEALLOCATED)
        .activity(names.START_VM, CAPACITY)
    )
    fire = datetime.fromisoformat(new_actions(script.run(), 2)[0]["fireAt"])
    state = script.timer(fire).activity(names.GET_VM_FACTS, DEALLOCATED).run()
    [again] = [a for a in new_actions(state, 0) if a["actionType"] == 4]
    carried = json.loads(again["input"])["progress"]
    assert carried["attempt"] == 1 and carried["executions"] == 2 and carried["decision"]["action"] == "restart"


def test_a_continued_execution_skips_classification() -> None:
    progress = {
        "attempt": 5,
        "started_at": T0.isoformat(),
        "before": DEALLOCATED,
        "decision": {"action": "restart", "reason": "evicted", "detail": ""},
        "executions": 2,
    }
    state = Script({**data(), "progress": progress}).run()
    [start] = new_actions(state, 0)
    assert start["functionName"] == names.START_VM and state["customStatus"]["attempt"] == 6


def test_the_deadline_ends_the_wait() -> None:
    progress = {
        "attempt": 3,
        "started_at": (T0 - timedelta(hours=23, minutes=59)).isoformat(),
        "before": DEALLOCATED,
        "decision": {"action": "restart", "reason": "evicted", "detail": ""},
    }
    state = Script({**data(retry_deadline_hours=24), "progress": progress}).activity(names.START_VM, CAPACITY).run()
    assert state["output"]["outcome"] == "gave_up_deadline"
