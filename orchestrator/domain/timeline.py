"""A recovery in the operator's terms: what the durable management API answers, turned into table rows and a
timeline. Pure: dicts in (the API's instance JSON: ``runtimeStatus``, ``customStatus``, ``output``, ``historyEvents``),
dicts out; the CLI renders them (rich tables, or the same data as JSON with ``--json``).

A recovery publishes its state in its custom status while it runs and its whole story in its output once it has
completed (orchestrator.workflows.recover); its strategy (``<id>:restart``, ``:redeploy``, ``:capacity``) has its
own status, history and output. The timeline merges them: the signals, the decision and its reason, every attempt
with its error code, the durable timers, a redeploy's ranked candidates and walk, the outcome, and the other
recoveries of the same VM.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from orchestrator.domain.identity import is_recovery_id
from orchestrator.domain.models import InvalidInput, parse_iso
from orchestrator.domain.scope import InvalidResourceId, parse_vm_id
from orchestrator.domain.story import Story, _camel

ENDED_BADLY = frozenset({"failed", "gave_up", "rejected"})  # outcomes an operator looks at (--failed)
RUNTIME_FAILED = frozenset({"Failed", "Terminated"})
MAX_CANDIDATES = 10
MAX_SINCE_DAYS = 3650  # --since: ten years is older than any task hub
MAX_TIMERS = 40
ARM_STEPS = frozenset(
    {"try_start", "check_operation", "create_vm", "delete_vm", "set_capacity", "raise_max_price", "read_scale_set"}
)  # a long restart keeps a bounded history (continue-as-new); the count of the rest is given


is_recovery = is_recovery_id  # the CLI's name for it


def vm_name(vm_id: Any) -> str:
    """The VM's name (a Uniform instance: ``<scale set>_<instance id>``) from its resource id; "" if none."""
    try:
        return parse_vm_id(vm_id).name
    except InvalidResourceId:
        return str(vm_id or "").rstrip("/").rsplit("/", 1)[-1]


def published(instance: dict[str, Any]) -> dict[str, Any]:
    """What the recovery says of itself: its output once completed, else its custom status."""
    out, status = instance.get("output"), instance.get("customStatus")
    if instance.get("runtimeStatus") == "Completed" and isinstance(out, dict):
        return out
    return status if isinstance(status, dict) else {}


@dataclass(frozen=True)
class RecoveryRow:
    """One line of ``respot recoveries``."""

    instance_id: str
    vm: str
    vm_name: str
    seq: int
    runtime_status: str
    phase: str
    outcome: str
    reason: str
    detail: str
    created: str
    concluded_at: str
    signals: int
    attempts: int
    strategy: str

    @property
    def running(self) -> bool:
        return self.runtime_status in ("Pending", "Running", "ContinuedAsNew", "Suspended") and not self.concluded_at

    @property
    def failed(self) -> bool:
        return self.outcome in ENDED_BADLY or self.runtime_status in RUNTIME_FAILED

    def to_dict(self) -> dict[str, Any]:
        return _camel(asdict(self)) | {"running": self.running, "failed": self.failed}


def recovery_row(instance: dict[str, Any]) -> RecoveryRow:
    info, status = published(instance), instance.get("customStatus")
    live = status if isinstance(status, dict) else {}
    vm = str(info.get("vm") or live.get("vm") or "")
    seq = info.get("seq") or live.get("seq") or 0
    signals = info.get("signals") or live.get("signals") or []
    return RecoveryRow(
        instance_id=str(instance.get("instanceId") or ""),
        vm=vm,
        vm_name=vm_name(vm) if vm else "",
        seq=int(seq) if isinstance(seq, int) else 0,
        runtime_status=str(instance.get("runtimeStatus") or ""),
        phase=str(live.get("phase") or ("done" if instance.get("runtimeStatus") == "Completed" else "")),
        outcome=str(info.get("outcome") or ""),
        reason=str(info.get("reason") or ""),
        detail=str(info.get("detail") or ""),
        created=str(instance.get("createdTime") or ""),
        concluded_at=str(info.get("concludedAt") or ""),
        signals=len(signals) if isinstance(signals, list) else 0,
        attempts=int(info.get("attemptCount") or 0),
        strategy=str(info.get("strategy") or ""),
    )


# --- the timeline of one recovery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One moment of a recovery: ``kind`` is signal, look, decision, attempt, timer, create, status or outcome."""

    at: str
    kind: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def timeline(
    recovery: dict[str, Any], strategy: dict[str, Any] | None = None, others: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The story of one recovery: ``recovery`` with its history (``showHistory``), ``strategy`` its strategy's
    instance (with history) if it has one, ``others`` the VM's other recoveries (rows of the same VM)."""
    info, row = published(recovery), recovery_row(recovery)
    whose = str((strategy or {}).get("instanceId") or ":strategy").rsplit(":", 1)[-1]
    rows = _signals(info, recovery) + _looks(recovery) + _decision(info, recovery)
    rows += _attempts(info.get("attempts") or _strategy_attempts(strategy)) or _tasks(strategy, whose)
    rows += _walk(info) + _outcome(row, info)  # before the timers: at one moment it concludes, then waits
    rows += _timers(recovery, "recovery") + (_timers(strategy, whose) if strategy else []) + _now(row, strategy)
    ordered = sorted(enumerate(rows), key=lambda p: (_sortable(p[1].at), p[0]))
    previous = info.get("previous") if isinstance(info.get("previous"), dict) else None
    return {
        "recovery": row.to_dict(),
        "decision": info.get("decision"),
        "rows": [r.to_dict() for _, r in ordered],
        "candidates": candidates(info),
        "replacement": info.get("replacement"),
        "lastError": info.get("lastError"),
        "previous": previous,
        "others": [recovery_row(o).to_dict() for o in others or [] if o.get("instanceId") != row.instance_id],
    }


def _signals(info: dict[str, Any], recovery: dict[str, Any]) -> list[Row]:
    out = []
    for s in info.get("signals") or []:
        if isinstance(s, dict):  # the output's entries; the custom status has only their keys
            text = f"{s.get('source')} {s.get('eventId')} (received {_short(s.get('receivedAt'))})"
            out.append(Row(str(s.get("occurredAt") or ""), "signal", text))
        else:
            out.append(Row(str(recovery.get("createdTime") or ""), "signal", str(s)))
    return out


def _decision(info: dict[str, Any], recovery: dict[str, Any]) -> list[Row]:
    decision = info.get("decision") or (recovery.get("customStatus") or {}).get("decision")
    if not isinstance(decision, dict):
        return []
    looked = [
        e.get("Timestamp")
        for e in recovery.get("historyEvents") or []
        if e.get("EventType") == "SubOrchestrationInstanceCompleted"
    ]
    text = f"{decision.get('action')} ({decision.get('reason')}): {decision.get('detail')}"
    return [Row(str(looked[0] if looked else recovery.get("createdTime") or ""), "decision", text)]


def _looks(recovery: dict[str, Any]) -> list[Row]:
    """Each look at the VM (an observe_vm sub-orchestration's result, in the recovery's history)."""
    out = []
    for e in recovery.get("historyEvents") or []:
        read = (e.get("Result") or {}).get("read") if isinstance(e.get("Result"), dict) else None
        if e.get("EventType") != "SubOrchestrationInstanceCompleted" or not isinstance(read, dict):
            continue
        facts = read.get("facts") if isinstance(read.get("facts"), dict) else None
        if facts is None:
            text = f"look: {read.get('step')} {read.get('reason') or ''}".rstrip()
        elif not facts.get("exists"):
            text = f"look: the VM is gone ({facts.get('missing') or 'vm'} missing)"
        else:
            where = f"{facts.get('size')} in {facts.get('location')}" + (
                f"/{facts['zone']}" if facts.get("zone") else ""
            )
            text = (
                f"look: {facts.get('status')}, {facts.get('priority')}, {facts.get('eviction_policy')} policy, {where}"
            )
        out.append(Row(str(e.get("Timestamp") or ""), "look", text))
    return out


def _strategy_attempts(strategy: dict[str, Any] | None) -> list[Any]:
    """A completed strategy's attempts (its output's story) while the recovery itself still settles."""
    out = (strategy or {}).get("output")
    try:
        return Story.from_dict(out.get("story")).attempts_out() if isinstance(out, dict) else []
    except InvalidInput:
        return []


def _tasks(strategy: dict[str, Any] | None, whose: str) -> list[Row]:
    """A running strategy's ARM steps, from its history: each write and each look at its operation."""
    out = []
    for e in (strategy or {}).get("historyEvents") or []:
        result = e.get("Result")
        if (
            e.get("EventType") != "TaskCompleted"
            or e.get("FunctionName") not in ARM_STEPS
            or not isinstance(result, dict)
        ):
            continue
        failure = result.get("failure")
        code = failure.get("code") if isinstance(failure, dict) else None
        text = f"{whose}: {e['FunctionName']} -> {result.get('step')}" + (f" {code}" if code else "")
        out.append(Row(str(e.get("Timestamp") or ""), "attempt", text))
    return out[-MAX_TIMERS:]


def _attempts(attempts: list[Any]) -> list[Row]:
    out = []
    for a in attempts:
        if not isinstance(a, dict):
            continue
        count = int(a.get("count") or 1)
        text = f"{a.get('action')} -> {a.get('result')}" + (f" {a['code']}" if a.get("code") else "")
        if count > 1:
            text += f" x{count} (until {_short(a.get('last'))})"
        if a.get("nextTry"):
            text += f", next try {_short(a['nextTry'])}"
        if a.get("message") and a.get("result") != "succeeded":
            text += f": {str(a['message'])[:160]}"
        out.append(Row(str(a.get("first") or ""), "attempt", text))
    return out


def _timers(instance: dict[str, Any] | None, whose: str) -> list[Row]:
    events = [e for e in (instance or {}).get("historyEvents") or [] if e.get("EventType") == "TimerCreated"]
    rows = [
        Row(str(e.get("Timestamp") or ""), "timer", f"{whose} waits until {_short(e.get('FireAt'))}") for e in events
    ]
    if len(rows) > MAX_TIMERS:
        skipped = len(rows) - MAX_TIMERS
        rows = [*rows[:MAX_TIMERS], Row(rows[-1].at, "timer", f"... {skipped} more timers in the {whose}'s history")]
    return rows


def _walk(info: dict[str, Any]) -> list[Row]:
    out = []
    for w in info.get("walk") or []:
        if isinstance(w, dict):
            kind = "Spot" if w.get("spot") else "Regular"
            text = f"create #{w.get('attempt')} {w.get('name')} on {w.get('offering')} ({kind}) -> {w.get('result')}"
            out.append(Row(str(w.get("at") or ""), "create", text + (f" {w['code']}" if w.get("code") else "")))
    return out


def _now(row: RecoveryRow, strategy: dict[str, Any] | None) -> list[Row]:
    """While it runs: the strategy's live status (the phase it waits in, its next try, the last error)."""
    if not row.running:
        return []
    status = (strategy or {}).get("customStatus")
    live = status if isinstance(status, dict) and (strategy or {}).get("runtimeStatus") != "Completed" else {}
    phase = live.get("phase") or row.phase
    text = f"now: {phase}" + (f", attempt {live['attempt']}" if live.get("attempt") else "")
    if live.get("nextTry"):
        text += f", next try {_short(live['nextTry'])}"
    error = live.get("lastError")
    if isinstance(error, dict) and error.get("code"):
        text += f", last error {error['code']}"
    return [Row(str((strategy or {}).get("lastUpdatedTime") or "~"), "status", text)]


def _outcome(row: RecoveryRow, info: dict[str, Any]) -> list[Row]:
    if not row.outcome:
        return []
    text = f"{row.outcome} / {row.reason}" + (f": {row.detail}" if row.detail else "")
    error = info.get("lastError")
    if isinstance(error, dict) and error.get("code"):
        text += f" (last error {error['code']})"
    return [Row(row.concluded_at or str(info.get("finishedAt") or ""), "outcome", text)]


def candidates(info: dict[str, Any]) -> dict[str, Any] | None:
    """A redeploy's last ranking: the first ranked candidates, the excluded ones and why, the choice."""
    ranking = info.get("ranking")
    if not isinstance(ranking, dict):
        return None
    keys = ("size", "region", "zone", "price", "evictionRate", "placementScore", "regionCooling", "score")
    ranked = [{k: c.get(k) for k in keys} for c in ranking.get("ranked") or [] if isinstance(c, dict)]
    excluded = [
        {k: c.get(k) for k in ("size", "region", "zone", "excluded")}
        for c in ranking.get("excluded") or []
        if isinstance(c, dict)
    ]
    used = next((w for w in info.get("walk") or [] if isinstance(w, dict) and w.get("result") == "succeeded"), None)
    return {
        "at": ranking.get("at"),
        "priority": ranking.get("priority"),
        "strategy": ranking.get("strategy"),
        "choice": ranking.get("choice"),
        "ranked": ranked[:MAX_CANDIDATES],
        "rankedTotal": len(ranked),
        "excluded": excluded[:MAX_CANDIDATES],
        "excludedTotal": len(excluded),
        "used": used.get("offering") if used else None,
    }


def _short(value: Any) -> str:
    """``2026-12-01T12:04:10.123Z`` -> ``12:04:10``: rows already say the day."""
    text = str(value or "")
    match = re.match(r"^\d{4}-\d{2}-\d{2}T(\d{2}:\d{2}:\d{2})", text)
    return match.group(1) if match else text or "-"


def _sortable(at: str) -> datetime:
    try:
        return parse_iso(at, "at")
    except InvalidInput:
        return parse_iso("2199-01-01T00:00:00Z", "at")  # a row without a time goes last, in its own order


def parse_since(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``2d`` -> seconds. Raises ValueError naming the expected form."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text or "")
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 15m, 1h or 2d")
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if seconds > MAX_SINCE_DAYS * 86400:
        raise ValueError(f"{text.strip()!r} is longer than {MAX_SINCE_DAYS}d: no recovery is older")
    return seconds
