"""The inventory sweep, every five minutes: each fleet member's knowledge goes to its ``member`` entity, where it
outlives the VM (a Delete-policy eviction deletes the VM and its disks, and with them what a replacement needs),
and each Delete-policy scale set's capacity to its ``scaleset`` entity (what a restore goes back to).

A member is sent again only when what respot knows of it changed, or once an hour (a new worker process starts
with an empty cache: it sends everything once). Members respot creates are recorded by the redeploy itself."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from orchestrator.activities.inventory import fleet_members, scale_set_capacities
from orchestrator.app import compose
from orchestrator.domain.capacity import SCALESET
from orchestrator.domain.memory import MEMBER
from orchestrator.domain.models import iso
from orchestrator.domain.scope import vm_hash

SCHEDULE = "0 */5 * * * *"  # NCRONTAB, with seconds
RESEND_SECONDS = 3600

bp = df.Blueprint()
_sent: dict[str, tuple[str, float]] = {}  # vm hash -> (what was sent, when): per worker process


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def inventory(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    now = datetime.now(UTC)
    scope = compose.settings().scope
    found = await asyncio.to_thread(fleet_members, compose.compute(), compose.fleets(), scope, now)
    sets = await asyncio.to_thread(scale_set_capacities, compose.scale_sets(), scope)
    for key, capacity in sets:  # every sweep: the entity keeps it only while no eviction wave is open
        await client.signal_entity(df.EntityId(SCALESET, key), "seen", {"capacity": capacity, "at": iso(now)})
    for ref, member in found:
        key = vm_hash(ref)
        known = member.to_dict()
        fingerprint = json.dumps({k: v for k, v in known.items() if k != "seen_at"}, sort_keys=True)
        last = _sent.get(key)
        if last is not None and last[0] == fingerprint and time.monotonic() - last[1] < RESEND_SECONDS:
            continue
        await client.signal_entity(df.EntityId(MEMBER, key), "remember", known)
        _sent[key] = (fingerprint, time.monotonic())
