"""The read commands' data: recoveries, one recovery's timeline, and the fleets and VMs respot protects. Each
returns plain data that the CLI prints as a table or, with ``--json``, as it is. Only reads: the durable
management API, and for ``status`` one VM list per subscription in scope (best effort: without ARM, the recoveries
alone)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.cli.management import Management, TargetError
from orchestrator.domain import timeline
from orchestrator.domain.identity import PREFIX, recovery_prefix
from orchestrator.domain.models import VmFacts, VmRef
from orchestrator.domain.scope import InvalidResourceId, parse_vm_id
from orchestrator.domain.timeline import RecoveryRow, recovery_row

FALLBACK_TAG = "respot:fallback"


def recoveries(
    client: Management,
    *,
    running: bool = False,
    failed: bool = False,
    vm: str | None = None,
    since: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[RecoveryRow]:
    """Newest first. Raises :class:`TargetError`, ValueError for a ``since`` that is not a duration."""
    created_from = now() - timedelta(seconds=timeline.parse_since(since)) if since else None
    prefix, name = _vm_filter(vm)
    statuses = ("Pending", "Running", "ContinuedAsNew", "Suspended") if running else ()
    found = client.instances(prefix=prefix, statuses=statuses, created_from=created_from)
    rows = [recovery_row(i) for i in found if timeline.is_recovery(str(i.get("instanceId")))]
    rows = [
        r
        for r in rows
        if (not running or r.running) and (not failed or r.failed) and (name is None or r.vm_name == name)
    ]
    return sorted(rows, key=lambda r: (r.created, r.instance_id), reverse=True)


def _vm_filter(vm: str | None) -> tuple[str, str | None]:
    """(instance id prefix, VM name to match): a resource id narrows the listing itself, a name is matched."""
    if not vm:
        return PREFIX, None
    try:
        return recovery_prefix(parse_vm_id(vm)), None
    except InvalidResourceId:
        return PREFIX, vm.strip().lower()


def history(client: Management, ref: str, *, seq: int | None = None) -> dict[str, Any]:
    """The timeline of one recovery: ``ref`` is its instance id, or a VM (name or resource id) for its newest (or
    ``seq``-th) recovery. Raises :class:`TargetError` naming what was not found."""
    if not ref.strip():
        raise TargetError("name a VM, its resource id or a recovery's instance id (an empty one was given)")
    instance_id, siblings = _which(client, ref.strip(), seq)
    recovery = client.instance(instance_id, history=True)
    if recovery is None:
        raise TargetError(f"no recovery {instance_id} on {client.base_url}")
    strategy_id = timeline.published(recovery).get("strategy") or (recovery.get("customStatus") or {}).get("strategy")
    strategy = client.instance(str(strategy_id), history=True) if strategy_id else None
    if siblings is None:
        siblings = client.instances(prefix=instance_id.rsplit("-", 1)[0] + "-")
    others = [s for s in siblings if timeline.is_recovery(str(s.get("instanceId")))]
    return timeline.timeline(recovery, strategy, others)


def _which(client: Management, ref: str, seq: int | None) -> tuple[str, list[dict[str, Any]] | None]:
    head = ref.split(":", 1)[0]  # a strategy's or a look's id names its recovery
    if timeline.is_recovery(head):
        return head, None
    prefix, name = _vm_filter(ref)
    listed = [i for i in client.instances(prefix=prefix) if name is None or recovery_row(i).vm_name == name]
    label = f"a VM named {ref}" if name else ref
    vms = sorted({recovery_row(i).vm for i in listed if timeline.is_recovery(str(i.get("instanceId")))})
    if len(vms) > 1:
        raise TargetError(f"several VMs are named {ref}; name one by its resource id: {', '.join(vms)}")
    rows = [recovery_row(i) for i in listed if timeline.is_recovery(str(i.get("instanceId")))]
    if seq is not None:
        rows = [r for r in rows if r.seq == seq]
    if not rows:
        which = f"recovery {seq} of " if seq is not None else "recovery of "
        raise TargetError(f"no {which}{label} on {client.base_url} (respot recoveries lists them)")
    return max(rows, key=lambda r: r.seq).instance_id, listed


# --- status: fleets and protected VMs ------------------------------------------------------------------------


def status(
    client: Management, listing: Callable[[], list[tuple[VmRef, VmFacts]]] | None, fleets: Any
) -> dict[str, Any]:
    """``listing`` gives the VMs in scope (None or a failure: ARM is not read, the recoveries still are);
    ``fleets`` is the fleet profiles (orchestrator.domain.fleet.Fleets)."""
    rows = [recovery_row(i) for i in client.instances(prefix=PREFIX) if timeline.is_recovery(str(i.get("instanceId")))]
    by_vm: dict[str, list[RecoveryRow]] = defaultdict(list)
    for r in rows:
        by_vm[r.vm].append(r)
    arm_error, listed = "", list[tuple[VmRef, VmFacts]]()
    if listing is not None:
        try:
            listed = listing()
        except Exception as exc:  # noqa: BLE001 - best effort: any ARM or credential failure is reported, not fatal
            arm_error = f"{type(exc).__name__}: {str(exc)[:200]}"
    vms = {ref.id: _vm(ref, facts, by_vm.get(ref.id, []), fleets) for ref, facts in listed if _protected(facts, fleets)}
    for vm_id, mine in by_vm.items():  # recovered VMs ARM no longer lists (replaced, deleted) still have a record
        vms.setdefault(vm_id, _vm(None, None, mine, fleets) | {"id": vm_id, "name": timeline.vm_name(vm_id)})
    return {
        "fleets": [_fleet(p, listed, by_vm) for p in getattr(fleets, "fleets", ())],
        "vms": sorted(vms.values(), key=lambda v: str(v["name"])),
        "recoveriesRunning": sum(1 for r in rows if r.running),
        "recoveries": len(rows),
        "armError": arm_error,
        "armRead": listing is not None and not arm_error,
    }


def _protected(facts: VmFacts, fleets: Any) -> bool:
    return facts.is_spot or (fleets is not None and fleets.of(facts.tags) is not None)


def _vm(ref: VmRef | None, facts: VmFacts | None, mine: list[RecoveryRow], fleets: Any) -> dict[str, Any]:
    newest = max(mine, key=lambda r: r.seq, default=None)
    profile = fleets.of(facts.tags) if facts is not None and fleets is not None else None
    return {
        "id": ref.id if ref else "",
        "name": ref.name if ref else "",
        "listed": facts is not None,
        "priority": facts.priority if facts else None,
        "evictionPolicy": facts.eviction_policy if facts else None,
        "status": facts.status.value if facts else "not listed",
        "size": facts.size if facts else None,
        "location": facts.location if facts else None,
        "fleet": profile.name if profile else None,
        "fallback": bool(facts and facts.tags.get(FALLBACK_TAG)),
        "ignored": bool(facts and facts.ignored_by_tag),
        "recoveries": len(mine),
        "recoveriesRunning": sum(1 for r in mine if r.running),
        "lastEviction": newest.created if newest else None,
        "lastRecovery": newest.instance_id if newest else None,
        "lastOutcome": f"{newest.outcome}/{newest.reason}" if newest and newest.outcome else None,
    }


def _fleet(profile: Any, listed: list[tuple[VmRef, VmFacts]], by_vm: dict[str, list[RecoveryRow]]) -> dict[str, Any]:
    members = [(ref, f) for ref, f in listed if profile.recognises(f.tags)]
    running = [(ref, f) for ref, f in members if f.status.value == "running"]
    return {
        "name": profile.name,
        "desired": profile.desired,
        "members": len(members),
        "running": len(running),
        "spot": sum(1 for _, f in running if f.is_spot),
        "regularFallback": sum(1 for _, f in running if not f.is_spot),
        "recoveriesRunning": sum(1 for ref, _ in members for r in by_vm.get(ref.id, []) if r.running),
    }
