"""The reconciliation sweep's decisions, pure: which listed VMs it hands to a recovery, with what signal, and which
fleet members have disappeared since the last sweep. The guard against lost or late alerts and immediate evictions.

What it starts, each through the same admission as an alert (orchestrator.app.admission):

| what the sweep sees                                            | finding        | the signal's time             |
|----------------------------------------------------------------|----------------|-------------------------------|
| a Deallocate-policy Spot VM, deallocated                       | deallocated    | its ProvisioningState time    |
| ... with ProvisioningState/failed/<a capacity code>            | failed_start   | its ProvisioningState time    |
| a fleet member (or a Delete-policy Uniform instance) on the    | missing        | when the last sweep saw it    |
| roster at the last sweep, not listed now                       |                |                               |

**The time rule.** A signal's ``occurred_at`` decides which recovery it belongs to (orchestrator.domain.identity).
The sweep's is a time Azure keeps while nothing changes: the ``time`` of the VM's ProvisioningState status (when its
last operation ended), or, for a VM that is gone, when a sweep last saw it. So ten sweeps of one unchanged VM send
the same signal (same event id, ``<finding>@<time>``): the first starts a recovery (or joins the one an alert
started), the next nine are duplicates of it. A recovery that concluded (a person deallocated the VM: stopped or
ignored, ``user_deallocated``) concluded after that time, so the same state is late for it, never a new recovery;
only a new state change (an eviction after the VM ran again) has a later time and opens the next one.

Not only an eviction moves a deallocated VM's time (a tag change, a resize do too), so a ``deallocated`` finding's
recovery restarts the VM only on the platform's ``evictSpotVM`` record (``Signal.wants_eviction_record``). And the
Activity Log takes minutes to reach the workspace: with one configured, a state is acted on only once it is
``Clock.log_delay`` old, and a missing member stays on the roster (``gone``: when it was first missed) until then
(``held_for_activity_log``). A state older than SWEEP_MAX_AGE is left alone (``stale``).

The sweep never decides that a VM was evicted: the recovery does, as for an alert (the Activity Log's caller,
``respot:ignore``, eviction evidence for a VM that is gone). Without an Activity Log workspace a deallocated VM is
left alone (recorded as ``no_activity_log``): nothing could tell an eviction from a person's deallocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from orchestrator.domain import models
from orchestrator.domain.errors import CAPACITY_CODES
from orchestrator.domain.models import InvalidInput, Signal, Source, VmFacts, VmRef, VmStatus, iso, parse_iso
from orchestrator.domain.scope import InvalidResourceId, Scope, parse_vm_id

ROSTER = "roster"  # entity: the fleet members a subscription had at the last sweep (key: the subscription id)
PREFIX = "respot-sweep-"
MAX_ROSTER = 20_000  # members on one subscription's roster
FORGET_FOR = timedelta(days=1)  # how long a member respot deleted itself stays forgotten (far past any sweep)


def sweep_id(fired_at: datetime) -> str:
    """One record per scheduled minute: a second firing of the same occurrence (another instance of a scaled-out
    app, a past-due run at start) finds it and does nothing."""
    return PREFIX + fired_at.strftime("%Y%m%dT%H%MZ")


class Finding(StrEnum):
    DEALLOCATED = models.SWEEP_DEALLOCATED
    FAILED_START = "failed_start"
    MISSING = "missing"


class Left(StrEnum):
    """Why the sweep looked at a VM that could need a recovery and started none."""

    NO_ACTIVITY_LOG = "no_activity_log"
    NO_STATE_TIME = "no_state_time"
    NOT_CAPACITY = "failed_not_capacity"
    HELD = "held_for_activity_log"  # younger than RESPOT_ACTIVITY_LOG_DELAY_MINUTES: a later sweep acts on it
    STALE = "stale"  # older than SWEEP_MAX_AGE


@dataclass(frozen=True)
class Clock:
    """A sweep's time, and how old a state must be before the Activity Log surely holds what led to it (0 without
    an Activity Log workspace: nothing is asked of it)."""

    now: datetime
    log_delay: timedelta = timedelta(0)


@dataclass(frozen=True)
class Candidate:
    vm: VmRef
    finding: Finding
    occurred_at: datetime
    detail: str
    fleet: str = ""  # a missing member's fleet

    @property
    def signal(self) -> Signal:
        return Signal(self.vm, Source.SWEEP, f"{self.finding.value}@{iso(self.occurred_at)}", self.occurred_at)


@dataclass(frozen=True)
class Passed:
    vm: str
    reason: Left
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"vm": self.vm, "reason": self.reason.value, "detail": self.detail}


def watched(ref: VmRef, facts: VmFacts, scope: Scope) -> bool:
    """A VM the sweep looks at: a Spot VM in scope, with the required tags, not tagged respot:ignore."""
    return facts.is_spot and scope.allows(ref) and scope.tags_match(facts) and not facts.ignored_by_tag


def look(ref: VmRef, facts: VmFacts, *, activity_log: bool, clock: Clock) -> Candidate | Passed | None:
    """A watched VM: a candidate for a recovery, left alone with a reason, or nothing to see (None)."""
    if facts.delete_policy or facts.status != VmStatus.DEALLOCATED:
        return None  # running, in flux (the next sweep sees where it lands), or a Delete-policy VM on its way out
    failed, when = facts.provisioning_failed, _time(facts.changed_at)
    if failed is not None and failed.lower() not in CAPACITY_CODES:
        return Passed(ref.id, Left.NOT_CAPACITY, f"a start failed with {failed}: waiting for capacity cannot help")
    if when is None:
        return Passed(ref.id, Left.NO_STATE_TIME, "the instance view gives no time of the last change")
    if failed is None and not activity_log:
        detail = "deallocated; without an Activity Log workspace an eviction and a person's deallocation look alike"
        return Passed(ref.id, Left.NO_ACTIVITY_LOG, detail)
    if clock.now - when > models.SWEEP_MAX_AGE:
        return Passed(
            ref.id, Left.STALE, f"unchanged since {iso(when)}, more than {models.SWEEP_MAX_AGE.days} days ago"
        )
    if clock.log_delay and clock.now - when < clock.log_delay:
        return Passed(ref.id, Left.HELD, _held(when, clock))
    if failed is not None:
        return Candidate(ref, Finding.FAILED_START, when, f"ProvisioningState/failed/{failed} since {iso(when)}")
    return Candidate(ref, Finding.DEALLOCATED, when, f"deallocated since {iso(when)}")


def _held(since: datetime, clock: Clock) -> str:
    due = iso(since + clock.log_delay)
    return f"changed at {iso(since)}: acted on from {due}, once the Activity Log surely holds what led to it"


# --- the roster: which fleet members a subscription had at the last sweep --------------------------------------

# VM id -> {fleet, seen, [created]: its timeCreated, [gone]: the first sweep that did not list it, [forgotten]: when
# respot deleted it itself}
Roster = dict[str, dict[str, str]]


def settled(vms: list[tuple[VmRef, VmFacts]]) -> set[str]:
    """The VMs that go on the roster when they are members: not still being created, and not a create that failed
    (a replacement respot deletes after a failed create was never a member, and is not missed). A member that runs
    with a failed provisioning state (a failed extension: ``VMExtensionProvisioningError``) is a member. A member
    being deleted is one too (a Delete-policy eviction shows Deleting: the next sweep must miss it); a VM respot
    deletes itself is marked ``forgotten`` on the roster instead (``roster_op`` ``forget``)."""
    return {ref.id for ref, facts in vms if facts.status != VmStatus.CREATING and not _failed_create(facts)}


def _failed_create(facts: VmFacts) -> bool:
    """Failed, with no running power state beside the failed provisioning. A create that failed for capacity may
    show PowerState/deallocated beside it, as a failed start does (status deallocated): for a member that is a
    create, since respot never starts one (an eviction deletes it)."""
    failed = facts.status == VmStatus.FAILED or facts.provisioning_failed is not None
    return failed and "powerstate/running" not in {c.lower() for c in facts.codes}


def missing(roster: Roster, present: set[str], scope: Scope, swept: frozenset[str]) -> list[Candidate]:
    """Members on the roster that the listing no longer has (``present``: every VM and instance id listed, member
    or not; ``swept``: the scale sets whose instances were listed, so an instance of another is not concluded on)."""
    out = []
    for vm_id, entry in sorted(roster.items()):
        if vm_id in present or entry.get("forgotten"):
            continue  # listed, or deleted by respot itself (a recovery would blame a person for it)
        try:
            ref, seen = parse_vm_id(vm_id), parse_iso(entry.get("seen"), "seen")
        except (InvalidResourceId, InvalidInput):
            continue
        if scope.allows(ref) and (ref.scale_set_id is None or ref.scale_set_id in swept):
            fleet = str(entry.get("fleet") or "")
            out.append(Candidate(ref, Finding.MISSING, seen, _gone(ref, fleet, seen), fleet))
    return out


def due(roster: Roster, gone: list[Candidate], clock: Clock) -> tuple[list[Candidate], Roster, list[Passed]]:
    """The missing members whose absence is older than the log delay (their eviction record is in the Activity Log
    by now); the others stay on the roster, marked with the first sweep that missed them, and are noted as held."""
    ready, kept, held = [], Roster(), []
    for candidate in gone:
        entry = roster[candidate.vm.id]
        first = _time(entry.get("gone")) or clock.now
        if clock.now - first >= clock.log_delay:
            ready.append(candidate)
            continue
        kept[candidate.vm.id] = {**entry, "gone": iso(first)}
        held.append(Passed(candidate.vm.id, Left.HELD, f"not listed since {iso(first)}: {_held(first, clock)}"))
    return ready, kept, held


def unswept(roster: Roster, swept: frozenset[str], sets: frozenset[str] | None) -> Roster:
    """Instances on the roster whose set still exists (``sets``: the ids listed, None when the list failed) but
    whose instances were not listed this time: kept as they were, for the next sweep."""
    out = {}
    for vm_id, entry in roster.items():
        set_id = vm_id.rsplit("/virtualmachines/", 1)[0] if "/virtualmachinescalesets/" in vm_id else None
        if set_id is not None and set_id not in swept and (sets is None or set_id in sets):
            out[vm_id] = entry
    return out


def _gone(ref: VmRef, fleet: str, seen: datetime) -> str:
    if fleet:
        return f"a member of fleet '{fleet}' listed at {iso(seen)} is not listed now"
    if ref.scale_set is not None:
        return f"an instance of scale set '{ref.scale_set}' listed at {iso(seen)} is not listed now"
    return f"a Flexible scale-set member listed at {iso(seen)} is not listed now"


def roster_op(state: Any, operation: str, payload: Any) -> tuple[Any, Any]:
    """``set`` {members: {VM id: {fleet, seen, created?}}, at?}: the roster after a sweep at ``at`` (the members
    respot forgot stay forgotten). ``forget`` {id, at}: respot deletes that member itself. ``unforget`` {id}: that
    delete did not happen after all (the VM stays a member). ``get``: the roster."""
    roster: Roster = state if isinstance(state, dict) else {}
    if operation == "get":
        return roster, roster
    if operation == "set":
        members = payload.get("members") if isinstance(payload, dict) else None
        if not isinstance(members, dict) or len(members) > MAX_ROSTER:
            raise InvalidInput(f"roster: members must be an object of at most {MAX_ROSTER} entries")
        kept = {str(k)[:400]: _entry(v) for k, v in members.items()}
        at = payload.get("at")
        return forgotten(roster, kept, parse_iso(at, "at") if at else None), None
    if operation == "forget":
        vm_id, at = _forget(payload)
        if vm_id not in roster and len(roster) >= MAX_ROSTER:
            return roster, None  # full: the entry would have to push out a member the net still needs
        return {**roster, vm_id: {**roster.get(vm_id, {"fleet": "", "seen": at}), "forgotten": at}}, None
    if operation == "unforget":
        vm_id = _vm_id(payload)
        entry = {k: v for k, v in roster.get(vm_id, {}).items() if k != "forgotten"}
        return ({**roster, vm_id: entry} if entry else roster), None
    raise InvalidInput(f"roster: no operation {operation!r} (set, get, forget, unforget)")


def forgotten(before: Roster, after: Roster, now: datetime | None = None) -> Roster:
    """``after`` with the members respot forgot in ``before`` still forgotten: a sweep that listed one before its
    delete (or while it ran) sets it again, and the next sweep must not miss it. A VM of that name created after
    the delete is a new member; a mark older than ``FORGET_FOR`` at the sweep's time ``now`` (default: the newest
    ``seen``) is dropped, and so are the oldest marks past ``MAX_ROSTER`` entries."""
    out = dict(after)
    seen = [parse_iso(e["seen"], "seen") for e in after.values()]
    now = now or (max(seen) if seen else None)
    marks = sorted(before.items(), key=lambda item: str(item[1].get("forgotten") or ""), reverse=True)
    for vm_id, entry in marks:
        if len(out) >= MAX_ROSTER and vm_id not in out:
            break
        mark = entry.get("forgotten")
        if mark is None:
            continue
        at, fresh = parse_iso(mark, "forgotten"), after.get(vm_id)
        if fresh is not None and fresh.get("created") and parse_iso(fresh["created"], "created") > at:
            continue
        if now is not None and now - at > FORGET_FOR:
            continue
        out[vm_id] = {**(fresh or entry), "forgotten": mark}
    return out


def _forget(payload: Any) -> tuple[str, str]:
    return _vm_id(payload), iso(parse_iso(payload.get("at"), "at"))


def _vm_id(payload: Any) -> str:
    vm_id = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(vm_id, str) or not vm_id or len(vm_id) > 400:
        raise InvalidInput("roster: forget needs {id: a VM id, at: an ISO 8601 time}; unforget {id}")
    return vm_id.lower()


def _entry(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput("roster: each member is {fleet, seen, gone?, created?, forgotten?}")
    entry = {"fleet": str(value.get("fleet") or "")[:100], "seen": iso(parse_iso(value.get("seen"), "seen"))}
    for key in ("gone", "forgotten"):
        if value.get(key):
            entry[key] = iso(parse_iso(value[key], key))
    created = _time(value.get("created"))  # ARM's timeCreated: without it a forgotten name stays forgotten
    return entry | ({"created": iso(created)} if created else {})


def _time(value: str | None) -> datetime | None:
    try:
        return parse_iso(value, "changed_at") if value else None
    except InvalidInput:
        return None
