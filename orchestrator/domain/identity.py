"""The identity of a recovery: which recovery a signal belongs to, so that one eviction is one record. Pure.

Each eviction of a VM gets its own durable orchestration, ``respot-<vm hash>-<n>`` (n = 1, 2, ...): its record
(history and output) is never replaced by a later one, and each links to the one before. A recovery publishes, in
its custom status and output, when it opened (``openedAfter``: the previous one's conclusion) and when it concluded
(``concludedAt``: the time of the VM read that settled it). A signal belongs to the recovery whose window holds the
signal's own time (when the source says the eviction happened, not when the signal arrived):

- before the window's end, or the recovery is still working: it **joins** that recovery, which records it;
- after the latest recovery concluded: a **new** eviction, recovery n + 1 starts, linked to n;
- it belongs to a recovery that already finished: it is **late**, recorded as ignored with that recovery's id;
- it is already recorded there (alerts are delivered at least once): a **duplicate**, nothing to do;
- that recovery already holds MAX_SIGNALS signals: **saturated**, recorded as ignored (a flood of distinct signals
  for one VM must not grow its history without bound).

Concluded recoveries stay open for a settle window (minutes) before they complete, so that signals that lag behind
the first one still reach the record, and so that two deliveries racing to start recovery n + 1 always meet the
running instance (Durable Functions refuses a second start of a running id; it would replace a completed one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.domain.models import InvalidInput, Signal, VmRef, parse_iso
from orchestrator.domain.scope import vm_hash
from orchestrator.domain.story import MAX_SIGNALS

PREFIX = "respot-"
ACTIVE = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})


def recovery_prefix(vm: VmRef) -> str:
    return f"{PREFIX}{vm_hash(vm)}-"


def recovery_id(vm: VmRef, seq: int) -> str:
    return f"{recovery_prefix(vm)}{seq:04d}"


MAX_SEQ = 999_999  # no VM has a million evictions on record: a larger number was not made by intake


def seq_of(instance_id: str, vm: VmRef) -> int | None:
    prefix = recovery_prefix(vm)
    tail = instance_id[len(prefix) :] if instance_id.startswith(prefix) else ""
    return int(tail) if re.fullmatch(r"[0-9]{4,6}", tail) and int(tail) <= MAX_SEQ else None


_RECOVERY_ID = re.compile(rf"{PREFIX}[0-9a-f]{{24}}-[0-9]{{4,6}}")  # recovery_id: the 24-hex vm_hash, the seq


def is_recovery_id(instance_id: Any) -> bool:
    """``respot-<vm hash>-<n>``: a recovery, not its sub-orchestrations, a sweep's record or a return to Spot."""
    return isinstance(instance_id, str) and _RECOVERY_ID.fullmatch(instance_id) is not None


@dataclass(frozen=True)
class RecoveryRecord:
    """What routing needs to know of one recovery, read from its durable status."""

    instance_id: str
    seq: int
    active: bool
    opened_after: datetime | None = None
    concluded_at: datetime | None = None
    signal_keys: frozenset[str] = frozenset()
    outcome: str | None = None
    last_signal_at: datetime | None = None  # the latest time its own signals give (an agent's NotBefore is ahead)

    @property
    def window_end(self) -> datetime | None:
        """After this, a signal is a new eviction: the conclusion, or its own signals' time if that is later."""
        if self.concluded_at is None:
            return None
        return max(self.concluded_at, self.last_signal_at or self.concluded_at)

    @classmethod
    def from_status(
        cls, vm: VmRef, instance_id: str, runtime_status: str | None, published: Any, last_updated: datetime | None
    ) -> RecoveryRecord | None:
        """From a status query: ``published`` is the output when finished, else the custom status. None if the
        instance is not one of this VM's recoveries."""
        seq = seq_of(instance_id, vm)
        if seq is None:
            return None
        info = published if isinstance(published, dict) else {}
        if info.get("outcome") == "rejected":
            return None  # not a recovery respot started: its input did not match its id
        active = (runtime_status or "") in ACTIVE
        concluded = _time(info.get("concludedAt"))
        if not active and concluded is None:
            concluded = last_updated  # failed or terminated before concluding: its window ends where it stopped
        listed = info.get("signals")
        keys: list[Any] = listed if isinstance(listed, list) else []
        return cls(
            instance_id,
            seq,
            active,
            _time(info.get("openedAfter")),
            concluded,
            frozenset(k if isinstance(k, str) else _key(k) for k in keys),
            info.get("outcome") if isinstance(info.get("outcome"), str) else None,
            _time(info.get("lastSignalAt")),
        )


def _key(entry: Any) -> str:
    return f"{entry.get('source')}:{entry.get('eventId')}" if isinstance(entry, dict) else ""


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(value, "time") if value else None
    except InvalidInput:
        return None


class Route(StrEnum):
    START = "start"
    JOIN = "join"
    DUPLICATE = "duplicate"
    LATE = "late"
    SATURATED = "saturated"


@dataclass(frozen=True)
class Routing:
    route: Route
    instance_id: str
    seq: int
    previous: RecoveryRecord | None = None  # for START: the recovery this one follows


def route(signal: Signal, records: list[RecoveryRecord]) -> Routing:
    """Where ``signal`` goes, given every recovery of its VM still on record."""
    if not records:
        return Routing(Route.START, recovery_id(signal.vm, 1), 1)
    recorded = next((r for r in records if signal.key in r.signal_keys), None)
    if recorded is not None:
        return Routing(Route.DUPLICATE, recorded.instance_id, recorded.seq)
    ordered = sorted(records, key=lambda r: r.seq, reverse=True)
    latest, home = ordered[0], _home(signal, ordered)
    end = latest.window_end
    if home is latest and end is not None and signal.occurred_at > end:
        return Routing(Route.START, recovery_id(signal.vm, latest.seq + 1), latest.seq + 1, latest)
    if not home.active:
        return Routing(Route.LATE, home.instance_id, home.seq)
    if len(home.signal_keys) >= MAX_SIGNALS:
        return Routing(Route.SATURATED, home.instance_id, home.seq)
    return Routing(Route.JOIN, home.instance_id, home.seq)


def _home(signal: Signal, newest_first: list[RecoveryRecord]) -> RecoveryRecord:
    """The recovery whose window holds the signal's time. A recovery that has not published yet (Pending) opened
    where the one before it concluded, as intake said when it started it."""
    by_seq = {r.seq: r for r in newest_first}
    for record in newest_first:
        before = by_seq.get(record.seq - 1)
        opened = record.opened_after or (before.window_end if before is not None else None)
        if opened is None or signal.occurred_at >= opened:
            return record
    return newest_first[-1]
