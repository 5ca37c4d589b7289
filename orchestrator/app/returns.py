"""The return to Spot: a timer (``RESPOT_RETURN_SCHEDULE``, every five minutes by default) lists the Regular
fallbacks in scope (one VM list per subscription), and starts a ``return_to_spot`` for each one its profile allows
(orchestrator.domain.revert decides: revert enabled, above the keep_regular floor, none in flight, the dwell after
the last try over). The orchestration and its activities are registered here too (orchestrator.workflows.revert)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrator.activities import returns
from orchestrator.app import compose
from orchestrator.app.sweep import fired_at
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.identity import ACTIVE
from orchestrator.domain.models import InvalidInput, VmRef, iso, parse_iso
from orchestrator.domain.revert import Previous, not_due, return_id
from orchestrator.domain.scope import Scope
from orchestrator.domain.template import Member
from orchestrator.ports import Compute, MarketData, Secrets
from orchestrator.settings import get_settings
from orchestrator.workflows import names, revert

bp = df.Blueprint()
log = logging.getLogger("respot.returns")


@bp.timer_trigger(schedule=get_settings().return_schedule, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def returns_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await look(client, fired_at(timer), compose.compute(), compose.fleets(), compose.settings().scope)


async def look(
    client: df.DurableOrchestrationClient, now: datetime, compute: Compute, fleets: Fleets, scope: Scope
) -> None:
    """Start a return for each fallback that is due one, and at most one move per fleet (none while one is in
    flight); a start refused because one runs under the id is fine."""
    found = await asyncio.to_thread(returns.fallbacks, compute, fleets, scope, now)
    previous = {ref.id: _previous(await client.get_status(return_id(ref))) for ref, _, _ in found}
    moving = {p.name for ref, m, p in found if _moves(m) and (previous[ref.id] or Previous(False)).running}
    for ref, member, profile in found:
        if _moves(member) and profile.name in moving:
            continue
        why = not_due(profile.revert, previous[ref.id], now)
        if why is not None:
            log.info(json.dumps({"return": "not started", "vm": ref.id, "why": why}))
            continue
        if _moves(member):
            moving.add(profile.name)
        await _start(client, ref, member, now)


def _moves(member: Member) -> bool:
    return member.priority.lower() == "spot"


async def _start(client: df.DurableOrchestrationClient, ref: VmRef, member: Member, now: datetime) -> None:
    instance_id = return_id(ref)
    try:
        await client.start_new(names.RETURN_TO_SPOT, instance_id, {"vm": ref.to_dict(), "member": member.to_dict()})
    except Exception as exc:  # noqa: BLE001 - the client raises bare Exception; one running under the id is fine
        log.info(json.dumps({"return": "start refused", "vm": ref.id, "detail": str(exc)[:200]}))
        return
    log.info(json.dumps({"return": "started", "vm": ref.id, "instanceId": instance_id, "at": iso(now)}))


def _previous(status: Any) -> Previous | None:
    runtime = status.runtime_status.value if status is not None and status.runtime_status else None
    if runtime is None:
        return None
    if runtime in ACTIVE:
        return Previous(running=True)
    output = status.output if isinstance(status.output, dict) else {}
    try:
        concluded = parse_iso(output.get("concludedAt"), "concludedAt")
    except InvalidInput:
        concluded = status.last_updated_time
    return Previous(running=False, reason=output.get("reason"), concluded_at=concluded)


@bp.orchestration_trigger(context_name="context", orchestration=names.RETURN_TO_SPOT)
def return_to_spot(context: df.DurableOrchestrationContext) -> Any:
    return revert.return_to_spot(context, df.EntityId)


@bp.activity_trigger(input_name="payload", activity=names.CREATE_RETURN)
def create_return(payload: Any) -> dict[str, Any]:
    return returns.create_return(payload, *_create_ports())


@bp.activity_trigger(input_name="payload", activity=names.DELETE_FALLBACK)
def delete_fallback(payload: Any) -> dict[str, Any]:
    return returns.delete_fallback(payload, compose.compute(), compose.fleets(), compose.settings().scope)


def _create_ports() -> tuple[Compute, MarketData, Secrets, Fleets, Scope]:
    return compose.compute(), compose.market(), compose.secrets(), compose.fleets(), compose.settings().scope
