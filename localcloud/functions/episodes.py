"""One orchestration episode: new events in, the SDK's replay engine run, the actions it returns turned into
history, work and messages, exactly as the Durable Task Framework would.

Pure bookkeeping on an :class:`Episode` record; the engine commits it in one SQLite transaction.
Task numbering follows the SDK: every sequenced action (activity, timer, sub-orchestration, entity call or signal)
takes the next number, in the order the actions appear, and DTFx's retry interceptor takes numbers for its timers
and re-scheduled tasks in the order the failures and timer firings are processed (azure.durable_functions
RetryAbleTask). An entity call or signal is an EventSent in history (its EventId the task's number, its Input the
request with the GUID the SDK then waits on) and an ``op`` event in the entity's inbox
(:mod:`localcloud.functions.entitywire`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.functions import entitywire as wire
from localcloud.functions.history import SEQUENCED, Action, Event, Kind, event, stamp
from localcloud.functions.store import Instance

TERMINAL = {"Completed", "Failed", "Terminated"}

# What the extension puts in every orchestration context (OrchestrationTriggerAttributeBindingProvider
# .OrchestrationContextToString): replay schema V2 in ``upperSchemaVersion`` (its enum numbers V2 as 1) and V3 in
# ``upperSchemaVersionNew``, so the Python SDK replays with schema V3 (one flat action list per episode, compound
# WhenAny/WhenAll actions, long timers); and the Azure Storage provider's timer limits (MaximumDelayTime 6 days,
# LongRunningTimerIntervalLength 3 days), as .NET TimeSpan strings.
SCHEMA_CONTEXT = {
    "upperSchemaVersion": 1,
    "upperSchemaVersionNew": 2,
    "maximumShortTimerDuration": "6.00:00:00",
    "longRunningTimerIntervalDuration": "3.00:00:00",
}


@dataclass
class Outbox:
    """What an episode asks the engine to do after it commits."""

    activities: list[tuple[int, str, str | None]] = field(default_factory=list)  # (task id, name, input)
    messages: list[tuple[str, Event, datetime]] = field(default_factory=list)  # (instance, event, visible at)
    children: list[tuple[str, str, str | None, int]] = field(default_factory=list)  # (id, name, input, task id)
    retries: list[tuple[int, str, int, int | None]] = field(default_factory=list)  # (task id, action, attempts, timer)
    dropped_retries: list[int] = field(default_factory=list)
    continue_as_new: str | None = None  # the new input, JSON
    unsupported: str | None = None  # the orchestration fails with this message


def flatten(actions: list[Any]) -> list[dict[str, Any]]:
    """The atomic actions in the order the SDK numbered them.

    Schema V3 answers ``[[action, ...]]``, one action per yield, where task_any / task_all are compound actions
    (``compoundActions``) holding only their children not scheduled before; V1 answered a list of lists.
    """
    out: list[dict[str, Any]] = []
    for item in actions:
        if isinstance(item, list):
            out.extend(flatten(item))
        elif isinstance(item, dict) and "compoundActions" in item:
            out.extend(flatten(item["compoundActions"]))
        elif isinstance(item, dict):
            out.append(item)
    return out


def context_json(inst: Instance, old: list[Event], new: list[Event]) -> str:
    history = [{**e, "IsPlayed": True} for e in old] + new
    return json.dumps(
        {
            "history": history,
            "instanceId": inst.id,
            "isReplaying": False,
            "parentInstanceId": inst.parent_id,
            "input": inst.input,
            **SCHEMA_CONTEXT,
        }
    )


class Planner:
    """Turns an episode's inputs and the SDK's answer into history events and an :class:`Outbox`."""

    def __init__(
        self,
        inst: Instance,
        now: datetime,
        retries: dict[int, dict[str, Any]],
        timers: dict[int, dict[str, Any]],
        *,
        entities: Collection[str],
        unknown_entity: Callable[[str], str],
    ) -> None:
        self.inst, self.now = inst, now
        self.retries, self.retry_timers = retries, timers  # by task id, by timer id
        self.entities, self.unknown_entity = entities, unknown_entity  # lowercased names; the message for others
        self.events: list[Event] = []
        self.out = Outbox()

    def _seq(self) -> int:
        n = self.inst.next_seq
        self.inst.next_seq += 1
        return n

    # --- DTFx retry interceptor ----------------------------------------------------------------------------

    def after_delivery(self, delivered: list[Event]) -> None:
        for e in delivered:
            kind = e["EventType"]
            if kind in (Kind.TASK_FAILED, Kind.SUB_ORCHESTRATION_FAILED) and e.get("TaskScheduledId") in self.retries:
                self._retry_timer(self.retries[e["TaskScheduledId"]])
            elif (
                kind in (Kind.TASK_COMPLETED, Kind.SUB_ORCHESTRATION_COMPLETED)
                and e.get("TaskScheduledId") in self.retries
            ):
                self.out.dropped_retries.append(e["TaskScheduledId"])
            elif kind == Kind.TIMER_FIRED and e.get("TimerId") in self.retry_timers:
                self._retry_again(self.retry_timers[e["TimerId"]])

    def _retry_timer(self, retry: dict[str, Any]) -> None:
        # After every failure, the last one included, DTFx waits one retry interval (RetryInterceptor).
        action = json.loads(retry["action"])
        delay = int(action.get("retryOptions", {}).get("firstRetryIntervalInMilliseconds", 1000))
        timer_id = self._seq()
        fire_at = self.now + timedelta(milliseconds=delay)
        self.events.append(event(Kind.TIMER_CREATED, self.now, timer_id, FireAt=stamp(fire_at)))
        self.out.messages.append(
            (self.inst.id, event(Kind.TIMER_FIRED, fire_at, TimerId=timer_id, FireAt=stamp(fire_at)), fire_at)
        )
        self.out.retries.append((retry["task_id"], retry["action"], retry["attempts"], timer_id))

    def _retry_again(self, retry: dict[str, Any]) -> None:
        action = json.loads(retry["action"])
        self.out.dropped_retries.append(retry["task_id"])
        if retry["attempts"] >= int(action.get("retryOptions", {}).get("maxNumberOfAttempts", 1)):
            return  # the SDK now fails the task with the last error
        task_id = self._schedule(action)
        self.out.retries.append((task_id, retry["action"], retry["attempts"] + 1, None))

    # --- new actions -----------------------------------------------------------------------------------------

    def actions(self, new_actions: list[dict[str, Any]]) -> None:
        for action in new_actions:
            kind = action.get("actionType")
            if kind == Action.CONTINUE_AS_NEW:
                self.out.continue_as_new = action.get("input")
            elif kind == Action.WAIT_FOR_EXTERNAL_EVENT:
                continue
            elif kind in (Action.CALL_ENTITY, Action.SIGNAL_ENTITY):
                self._send_to_entity(action)
            elif kind == Action.CALL_HTTP:
                self.out.unsupported = f"action type {Action(kind).name} is not supported by the local host"
                self.inst.next_seq += 1
            elif kind in SEQUENCED:
                task_id = self._schedule(action)
                if kind in (Action.CALL_ACTIVITY_WITH_RETRY, Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
                    self.out.retries.append((task_id, json.dumps(action), 1, None))

    def _send_to_entity(self, action: dict[str, Any]) -> None:
        task_id, target = self._seq(), str(action.get("instanceId") or "")
        name = wire.split_scheduler_id(target)[0] if target.count("@") >= 2 else target
        if name not in self.entities:
            # Azure: ThrowIfFunctionDoesNotExist throws in the shim; a signal then fails the orchestration, a call's
            # task faults and the shim swallows it (the orchestration waits for ever). Here both fail it, saying why.
            self.out.unsupported = self.unknown_entity(name)
            return
        request = wire.from_action(action, parent=self.inst.id, execution=self.inst.execution_id, task_id=task_id)
        body = wire.request_json(request, timestamp=wire.dotnet_time(self.now))
        self.events.append(
            event(Kind.EVENT_SENT, self.now, task_id, InstanceId=target, Name=wire.REQUEST_EVENT, Input=body)
        )
        self.out.messages.append(
            (target, event(Kind.EVENT_RAISED, self.now, Name=wire.REQUEST_EVENT, Input=body), self.now)
        )

    def _schedule(self, action: dict[str, Any]) -> int:
        kind, task_id = action["actionType"], self._seq()
        name, input_ = action.get("functionName"), action.get("input")
        if kind in (Action.CALL_ACTIVITY, Action.CALL_ACTIVITY_WITH_RETRY):
            self.events.append(event(Kind.TASK_SCHEDULED, self.now, task_id, Name=name, Input=input_, Version=""))
            self.out.activities.append((task_id, str(name), input_))
        elif kind in (Action.CALL_SUB_ORCHESTRATOR, Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child = action.get("instanceId") or f"{self.inst.id}:{task_id}"
            self.events.append(
                event(Kind.SUB_ORCHESTRATION_CREATED, self.now, task_id, Name=name, InstanceId=child, Input=input_)
            )
            self.out.children.append((child, str(name), input_, task_id))
        elif kind == Action.CREATE_TIMER:
            fire_at = parse_stamp(action["fireAt"])
            self.events.append(event(Kind.TIMER_CREATED, self.now, task_id, FireAt=action["fireAt"]))
            self.out.messages.append(
                (self.inst.id, event(Kind.TIMER_FIRED, fire_at, TimerId=task_id, FireAt=action["fireAt"]), fire_at)
            )
        return task_id


def parse_stamp(text: str) -> datetime:
    """The SDK writes fireAt as ISO 8601 with a Z (and sometimes without microseconds)."""
    return datetime.fromisoformat(text)
