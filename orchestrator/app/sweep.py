"""The reconciliation sweep, on a timer (``RESPOT_SWEEP_SCHEDULE``, every five minutes by default): it lists what
is in scope, keeps the inventory, and starts a recovery for what no alert reported (orchestrator.domain.sweep).

One sweep, in order::

    the record respot-sweep-<minute> exists already: another firing of this occurrence ran it, stop
    list each subscription: VMs (model), VMs (statusOnly: instance views), scale sets (three reads), and the
      instances of each Spot Uniform set respot restores (one more read per set)
    inventory: each fleet member to its ``member`` entity, each Delete-policy set's capacity to ``scaleset``
    roster: read the subscription's ``roster`` entity; the members on it not listed now are missing
    admit each candidate's signal (orchestrator.app.admission): start, duplicate, late, or recovering (it belongs to
      a recovery still at work, an alert's perhaps: it is not raised to it)
    roster: set it to the members listed now (and the missing ones whose admission failed, for the next sweep)
    start the record orchestration respot-sweep-<minute>: its output is what the sweep found and did

Every sweep sends every member (one entity operation each, ~3 per second for a thousand members): no cache in the
worker, so a task hub that lost its state is whole again five minutes later. Members respot creates are recorded by
the redeploy itself, at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrator import telemetry
from orchestrator.activities.inventory import Survey, fleet_members, scale_set_capacities, survey
from orchestrator.app import compose
from orchestrator.app.admission import BackendUnavailable, admit
from orchestrator.domain import sweep as rules
from orchestrator.domain.capacity import SCALESET
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.identity import Route
from orchestrator.domain.memory import MEMBER
from orchestrator.domain.models import InvalidInput, VmFacts, VmRef, iso, parse_iso
from orchestrator.domain.scope import Scope, vm_hash
from orchestrator.domain.template import Member
from orchestrator.ports import Compute, ScaleSets
from orchestrator.settings import Settings, get_settings
from orchestrator.workflows import names
from orchestrator.workflows import sweep as record_workflow

# The schedule is the validated setting's value, read by the worker when it indexes the app (as the return timer's),
# not ``%RESPOT_SWEEP_SCHEDULE%`` for the host to resolve: an app without the setting gets the default schedule
# instead of a host that will not index the sweep, and the value is the one settings checked (at most once a minute).
# Azure restarts the app when an app setting changes, so the worker reads a changed schedule as the host would.
RECOVERING = "recovering"  # the signal belongs to a recovery still at work: nothing to start, nothing to raise
MAX_LISTED = 500  # entries per list in the record; the counts stay exact

bp = df.Blueprint()
log = logging.getLogger("respot.sweep")


@bp.timer_trigger(schedule=get_settings().sweep_schedule, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await run(client, fired_at(timer))


@bp.orchestration_trigger(context_name="context", orchestration=names.SWEEP_RECORD)
def sweep_record(context: df.DurableOrchestrationContext) -> Any:
    return record_workflow.sweep_record(context)


@dataclass(frozen=True)
class Ports:
    """What a sweep reads: the composition's, unless a test gives its own."""

    settings: Settings
    fleets: Fleets
    compute: Compute
    scale_sets: ScaleSets

    @classmethod
    def composed(cls) -> Ports:
        return cls(compose.settings(), compose.fleets(), compose.compute(), compose.scale_sets())


async def run(
    client: df.DurableOrchestrationClient, now: datetime, ports: Ports | None = None
) -> dict[str, Any] | None:
    """One sweep; its record (None when this occurrence was swept already)."""
    record_id = rules.sweep_id(now)
    if await _recorded(client, record_id):
        log.info(json.dumps({"sweep": record_id, "skipped": "already recorded"}))
        return None
    ports = ports or Ports.composed()
    settings, fleets = ports.settings, ports.fleets
    surveys = await asyncio.to_thread(survey, ports.compute, ports.scale_sets, settings.scope)
    members = fleet_members(surveys, fleets, settings.scope, now)
    await _remember(client, surveys, members, settings.scope, now)
    record = Record(record_id, now)
    activity_log = bool(settings.log_workspace_id)
    delay = timedelta(minutes=settings.activity_log_delay_minutes) if activity_log else timedelta(0)
    clock = rules.Clock(now, delay)
    for listed in surveys:
        await _sweep_subscription(client, record, listed, members, settings.scope, activity_log, clock)
    record.fleets = _fleets(fleets, members, record)
    out = record.to_dict()
    await client.start_new(names.SWEEP_RECORD, record_id, out)
    log.info(json.dumps({"sweep": record_id, **out["counts"]}))
    return out


async def _recorded(client: df.DurableOrchestrationClient, record_id: str) -> bool:
    try:
        status = await client.get_status(record_id)
    except Exception:  # noqa: BLE001 - the client raises bare Exception for an answer it did not expect
        return False
    return status.runtime_status is not None


async def _remember(
    client: df.DurableOrchestrationClient,
    surveys: list[Survey],
    members: list[tuple[VmRef, Member]],
    scope: Scope,
    now: datetime,
) -> None:
    """The inventory: a set's capacity every sweep (the entity keeps it only while no eviction wave is open), and
    what respot knows of each member (what a replacement needs once the eviction has deleted the VM)."""
    at = iso(now)
    for key, capacity in scale_set_capacities(surveys, scope):
        await client.signal_entity(df.EntityId(SCALESET, key), "seen", {"capacity": capacity, "at": at})
    for ref, member in members:
        await client.signal_entity(df.EntityId(MEMBER, vm_hash(ref)), "remember", member.to_dict())


async def _sweep_subscription(
    client: df.DurableOrchestrationClient,
    record: Record,
    listed: Survey,
    members: list[tuple[VmRef, Member]],
    scope: Scope,
    activity_log: bool,
    clock: rules.Clock,
) -> None:
    record.errors += list(listed.errors)
    if listed.vms is None:
        return  # nothing concluded from what was not seen; the roster stays as it was
    everything = listed.vms + listed.instances
    candidates = record.look(everything, scope, activity_log, clock)
    entity = df.EntityId(rules.ROSTER, listed.subscription)
    before = await _roster(client, entity)
    if before is None:  # unreadable: admit what the listing shows, and leave the roster for the next sweep
        record.errors.append(f"the roster of {listed.subscription} was not read: missing members wait a sweep")
        for candidate in candidates:
            await record.admit(client, candidate)
        return
    missed = rules.missing(before, {ref.id for ref, _ in everything}, scope, listed.swept_sets)
    gone, waiting, held = rules.due(before, missed, clock)  # waiting: kept on the roster until the log has them
    record.passed += held
    sets = frozenset(f.id.lower() for _, _, f, _ in listed.sets) if listed.sets is not None else None
    kept: rules.Roster = rules.unswept(before, listed.swept_sets, sets) | waiting
    for candidate in candidates + gone:
        if not await record.admit(client, candidate) and candidate.finding == rules.Finding.MISSING:
            kept[candidate.vm.id] = before[candidate.vm.id]  # not handed over: the next sweep tries again
    now, settled = iso(record.at), rules.settled(everything)
    created = {ref.id: {"created": f.created_at} if f.created_at else {} for ref, f in everything}
    kept |= {r.id: {"fleet": m.fleet, "seen": now} | created.get(r.id, {}) for r, m in members if r.id in settled}
    kept |= {
        r.id: {"fleet": "", "seen": now} | created.get(r.id, {})
        for r, f in listed.instances
        if f.delete_policy and r.id in settled
    }
    await client.signal_entity(entity, "set", {"members": kept, "at": now})


async def _roster(client: df.DurableOrchestrationClient, entity: df.EntityId) -> rules.Roster | None:
    """The roster as the last sweep left it ({} before the first); None when the backend did not answer."""
    try:
        state = await client.read_entity_state(entity)
    except Exception as exc:  # noqa: BLE001 - the client raises bare Exception for an answer it did not expect
        log.warning("sweep: roster %s not read: %s", entity.key, str(exc)[:200])
        return None
    roster = state.entity_state if state.entity_exists else None
    if isinstance(roster, str):
        roster = json.loads(roster)
    return roster if isinstance(roster, dict) else {}


class Record:
    """What one sweep found and did: the output of its record orchestration."""

    def __init__(self, record_id: str, at: datetime) -> None:
        self.record_id, self.at = record_id, at
        self.looked_at, self.errors = 0, list[str]()
        self.passed: list[rules.Passed] = []
        self.found: list[dict[str, Any]] = []
        self.fleets: dict[str, dict[str, int]] = {}

    def look(
        self, listed: list[tuple[VmRef, VmFacts]], scope: Scope, activity_log: bool, clock: rules.Clock
    ) -> list[rules.Candidate]:
        """The candidates among the listed VMs; what is left alone is noted with its reason."""
        candidates = []
        for ref, facts in listed:
            if not rules.watched(ref, facts, scope):
                continue
            self.looked_at += 1
            seen = rules.look(ref, facts, activity_log=activity_log, clock=clock)
            if isinstance(seen, rules.Passed):
                self.passed.append(seen)
            elif seen is not None:
                candidates.append(seen)
        return candidates

    async def admit(self, client: df.DurableOrchestrationClient, candidate: rules.Candidate) -> bool:
        """Admit the candidate's signal and note the route; False when the durable backend did not take it."""
        signal = candidate.signal
        telemetry.sweep_found(candidate.finding.value)
        entry = {"vm": signal.vm.id, "finding": candidate.finding.value, "occurredAt": iso(signal.occurred_at)}
        entry |= {"detail": candidate.detail, **({"fleet": candidate.fleet} if candidate.fleet else {})}
        try:
            admitted = await admit(client, signal, join=False)
        except BackendUnavailable as exc:
            self.found.append({**entry, "route": "backend_unavailable", "error": str(exc)[:200]})
            return False
        taken = RECOVERING if admitted.route == Route.JOIN else admitted.route.value
        self.found.append({**entry, "route": taken, "instanceId": admitted.instance_id})
        return True

    def to_dict(self) -> dict[str, Any]:
        routes: dict[str, int] = {}
        for entry in self.found:
            routes[entry["route"]] = routes.get(entry["route"], 0) + 1
        return {
            "sweep": self.record_id,
            "at": iso(self.at),
            "counts": {"lookedAt": self.looked_at, "found": len(self.found), "passed": len(self.passed), **routes},
            "found": self.found[:MAX_LISTED],
            "passed": [p.to_dict() for p in self.passed[:MAX_LISTED]],
            "omitted": max(0, len(self.found) - MAX_LISTED) + max(0, len(self.passed) - MAX_LISTED),
            "fleets": self.fleets,
            "errors": self.errors[:MAX_LISTED],
        }


def _fleets(fleets: Fleets, members: list[tuple[VmRef, Member]], record: Record) -> dict[str, dict[str, int]]:
    """Each profile's desired count against the members listed now, and how many of its members went missing."""
    gone = [e for e in record.found if e["finding"] == rules.Finding.MISSING.value]
    out = {}
    for profile in fleets.fleets:
        live = sum(1 for _, m in members if m.fleet == profile.name)
        missing = sum(1 for e in gone if e.get("fleet") == profile.name)
        out[profile.name] = {"desired": profile.desired, "listed": live, "short": max(0, profile.desired - live)}
        out[profile.name]["missing"] = missing
    return out


def fired_at(timer: func.TimerRequest) -> datetime:
    """When this run was due. The host hands the function the schedule status from *before* the run (WebJobs'
    TimerListener.InvokeJobFunction): ``Next`` is the occurrence now due, ``Last`` and ``LastUpdated`` the previous
    run's time (one period stale). So: ``Next`` (the host's clock, simulated in local runs, so the sweep's times agree
    with the orchestrations'), unless the run is past due (``Next`` is then the occurrence the host missed while
    down) or there is no status (schedule monitoring off): then the wall clock. The sweep and the return timer do not
    run on startup, whose ``Next`` is the coming occurrence."""
    status = getattr(timer, "schedule_status", None) or {}  # azure.functions.timer.TimerRequest has it; the abc not
    if not getattr(timer, "past_due", False) and isinstance(status, dict):
        try:
            return parse_iso(status.get("Next"), "Next")
        except InvalidInput:
            pass
    return datetime.now(UTC)
