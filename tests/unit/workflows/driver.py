"""Drive an orchestrator function through azure-functions-durable's own replay engine, deterministically.

Each episode hands the engine the history so far plus one new event, takes the actions it asks for, and turns them
into what the Durable Task Framework would deliver later: an activity's result (computed now by a responder, a
second later on the clock), a timer firing at its fireAt, a sub-orchestration's result (driven by another Driver to
its end), an external event the test scheduled, a continue-as-new (a fresh history). Pending deliveries come in
time order, so a test reads as a timeline. Task numbers follow the SDK (every activity, timer and
sub-orchestration takes the next number, in order), as localcloud/functions/episodes.py does.
"""

from __future__ import annotations

import heapq
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions import Orchestrator

from localcloud.functions.episodes import SCHEMA_CONTEXT, flatten
from localcloud.functions.history import Action, Event, Kind, event, stamp
from orchestrator.domain import limiter

Responder = Callable[[str, Any, datetime], Any]  # (activity name, input, now) -> result
EntityOp = Callable[[Any, str, Any], tuple[Any, Any]]  # (state, operation, input) -> (state, result)
EVENT_SENT = 14  # HistoryEventType.EVENT_SENT: how the extension records a call or signal to an entity


# Entities every app registers, without a test asking for them: the limiter paces each ARM step.
ALWAYS: dict[str, EntityOp] = {limiter.LIMITER: limiter.limiter_op}


@dataclass
class Entities:
    """Durable Entities as the extension runs them: one operation at a time, state by (name, key)."""

    ops: dict[str, EntityOp] = field(default_factory=dict)
    state: dict[tuple[str, str], Any] = field(default_factory=dict)
    log: list[tuple[str, str, str, Any]] = field(default_factory=list)  # (name, key, operation, input)

    def run(self, scheduler_id: str, operation: str, payload: Any) -> tuple[bool, Any]:
        """(ok, result); a failing operation leaves the state as it was (the SDK answers with its exception)."""
        _, name, key = scheduler_id.split("@", 2)
        self.log.append((name, key, operation, payload))
        try:
            op = self.ops.get(name) or ALWAYS[name]
            state, result = op(self.state.get((name, key)), operation, payload)
        except Exception as exc:
            return False, str(exc)
        self.state[(name, key)] = state
        return True, result


@dataclass
class Execution:
    input: Any
    history_events: int = 0


@dataclass
class Driver:
    fn: Callable[[Any], Any]
    input: Any
    instance_id: str
    now: datetime
    activity: Responder
    children: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    max_episodes: int = 5000
    on_tick: Callable[[datetime], None] | None = None  # told every time the clock moves (the fakes follow it)
    entities: Entities = field(default_factory=Entities)
    executions: list[Execution] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)  # every activity call, in order
    scheduled: list[tuple[datetime, str]] = field(default_factory=list)  # (episode time, activity), children's too
    timers: list[tuple[datetime, datetime]] = field(default_factory=list)  # (created at, fire at)
    statuses: list[Any] = field(default_factory=list)
    child_drivers: list[Driver] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: list[tuple[datetime, int, Event]] = []
        self._order = itertools.count()
        self._begin(self.input)

    def _begin(self, input_: Any) -> None:
        self.executions.append(Execution(input_))
        self.history: list[Event] = []
        self.seq, self.seen = 0, 0
        self._queue = [q for q in self._queue if q[2]["EventType"] == Kind.EVENT_RAISED]  # kept across executions
        heapq.heapify(self._queue)
        started = event(Kind.EXECUTION_STARTED, self.now, Name="orchestrator", Input=json.dumps(input_), Version="")
        self._push(self.now, started)

    def raise_event(self, at: datetime, payload: Any, name: str = "signal") -> None:
        self._push(at, event(Kind.EVENT_RAISED, at, Name=name, Input=json.dumps(payload)))

    def _push(self, at: datetime, e: Event) -> None:
        heapq.heappush(self._queue, (at, next(self._order), e))

    def run(self) -> Any:
        """Until the orchestration completes; its output."""
        for _ in range(self.max_episodes):
            if not self._queue:
                raise AssertionError(f"{self.instance_id} is stuck: nothing pending; last status {self.statuses[-1:]}")
            at, _, first = heapq.heappop(self._queue)
            delivered = [first]
            while self._queue and self._queue[0][0] <= at:  # what is due together is one episode, as in DTFx
                delivered.append(heapq.heappop(self._queue)[2])
            self._advance(at)
            state = self._episode(delivered)
            if state.get("error"):
                raise AssertionError(f"{self.instance_id} failed: {state['error']}")
            if state.get("isDone"):
                return state.get("output")
        raise AssertionError(f"{self.instance_id} ran {self.max_episodes} episodes without finishing")

    def _advance(self, at: datetime) -> None:
        if at > self.now:
            self.now = at
            if self.on_tick is not None:
                self.on_tick(at)

    def _episode(self, delivered: list[Event]) -> dict[str, Any]:
        new = [event(Kind.ORCHESTRATOR_STARTED, self.now), *delivered]
        old = [{**e, "IsPlayed": True} for e in self.history]
        context = {
            "history": old + new,
            "instanceId": self.instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": json.dumps(self.executions[-1].input),
            **SCHEMA_CONTEXT,  # what Azure's extension sends: the SDK replays with ReplaySchema V3
        }
        state: dict[str, Any] = json.loads(Orchestrator.create(self.fn)(json.dumps(context)))
        self.history += new
        self.statuses.append(state.get("customStatus"))
        actions = flatten(state.get("actions") or [])
        for action in actions[self.seen :]:
            if self._act(action):
                return {}  # continued as new
        self.seen = len(actions)
        self.executions[-1].history_events = len(self.history)
        return state

    def _act(self, action: dict[str, Any]) -> bool:
        kind = action["actionType"]
        if kind == Action.CONTINUE_AS_NEW:
            self._begin(json.loads(action["input"]))
            return True
        if kind == Action.WAIT_FOR_EXTERNAL_EVENT:
            return False
        task_id, self.seq = self.seq, self.seq + 1
        if kind in (Action.CALL_ACTIVITY, Action.CALL_ACTIVITY_WITH_RETRY):
            self._activity(task_id, action)
        elif kind == Action.CREATE_TIMER:
            fire_at = datetime.fromisoformat(action["fireAt"])
            self.history.append(event(Kind.TIMER_CREATED, self.now, task_id, FireAt=action["fireAt"]))
            self.timers.append((self.now, fire_at))
            self._push(
                max(fire_at, self.now), event(Kind.TIMER_FIRED, fire_at, TimerId=task_id, FireAt=action["fireAt"])
            )
        elif kind in (Action.CALL_SUB_ORCHESTRATOR, Action.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            self._child(task_id, action)
        elif kind in (Action.CALL_ENTITY, Action.SIGNAL_ENTITY):
            self._entity(task_id, action, call=kind == Action.CALL_ENTITY)
        return False

    def _entity(self, task_id: int, action: dict[str, Any], *, call: bool) -> None:
        """The extension records an EventSent (the request, with its guid); a call's answer is an EventRaised
        named by that guid whose input is the ResponseMessage (the SDK matches them so)."""
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.instance_id}/{len(self.executions)}/{task_id}"))
        target, operation = action["instanceId"], action["operation"]
        payload = json.loads(action.get("input") or "null")
        request = {"id": guid, "op": operation, "signal": not call, "input": action.get("input")}
        self.history.append(
            event(EVENT_SENT, self.now, task_id, InstanceId=target, Name="op", Input=json.dumps(request))
        )
        ok, result = self.entities.run(target, operation, payload)
        if not call:
            return
        response: dict[str, Any] = {"result": json.dumps(result)}
        if not ok:
            response["exceptionType"] = "System.Exception"
        done_at = self.now + timedelta(seconds=1)
        self._push(done_at, event(Kind.EVENT_RAISED, done_at, Name=guid, Input=json.dumps(response)))

    def _activity(self, task_id: int, action: dict[str, Any]) -> None:
        name, payload = action["functionName"], json.loads(action.get("input") or "null")
        self.history.append(event(Kind.TASK_SCHEDULED, self.now, task_id, Name=name))
        self.calls.append((name, payload))
        self.scheduled.append((self.now, name))
        result = self.activity(name, payload, self.now)
        done_at = self.now + timedelta(seconds=1)
        self._push(done_at, event(Kind.TASK_COMPLETED, done_at, TaskScheduledId=task_id, Result=json.dumps(result)))

    def _child(self, task_id: int, action: dict[str, Any]) -> None:
        name, child_id = action["functionName"], action.get("instanceId") or f"{self.instance_id}:{task_id}"
        self.history.append(event(Kind.SUB_ORCHESTRATION_CREATED, self.now, task_id, Name=name, InstanceId=child_id))
        child = Driver(
            self.children[name],
            json.loads(action.get("input") or "null"),
            child_id,
            self.now,
            self.activity,
            self.children,
            on_tick=self.on_tick,
            entities=self.entities,
        )
        self.child_drivers.append(child)
        output = child.run()  # to its end now: its result is delivered at the child's end time
        self.calls += child.calls
        self.scheduled += child.scheduled
        done = event(Kind.SUB_ORCHESTRATION_COMPLETED, child.now, TaskScheduledId=task_id, Result=json.dumps(output))
        self._push(child.now, done)


def at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


__all__ = ["Driver", "Entities", "Execution", "at", "stamp"]
