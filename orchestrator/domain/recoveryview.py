"""A recovery in an operator's terms, for the recovery view (orchestrator.app.dashboard). Pure: no side effects.

The browser's events; orchestrator.domain.timeline builds the CLI's rows from the same statuses (the two were
written side by side and are not yet one module: see docs/architecture.md).

The input is what the durable management API says of an instance (``instanceId``, ``runtimeStatus``,
``customStatus``, ``input``, ``output``, ``historyEvents``, as the HTTP API and the Python client's ``to_json`` spell
them). A finished recovery is read from its output (orchestrator.workflows.recover: signals, decision, attempts,
outcome, replacement, ranking); a running one from its input (the first signal), its custom status (the phase,
joined signals, the decision) and its strategy sub-orchestration's status and history (each try's answer and each
durable timer), so the timeline grows while the recovery runs. Every value is passed on as data, never as markup:
the page renders text only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.fleet import Fleets
from orchestrator.domain.identity import ACTIVE, PREFIX, is_recovery_id
from orchestrator.domain.models import InvalidInput, VmFacts, VmRef
from orchestrator.domain.timeline import MAX_CANDIDATES, vm_name

RUNNING = ACTIVE
# The durable list API answers one page (100 instances, in id order, entities first) and the Python client never
# asks for the next: listing by each first hex digit of the VM hash gives up to 16 pages of recoveries and their
# sub-orchestrations, and none of the entities, sweeps or returns to Spot.
LIST_PREFIXES = tuple(f"{PREFIX}{digit}" for digit in "0123456789abcdef")
PAGE = 100
TRIES = frozenset({"try_start", "create_vm", "check_operation", "raise_max_price", "set_capacity"})
MAX_TEXT = 500
MAX_EVENTS = 200


is_recovery = is_recovery_id


def summary(status: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the recoveries list."""
    custom, output = _mapping(status.get("customStatus")), _mapping(status.get("output"))
    vm = str(output.get("vm") or custom.get("vm") or _signal_of(status).get("vm_id") or "")
    return {
        "instanceId": _text(status.get("instanceId")),
        "vm": _text(vm),
        "vmName": _text(vm_name(vm)),
        "status": _text(status.get("runtimeStatus")),
        "running": status.get("runtimeStatus") in RUNNING,
        "phase": _text(custom.get("phase")),
        "outcome": _text(output.get("outcome") or custom.get("outcome")),
        "reason": _text(output.get("reason") or custom.get("reason")),
        "createdTime": _text(status.get("createdTime")),
        "lastUpdatedTime": _text(status.get("lastUpdatedTime")),
    }


def timeline(status: Mapping[str, Any], strategy: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recovery's page: its summary, the events in time order, candidates, the replacement and last error."""
    output = _mapping(status.get("output"))
    events = _from_output(output) if output.get("outcome") else _while_running(status, strategy or {})
    events.sort(key=lambda e: (e["at"] or "~", _ORDER.get(e["kind"], 5)))
    custom, live = _mapping(status.get("customStatus")), _mapping((strategy or {}).get("customStatus"))
    ranking = _mapping(output.get("ranking")) or _mapping(live.get("ranking"))
    return {
        **summary(status),
        "detail": _text(output.get("detail")),
        "strategy": _text(output.get("strategy") or custom.get("strategy")),
        "attemptCount": _int(output.get("attemptCount") or live.get("attempt")),
        "events": events[:MAX_EVENTS],
        "candidates": [_candidate(c) for c in ranking.get("ranked") or [] if isinstance(c, Mapping)][:MAX_CANDIDATES],
        "choice": _text(ranking.get("choice")),
        "replacement": _replacement(output.get("replacement")),
        "lastError": _error(output.get("lastError") if output.get("outcome") else live.get("lastError")),
    }


_ORDER = {"eviction": 0, "signal": 1, "decision": 2, "attempt-failed": 3, "attempt-succeeded": 3, "timer": 4}


def fleet_view(fleets: Fleets, listed: list[tuple[VmRef, VmFacts]]) -> dict[str, Any]:
    """The fleet profiles with their members' count, and every listed VM with its state and fleet."""
    vms = []
    for ref, facts in listed:
        profile = fleets.of(facts.tags)
        vms.append(
            {
                "id": _text(ref.id),
                "name": _text(ref.name),
                "resourceGroup": _text(ref.resource_group),
                "fleet": profile.name if profile else "",
                "status": facts.status.value,
                "size": _text(facts.size),
                "region": _text(facts.location),
                "zone": _text(facts.zone),
                "priority": _text(facts.priority),
                "evictionPolicy": _text(facts.eviction_policy),
            }
        )
    vms.sort(key=lambda v: (v["fleet"] == "", v["fleet"], v["name"]))
    rows = []
    for p in fleets.fleets:
        members = [v for v in vms if v["fleet"] == p.name]
        running = sum(1 for v in members if v["status"] == "running")
        rows.append({"name": p.name, "desired": p.desired, "members": len(members), "running": running})
    return {"fleets": rows, "vms": vms}


def _event(at: Any, kind: str, title: str, detail: Any = "", **extra: Any) -> dict[str, Any]:
    return {"at": _text(at), "kind": kind, "title": _text(title), "detail": _text(detail), **extra}


def _from_output(output: Mapping[str, Any]) -> list[dict[str, Any]]:
    events = [
        _signal_event(s, first=i == 0) for i, s in enumerate(output.get("signals") or []) if isinstance(s, Mapping)
    ]
    decision = _mapping(output.get("decision"))
    if decision:
        at = output.get("startedAt")
        events.append(
            _event(
                at, "decision", f"decided: {decision.get('action')} ({decision.get('reason')})", decision.get("detail")
            )
        )
    for run in output.get("attempts") or []:
        if isinstance(run, Mapping):
            events += _run_events(run)
    replacement = _replacement(output.get("replacement"))
    outcome, reason = _text(output.get("outcome")), _text(output.get("reason"))
    detail = output.get("detail") or (f"replaced by {replacement['new'].get('id')}" if replacement else "")
    events.append(
        _event(
            output.get("concludedAt") or output.get("finishedAt"),
            "outcome",
            f"{outcome} ({reason})",
            detail,
            outcome=outcome,
        )
    )
    return events


def _signal_event(signal: Mapping[str, Any], *, first: bool) -> dict[str, Any]:
    source, event_id = signal.get("source"), signal.get("eventId")
    title = f"eviction reported by {source}" if first else f"signal joined from {source}"
    detail = f"event {event_id}; received {signal.get('receivedAt') or '?'}"
    return _event(signal.get("occurredAt"), "eviction" if first else "signal", title, detail, source=_text(source))


def _run_events(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    count, result = _int(run.get("count"), 1), str(run.get("result") or "")
    kind = "attempt-succeeded" if result == "succeeded" else "attempt-failed"
    times = f"{count} tries, the last at {run.get('last')}" if count > 1 else ""
    title = " ".join(p for p in (str(run.get("action") or ""), result, str(run.get("code") or "")) if p)
    message = "; ".join(p for p in (str(run.get("message") or ""), times) if p)
    events = [_event(run.get("first"), kind, title, message, code=_text(run.get("code")), count=count)]
    if run.get("nextTry"):
        events.append(_event(run.get("last"), "timer", f"next try at {run.get('nextTry')}", "a durable timer"))
    return events


def _while_running(status: Mapping[str, Any], strategy: Mapping[str, Any]) -> list[dict[str, Any]]:
    custom, signal = _mapping(status.get("customStatus")), _signal_of(status)
    events = []
    if signal:
        first = {
            "source": signal.get("source"),
            "eventId": signal.get("event_id"),
            "occurredAt": signal.get("occurred_at"),
        }
        events.append(_signal_event({**first, "receivedAt": status.get("createdTime")}, first=True))
    first_key = f"{signal.get('source')}:{signal.get('event_id')}"
    for key in custom.get("signals") or []:
        if key != first_key:
            events.append(_event(status.get("lastUpdatedTime"), "signal", f"signal joined: {key}"))
    decision = _mapping(custom.get("decision"))
    if decision:
        title = f"decided: {decision.get('action')} ({decision.get('reason')})"
        events.append(_event(status.get("createdTime"), "decision", title, decision.get("detail")))
    events += _history_events(_history(strategy))
    phase = _mapping(strategy.get("customStatus")).get("phase") or custom.get("phase")
    events.append(
        _event(strategy.get("lastUpdatedTime") or status.get("lastUpdatedTime"), "phase", f"now: {phase}", "")
    )
    return events


def _history_events(history: list[Any]) -> list[dict[str, Any]]:
    """Each try's answer and each durable timer of the strategy's current execution."""
    events = []
    for e in history:
        if not isinstance(e, Mapping):
            continue
        kind = e.get("EventType")
        if kind == "TaskCompleted" and e.get("FunctionName") in TRIES:
            events += _try_event(e)
        elif kind == "TimerCreated" and e.get("FireAt"):
            events.append(_event(e.get("Timestamp"), "timer", f"waiting until {e.get('FireAt')}", "a durable timer"))
    return events


def _try_event(e: Mapping[str, Any]) -> list[dict[str, Any]]:
    result = _mapping(_loads(e.get("Result")))
    step, failure = str(result.get("step") or ""), _mapping(result.get("failure"))
    if step in ("accepted", "done", "running", "ok"):
        title = f"{e.get('FunctionName')} {step}"
        return [
            _event(
                e.get("Timestamp"), "attempt-succeeded" if step != "running" else "phase", title, result.get("reason")
            )
        ]
    code = str(failure.get("code") or "")
    title = " ".join(p for p in (str(e.get("FunctionName")), str(failure.get("kind") or step), code) if p)
    detail = failure.get("message") or result.get("reason")
    return [_event(e.get("Timestamp"), "attempt-failed", title, detail, code=_text(code), count=1)]


def _candidate(c: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("size", "region", "zone", "price", "evictionRate", "placementScore", "score", "excluded")
    return {k: _scalar(c.get(k)) for k in keys}


def _replacement(value: Any) -> dict[str, Any] | None:
    value = _mapping(value)
    if not value:
        return None
    return {side: {k: _scalar(v) for k, v in _mapping(value.get(side)).items()} for side in ("old", "new")}


def _error(value: Any) -> dict[str, str] | None:
    value = _mapping(value)
    return {k: _text(value.get(k)) for k in ("kind", "code", "message")} if value else None


def _signal_of(status: Mapping[str, Any]) -> dict[str, Any]:
    signal = dict(_mapping(_mapping(_loads(status.get("input"))).get("signal")))
    try:
        return {**signal, "vm_id": VmRef.from_dict(signal.get("vm")).id} if signal else {}
    except InvalidInput:
        return signal


def _history(status: Mapping[str, Any]) -> list[Any]:
    history = status.get("historyEvents", status.get("history"))
    return list(history) if isinstance(history, list) else []


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _scalar(value: Any) -> str | int | float | bool | None:
    return value if value is None or isinstance(value, int | float | bool) else _text(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:MAX_TEXT]
