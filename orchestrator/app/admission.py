"""Admitting one signal: find the VM's recoveries, route the signal (orchestrator.domain.identity), then start the
next recovery, raise the signal to the running one, or record it as a duplicate or late.

Races are settled by the durable backend: two deliveries that both decide to start recovery n + 1 send the same
instance id, and Durable Functions refuses the second start while the first runs (host.json pins
``overridableExistingInstanceStates: NonRunningStates``); the loser routes again and joins. A recovery that
finished between the status read and ``raise_event`` answers 410, and the signal is routed again (it is then late).
If the backend itself refuses (a start fails and nothing runs under that id), :class:`BackendUnavailable` makes the
HTTP answer a 503, so Azure Monitor and Event Grid deliver again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from orchestrator import telemetry
from orchestrator.domain.identity import ACTIVE, RecoveryRecord, Route, Routing, recovery_id, recovery_prefix, route
from orchestrator.domain.models import Signal, iso
from orchestrator.workflows import names

log = logging.getLogger("respot.intake")
ROUTING_TRIES = 3
PAGE = 100  # the durable list API answers 100 at a time; the Python client never asks for the next page


class BackendUnavailable(Exception):
    """The durable backend did not take the signal: the sender must deliver it again."""


@dataclass(frozen=True)
class Admitted:
    route: Route
    instance_id: str

    def to_dict(self, signal: Signal) -> dict[str, Any]:
        return {
            "vm": signal.vm.id,
            "source": signal.source.value,
            "eventId": signal.event_id,
            "instanceId": self.instance_id,
            "route": self.route.value,
        }


async def admit(client: df.DurableOrchestrationClient, signal: Signal, *, join: bool = True) -> Admitted:
    """``join=False`` (the sweep): a signal that belongs to a running recovery is not raised to it, since that
    recovery is already at work on the VM; the sweep starts only what nothing handles, and each of its periods
    would otherwise lengthen every running recovery's history during a mass eviction.

    Raises :class:`BackendUnavailable`."""
    for _ in range(ROUTING_TRIES):
        routing = route(signal, await _records(client, signal))
        if routing.route in (Route.DUPLICATE, Route.LATE, Route.SATURATED) or (
            routing.route == Route.JOIN and not join
        ):
            return _admitted(signal, routing)
        if await _deliver(client, signal, routing):
            return _admitted(signal, routing)
    raise BackendUnavailable(f"could not route the signal for {signal.vm.id} after {ROUTING_TRIES} tries")


def _admitted(signal: Signal, routing: Routing) -> Admitted:
    telemetry.signal_admitted(
        source=signal.source.value, route=routing.route.value, vm_id=signal.vm.id, instance_id=routing.instance_id
    )
    return Admitted(routing.route, routing.instance_id)


async def _records(client: df.DurableOrchestrationClient, signal: Signal) -> list[RecoveryRecord]:
    try:
        statuses = await client.get_status_by(instance_id_prefix=recovery_prefix(signal.vm))
    except Exception as exc:  # the client raises bare Exception for any answer it did not expect
        raise BackendUnavailable(f"the durable backend did not answer a status query: {exc}") from exc
    records = [r for r in (_record(signal, s) for s in statuses) if r is not None]
    if len(statuses) >= PAGE and records:  # perhaps more than one page: make sure the newest are known
        try:
            records += await _newest(client, signal, max(r.seq for r in records))
        except Exception as exc:
            raise BackendUnavailable(f"the durable backend did not answer a status read: {exc}") from exc
    return records


def _record(signal: Signal, status: Any) -> RecoveryRecord | None:
    runtime = status.runtime_status.value if status.runtime_status else None
    published = status.output if runtime not in ACTIVE else status.custom_status
    return RecoveryRecord.from_status(signal.vm, str(status.instance_id), runtime, published, status.last_updated_time)


async def _newest(client: df.DurableOrchestrationClient, signal: Signal, known: int) -> list[RecoveryRecord]:
    """The newest recovery and the one before it, past the first page: ids are dense (n = 1, 2, ...), so probe
    upward in doubling steps, then halve the gap (a few status reads for thousands of recoveries)."""

    async def status(seq: int) -> Any:
        return await client.get_status(recovery_id(signal.vm, seq))

    low, step = known, 1
    while (await status(low + step)).runtime_status is not None:
        low, step = low + step, step * 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if (await status(middle)).runtime_status is not None else (low, middle)
    found = [_record(signal, await status(seq)) for seq in (low, low - 1) if seq > 0]
    return [r for r in found if r is not None]


async def _deliver(client: df.DurableOrchestrationClient, signal: Signal, routing: Routing) -> bool:
    """Start or join; False when the world changed under us and the signal must be routed again."""
    if routing.route == Route.JOIN:
        try:
            await client.raise_event(routing.instance_id, names.SIGNAL_EVENT, signal.to_dict())
        except Exception as exc:  # noqa: BLE001 - the client raises bare Exception: 410 finished meanwhile, 404 purged
            log.info(json.dumps({"intake": "reroute", "instanceId": routing.instance_id, "detail": str(exc)[:120]}))
            return False
        return True
    payload = {"signal": signal.to_dict(), "seq": routing.seq, "previous": _link(routing.previous)}
    try:
        await client.start_new(names.RECOVER_VM, routing.instance_id, payload)
    except Exception as exc:
        if await _running(client, routing.instance_id):
            return False  # another delivery started it first: route again, and join it
        raise BackendUnavailable(f"the durable backend refused to start {routing.instance_id}: {exc}") from exc
    return True


async def _running(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    try:
        status = await client.get_status(instance_id)
    except Exception:  # noqa: BLE001 - no answer at all: the caller reports the backend as unavailable
        return False
    return status.runtime_status is not None and status.runtime_status.value in ACTIVE


def _link(previous: RecoveryRecord | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    concluded = iso(previous.concluded_at) if previous.concluded_at else None
    return {"instanceId": previous.instance_id, "outcome": previous.outcome, "concludedAt": concluded}
