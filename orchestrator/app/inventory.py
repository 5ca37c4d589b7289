"""The inventory sweep, every five minutes: each fleet member's knowledge goes to its ``member`` entity, where it
outlives the VM (a Delete-policy eviction deletes the VM and its disks, and with them what a replacement needs),
and each Delete-policy scale set's capacity to its ``scaleset`` entity (what a restore goes back to).

Every sweep sends every member (one entity operation each, ~3 per second for a thousand members): no cache in the
worker, so a task hub that lost its state is whole again five minutes later. Members respot creates are recorded by
the redeploy itself, at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from orchestrator.activities.inventory import fleet_members, scale_set_capacities
from orchestrator.app import compose
from orchestrator.domain.capacity import SCALESET
from orchestrator.domain.memory import MEMBER
from orchestrator.domain.models import InvalidInput, iso, parse_iso
from orchestrator.domain.scope import vm_hash

SCHEDULE = "0 */5 * * * *"  # NCRONTAB, with seconds

bp = df.Blueprint()


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def inventory(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    now = _fired_at(timer)
    scope = compose.settings().scope
    found = await asyncio.to_thread(fleet_members, compose.compute(), compose.fleets(), scope, now)
    sets = await asyncio.to_thread(scale_set_capacities, compose.scale_sets(), scope)
    for key, capacity in sets:  # every sweep: the entity keeps it only while no eviction wave is open
        await client.signal_entity(df.EntityId(SCALESET, key), "seen", {"capacity": capacity, "at": iso(now)})
    for ref, member in found:
        await client.signal_entity(df.EntityId(MEMBER, vm_hash(ref)), "remember", member.to_dict())


def _fired_at(timer: func.TimerRequest) -> datetime:
    """When this run was due: the schedule monitor's LastUpdated (the host's clock, simulated in local runs, so the
    sweep's times agree with the orchestrations'), else the wall clock."""
    status = getattr(timer, "schedule_status", None) or {}  # azure.functions.timer.TimerRequest has it; the abc not
    try:
        return parse_iso(status.get("LastUpdated"), "LastUpdated")
    except InvalidInput:
        return datetime.now(UTC)
