"""``respot drill`` and ``respot replay``: a real eviction of one Spot VM, followed to its end; and what respot would
decide for a payload, with no side effect.

``replay`` runs the product's own code: ``orchestrator.app.intake.parse_body`` (size, depth, JSON, the parser
registry of orchestrator.domain.signals), the settings' scope, ``orchestrator.domain.identity.route`` against the
VM's recoveries on record, the ``read_vm`` activity (scope and required tags included) and
``orchestrator.domain.classify.classify``. It reads ARM, the Activity Log (when a workspace is configured) and the
durable management API; it never starts an orchestration nor writes to ARM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from orchestrator.activities.compute import read_vm
from orchestrator.adapters.activitylog import activity_log_for
from orchestrator.adapters.compute import ArmCompute
from orchestrator.app.intake import parse_body
from orchestrator.cli.management import Management, TargetError
from orchestrator.domain import signals as signal_parsers
from orchestrator.domain.classify import Decision, classify
from orchestrator.domain.errors import ArmFailure
from orchestrator.domain.identity import ACTIVE, RecoveryRecord, recovery_prefix, route, seq_of
from orchestrator.domain.models import Signal, Step, StepResult, VmFacts, VmRef, iso, parse_iso
from orchestrator.domain.scope import InvalidResourceId, parse_vm_id
from orchestrator.settings import Settings


class Refused(Exception):
    """The command will not do this; the message says why."""


def vm_ref(text: str, settings: Settings) -> VmRef:
    """A VM from its resource id, or its name when the scope has one subscription and one resource group."""
    try:
        return parse_vm_id(text)
    except InvalidResourceId:
        pass
    scope = settings.scope
    if len(scope.subscriptions) == 1 and len(scope.resource_groups) == 1:
        [sub], [group] = scope.subscriptions, scope.resource_groups
        raw = f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{text}"
        try:
            return parse_vm_id(raw)
        except InvalidResourceId:
            raise Refused(f"{text!r} is not a VM name by ARM's rules") from None
    raise Refused(f"{text!r}: name the VM by its resource id (the scope has {scope.describe()})")


def _arm(settings: Settings) -> str:
    """Where ARM was asked: a local host run with ``--arm-port`` serves its emulator elsewhere than the sample's."""
    return f"ARM at {settings.arm_endpoint}, from RESPOT_ARM_ENDPOINT or local.settings.json"


# --- drill --------------------------------------------------------------------------------------------------------


def check_drill(vm: VmRef, settings: Settings, compute: ArmCompute) -> VmFacts:
    """The VM, if respot would recover its eviction. Raises :class:`Refused` with the reason, TargetError (ARM)."""
    scope = settings.scope
    if not scope.allows(vm):
        raise Refused(f"{vm.id} is outside respot's scope ({scope.describe()}): respot would not recover it")
    try:
        facts = compute.facts(vm)
    except ArmFailure as failure:
        why = f"{failure.code}: {failure.message[:200]}"
        raise TargetError(f"ARM did not answer for {vm.id}: {why} ({_arm(settings)})") from None
    if not facts.exists:
        raise Refused(f"unknown VM: {vm.id} does not exist ({facts.missing.value if facts.missing else 'vm'} missing)")
    if not facts.is_spot:
        raise Refused(f"{vm.name} is not a Spot VM (priority {facts.priority}): only Spot VMs can be evicted")
    if facts.ignored_by_tag:
        raise Refused(f"{vm.name} is tagged respot:ignore: respot would leave its eviction alone")
    if not scope.tags_match(facts):
        raise Refused(f"{vm.name} lacks the required tags {dict(scope.tags)}: respot would not recover it")
    if facts.status.value != "running":
        raise Refused(f"{vm.name} is {facts.status.value}: simulateEviction needs a running VM")
    return facts


def newest_seq(client: Management, vm: VmRef) -> int:
    found = client.instances(prefix=recovery_prefix(vm))
    return max((seq_of(str(i.get("instanceId")), vm) or 0 for i in found), default=0)


def follow(
    client: Management,
    vm: VmRef,
    after: int,
    *,
    show: Callable[[dict[str, Any]], None],
    pause: Callable[[], bool],
) -> dict[str, Any]:
    """Until the drill's recovery (the first after ``after``) has concluded: ``show`` is handed the timeline at
    each look, ``pause`` waits between looks and answers False when the time allowed is up. Its last timeline."""
    from orchestrator.cli.reads import history

    story: dict[str, Any] = {}
    while True:
        newest = newest_seq(client, vm)
        if newest > after:
            story = history(client, vm.id, seq=after + 1)
            show(story)
            if story["recovery"]["outcome"]:
                return story
        elif not story:
            show({})
        if not pause():
            raise TargetError(
                "gave up following the drill: "
                + (
                    f"{story['recovery']['instanceId']} has not concluded yet"
                    if story
                    else f"no recovery of {vm.name} started (are the alerts and Event Grid wired to /api/alerts?)"
                )
                + f"; read it later with `respot history {vm.name}`"
            )


# --- replay ---------------------------------------------------------------------------------------------------------


def replay(body: bytes, settings: Settings, compute: Any, client: Management | None) -> dict[str, Any]:
    """What respot would decide for ``body``, one entry per event. Reads only."""
    try:
        parsed = parse_body(body, settings)
    except signal_parsers.Malformed as exc:
        return {"status": 400, "error": str(exc), "signals": [], "ignored": []}
    out = [_replay_one(s, settings, compute, client) for s in parsed.signals]
    ignored = [asdict(i) for i in parsed.ignored]
    for entry in out:
        if entry["scope"] != "in scope":
            ignored.append({"reason": "out_of_scope", "detail": entry["scope"], "source": entry["source"]})
    accepted = [e for e in out if e["scope"] == "in scope"]
    return {
        "status": 202 if any(e["route"] in ("start", "join") for e in accepted) else 200,
        "validationResponse": parsed.validation_response,
        "signals": out,
        "ignored": ignored,
    }


def _replay_one(signal: Signal, settings: Settings, compute: Any, client: Management | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "vm": signal.vm.id,
        "vmName": signal.vm.name,
        "source": signal.source.value,
        "eventId": signal.event_id,
        "occurredAt": iso(signal.occurred_at),
    }
    if not settings.scope.allows(signal.vm):
        scope = f"{signal.vm.id} is outside the configured subscriptions and resource groups"
        return entry | {"scope": scope, "route": "ignored", "instanceId": None, "facts": None, "decision": None}
    entry |= {"scope": "in scope"} | _routing(signal, client)
    read = StepResult.from_dict(read_vm({"vm": signal.vm.to_dict()}, compute, settings.scope))
    if read.step != Step.OK or read.facts is None:
        trouble = read.step in (Step.THROTTLED, Step.TRANSIENT, Step.UNKNOWN, Step.FAILED)
        detail = f"{read.reason} ({_arm(settings)})" if trouble else read.reason
        entry |= {"facts": None, "decision": {"action": "none", "reason": read.step.value, "detail": detail}}
        return entry
    facts = read.facts
    entry["facts"] = {
        k: v
        for k, v in facts.to_dict().items()
        if k in ("exists", "status", "priority", "eviction_policy", "size", "location", "tags")
    }
    entry["decision"] = _decide(signal, facts, settings).to_dict()
    return entry


def _routing(signal: Signal, client: Management | None) -> dict[str, Any]:
    """Where intake would send it, from the VM's recoveries on record (nothing is started or raised)."""
    if client is None:
        return {"route": "unknown", "instanceId": None, "routeNote": "no app to read the recoveries from"}
    try:
        found = client.instances(prefix=recovery_prefix(signal.vm))
    except TargetError as exc:
        return {"route": "unknown", "instanceId": None, "routeNote": str(exc)}
    records = [r for r in (_record(signal.vm, i) for i in found) if r is not None]
    routing = route(signal, records)
    return {"route": routing.route.value, "instanceId": routing.instance_id}


def _record(vm: VmRef, instance: dict[str, Any]) -> RecoveryRecord | None:
    runtime = instance.get("runtimeStatus")
    info = instance.get("customStatus") if runtime in ACTIVE else instance.get("output")
    try:
        updated: datetime | None = parse_iso(instance.get("lastUpdatedTime"), "lastUpdatedTime")
    except ValueError:
        updated = None
    return RecoveryRecord.from_status(vm, str(instance.get("instanceId")), runtime, info, updated)


def _decide(signal: Signal, facts: VmFacts, settings: Settings) -> Decision:
    """The first look's classification, with what the Activity Log says (a workspace configured)."""
    log, user, evidence = activity_log_for(settings), None, None
    required = signal.wants_eviction_record
    if settings.log_workspace_id:
        since = signal.since
        record = None
        if facts.exists and required:
            record = log.eviction_record(signal.vm, signal.occurred_at - timedelta(days=7))
            since = record or since
        elif not facts.exists:
            record = log.eviction_record(signal.vm, since - timedelta(hours=1))
        user = log.last_user_action(signal.vm, since)
        evidence = f"the Activity Log records evictSpotVM at {iso(record)}" if record else None
    return classify(facts, user_action=user, evidence=evidence, eviction_required=required)
