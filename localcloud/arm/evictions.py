"""Spot evictions: capacity recalls and price rises, the Preempt notice, then the eviction itself.

Sequence for one VM (spot-vms.md, scheduled-events.md):
1. capacity in its pool drops below use, or the spot price passes its maxPrice (or simulateEviction is called);
2. a Scheduled Events ``Preempt`` appears with NotBefore at least 30 s ahead (best effort in Azure);
3. at NotBefore, or as soon as the VM acknowledges the event (StartRequests), the VM is evicted:
   evictionPolicy Deallocate keeps the VM and its disks, deallocated; Delete removes the VM, its disks and NICs;
4. the Activity Log records ``.../evictSpotVM/action`` (platform caller), and Resource Health annotates the VM
   ``VirtualMachinePreempted``: alerts and Event Grid events follow from those (``notify``);
5. a scale set with Try & restore remembers the instance to bring back (``restore``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

from localcloud.arm import capacity
from localcloud.arm.backend import PLATFORM_CALLER, Backend
from localcloud.arm.models import Json, Power, Provisioning, ScheduledEvent, Vm


def schedule_eviction(b: Backend, vm: Vm, *, reason: str, notice: float | None = None) -> None:
    """Give ``vm`` its Preempt notice and evict it when the notice runs out (idempotent)."""
    if vm.eviction_due is not None or not vm.allocated:
        return
    delay = b.durations.preempt_notice if notice is None else max(0.0, notice)
    due = b.schedule(delay, f"evict {vm.name} ({reason})", lambda: evict(b, vm.key, reason))
    vm.eviction_due = due
    resource = f"{vm.scale_set}_{vm.instance_id}" if vm.scale_set else vm.name
    event = ScheduledEvent(str(uuid.uuid4()).upper(), "Preempt", [resource], due, vm.key, reason=reason)
    b.world.scheduled_events.setdefault(vm.key, []).append(event)
    _bump(b, vm.key)


def evict(b: Backend, key: str, reason: str) -> None:
    vm = b.world.vms.get(key)
    if vm is None or vm.eviction_due is None or not vm.allocated:
        return  # deleted, deallocated or already gone meanwhile
    now = b.now()
    vm.slot, vm.eviction_due, vm.evicted_at, vm.busy_op = None, None, now, None
    b.world.evictions.append((now, vm.location, vm.size.lower()))
    drop_events(b, vm)
    if vm.eviction_policy == "Delete":
        _delete_evicted(b, vm)
    else:
        vm.power, vm.provisioning, vm.status_time = Power.DEALLOCATED, Provisioning.SUCCEEDED, now
    _log_eviction(b, vm, reason)
    from localcloud.arm import restore  # Try & restore builds on scale sets, which build on this module

    restore.on_evicted(b, vm, reason)


def _delete_evicted(b: Backend, vm: Vm) -> None:
    from localcloud.arm import compute  # the eviction deletes as a user delete would (the set shrinks)

    compute.remove(b, vm, evicted=True)


def _log_eviction(b: Backend, vm: Vm, reason: str) -> None:
    # Uniform scale-set evictions are logged against the scale set resource type (azure-facts.md 1e); the
    # instance stays findable from properties.entity. A Flexible set's VM is a VM resource: its own record.
    if vm.scale_set is not None:
        op = "Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action"
        resource_id = vm.id.rsplit("/virtualMachines/", 1)[0]
    else:
        op, resource_id = "Microsoft.Compute/virtualMachines/evictSpotVM/action", vm.id
    props: Json = {
        "entity": vm.id,
        "eventCategory": "Administrative",
        "message": op,
        "evictionReason": reason,
        "evictionPolicy": vm.eviction_policy or "Deallocate",
    }
    if vm.instance_id is not None:
        props["instanceId"] = vm.instance_id
    b.record(operation=op, status="Succeeded", caller=PLATFORM_CALLER, resource_id=resource_id, properties=props)
    b.annotate(vm, "VirtualMachinePreempted")


def on_capacity_change(b: Backend, region: str, zone: str, size: str) -> list[str]:
    """Recall: give Preempt notices to the VMs a pool no longer has room for; returns their ids."""
    victims = capacity.over_capacity(b, region, zone, size)
    for vm in victims:
        schedule_eviction(b, vm, reason="capacity")
    return [vm.id for vm in victims]


def on_price_change(b: Backend, region: str, size: str) -> list[str]:
    """Evict running spot VMs whose maxPrice is now below the spot price (maxPrice -1 never is)."""
    price = b.price(region, size)
    victims = [
        vm
        for vm in b.world.vms.values()
        if vm.is_spot
        and vm.allocated
        and vm.location == region
        and vm.size.lower() == size.lower()
        and vm.max_price not in (None, -1)
        and (vm.max_price or 0) < price
    ]
    for vm in victims:
        schedule_eviction(b, vm, reason="price")
    return [vm.id for vm in victims]


# --- Scheduled Events (IMDS) -----------------------------------------------------------------------------------


def drop_events(b: Backend, vm: Vm) -> None:
    if b.world.scheduled_events.pop(vm.key, None):
        _bump(b, vm.key)


def _bump(b: Backend, key: str) -> None:
    b.world.incarnations[key] = b.world.incarnations.get(key, 0) + 1


def events_document(b: Backend, vm: Vm) -> Json:
    """The IMDS scheduledevents body (api-version 2020-07-01): NotBefore in RFC 1123, empty once started."""
    events = []
    for ev in b.world.scheduled_events.get(vm.key, []):
        started = ev.approved or ev.not_before <= b.now()
        events.append(
            {
                "EventId": ev.event_id,
                "EventType": ev.event_type,
                "ResourceType": "VirtualMachine",
                "Resources": ev.resources,
                "EventStatus": "Started" if started else "Scheduled",
                "NotBefore": "" if started else _rfc1123(ev.not_before),
                "Description": "The Spot Virtual Machine is being evicted.",
                "EventSource": ev.source,
                "DurationInSeconds": -1,
            }
        )
    return {"DocumentIncarnation": b.world.incarnations.get(vm.key, 0), "Events": events}


def approve(b: Backend, vm: Vm, event_ids: list[str]) -> bool:
    """StartRequests: an approved Preempt proceeds at once. False if an id is not one of this VM's events."""
    known = {ev.event_id.lower(): ev for ev in b.world.scheduled_events.get(vm.key, [])}
    if any(eid.lower() not in known for eid in event_ids):
        return False
    for eid in event_ids:
        ev = known[eid.lower()]
        if not ev.approved:
            ev.approved = True
            b.schedule(0, f"evict {vm.name} (approved)", _evict_later(b, vm.key, ev.reason))
    return True


def _evict_later(b: Backend, key: str, reason: str) -> Callable[[], None]:
    return lambda: evict(b, key, reason)


def _rfc1123(when: datetime) -> str:
    return format_datetime(when, usegmt=True)
