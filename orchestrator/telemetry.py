"""respot's metrics and structured log fields, on the OpenTelemetry API (docs/telemetry.md lists each one).

Only the API is imported here: with no SDK configured (orchestrator.adapters.telemetry decides) every instrument is
the API's no-op, and a recording costs a function call. Nothing here is called from orchestrator code: replays would
count again. The callers are the HTTP intake (signals), the app layer around activities (ARM's 429s and the
retries they cause), the sweep (findings) and the app layer's end-of-orchestration observer (recoveries), which
records only in the episode that completes the instance, never in a replay (orchestrator.app.observer).

Log records carry ``respot.vm_id``, ``respot.instance_id`` and ``respot.fleet`` as attributes (``extra=``):
OpenTelemetry's logging handler turns them into log attributes, Application Insights into customDimensions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import metrics

from orchestrator.domain.models import InvalidInput, VmRef

METER = "respot"
VM_ID, INSTANCE_ID, FLEET = "respot.vm_id", "respot.instance_id", "respot.fleet"
_POLICY_OF_ACTION = {"restart": "Deallocate", "redeploy": "Delete"}
RETRIED_STEPS = frozenset({"throttled", "transient", "unknown"})  # an activity's answer that the workflow retries

log = logging.getLogger("respot.telemetry")


@dataclass(frozen=True)
class Metric:
    attribute: str
    kind: str  # counter | histogram
    name: str
    unit: str
    description: str


METRICS = (
    Metric("signals", "counter", "respot.signals", "{signal}", "eviction signals admitted, by source and route"),
    Metric("evictions", "counter", "respot.evictions", "{eviction}", "evictions respot acted on, by source and policy"),
    Metric("recoveries", "counter", "respot.recoveries", "{recovery}", "finished recoveries, by outcome and reason"),
    Metric("time_to_running", "histogram", "respot.recovery.time_to_running", "s", "eviction to running again"),
    Metric("attempts", "histogram", "respot.recovery.attempts", "{attempt}", "attempts (starts, creates) per recovery"),
    Metric("throttled", "counter", "respot.arm.throttled", "{response}", "ARM 429 answers seen by activities"),
    Metric(
        "retries", "counter", "respot.arm.retries", "{retry}", "activity answers the workflow waits out and retries"
    ),
    Metric("fallbacks", "counter", "respot.fallbacks", "{replacement}", "replacements created on Regular priority"),
    Metric("sweep_findings", "counter", "respot.sweep.findings", "{finding}", "what the sweep found, by kind"),
)


class Instruments:
    """Every instrument of :data:`METRICS`, made once from one meter."""

    signals: metrics.Counter
    evictions: metrics.Counter
    recoveries: metrics.Counter
    time_to_running: metrics.Histogram
    attempts: metrics.Histogram
    throttled: metrics.Counter
    retries: metrics.Counter
    fallbacks: metrics.Counter
    sweep_findings: metrics.Counter

    def __init__(self, meter: metrics.Meter) -> None:
        for m in METRICS:
            make = meter.create_counter if m.kind == "counter" else meter.create_histogram
            setattr(self, m.attribute, make(m.name, unit=m.unit, description=m.description))


_current: Instruments | None = None


def instruments() -> Instruments:
    global _current
    if _current is None:
        _current = Instruments(metrics.get_meter(METER))
    return _current


def use(provider: metrics.MeterProvider | None) -> None:
    """Record to ``provider`` from now on (tests; None: the global provider again)."""
    global _current
    _current = Instruments(provider.get_meter(METER)) if provider is not None else None


def fields(*, vm_id: str | None = None, instance_id: str | None = None, fleet: str | None = None) -> dict[str, str]:
    """The structured log fields of one VM's recovery, for ``extra=`` (only those that are known)."""
    pairs = ((VM_ID, vm_id), (INSTANCE_ID, instance_id), (FLEET, fleet))
    return {k: str(v)[:300] for k, v in pairs if v}


# --- what the app layer records ---------------------------------------------------------------------------------


def signal_admitted(*, source: str, route: str, vm_id: str, instance_id: str) -> None:
    instruments().signals.add(1, {"source": source, "route": route})
    log.info("signal %s from %s", route, source, extra=fields(vm_id=vm_id, instance_id=instance_id))


def activity_answered(activity: str, payload: Any, result: Mapping[str, Any]) -> None:
    """An activity's StepResult: a 429 counts as throttled, and every answer the workflow retries as a retry."""
    step = str(result.get("step") or "")
    if step not in RETRIED_STEPS:
        return
    failure = result.get("failure") or {}
    code = str(failure.get("code") or "") if isinstance(failure, Mapping) else ""
    if step == "throttled":
        instruments().throttled.add(1, {"activity": activity, "code": code})
    instruments().retries.add(1, {"activity": activity, "step": step})
    log.info("%s answered %s %s", activity, step, code, extra=fields(vm_id=_vm_id(payload)))


def sweep_found(kind: str, count: int = 1) -> None:
    instruments().sweep_findings.add(count, {"kind": kind})


def recovery_ended(output: Any, instance_id: str) -> None:
    """A recover_vm output (orchestrator.workflows.recover): its outcome, the eviction it undid, how long and how
    many attempts it took; one structured log record with the VM and the instance (a replacement's own record,
    :func:`replacement_ended`, names the fleet)."""
    if not isinstance(output, Mapping) or "outcome" not in output:
        return
    vm_id = str(output.get("vm") or "")
    ids = {VM_ID: vm_id, INSTANCE_ID: instance_id}
    outcome, reason = str(output.get("outcome")), str(output.get("reason") or "")
    got = instruments()
    got.recoveries.add(1, {"outcome": outcome, "reason": reason})
    action = str((output.get("decision") or {}).get("action") or "")
    source = _first_source(output)
    if action in _POLICY_OF_ACTION:
        got.evictions.add(1, {"source": source, "policy": _POLICY_OF_ACTION[action]})
    got.attempts.record(int(output.get("attemptCount") or 0), {"outcome": outcome, **ids})
    seconds = time_to_running(output)
    if seconds is not None:
        got.time_to_running.record(seconds, {"reason": reason, **ids})
    log.info(
        "recovery %s: %s (%s) after %s attempts",
        instance_id,
        outcome,
        reason,
        output.get("attemptCount"),
        extra=ids | {"respot.outcome": outcome, "respot.reason": reason, "respot.source": source},
    )


def replacement_ended(output: Any, instance_id: str, member: Any) -> None:
    """A redeploy_vm output that concluded (not one that continued as new): a Regular fallback is counted, by
    fleet; one log record with the evicted VM, the strategy's instance and the fleet."""
    if not isinstance(output, Mapping) or "outcome" not in output:
        return
    member = member if isinstance(member, Mapping) else {}
    fleet, vm_id = str(member.get("fleet") or ""), str(member.get("vm_id") or "")
    reason = str(output.get("reason") or "")
    if reason == "replaced_regular":
        instruments().fallbacks.add(1, {"fleet": fleet})
    new = ((output.get("replacement") or {}).get("new") or {}) if isinstance(output.get("replacement"), Mapping) else {}
    log.info(
        "replacement %s: %s (%s) %s",
        instance_id,
        output.get("outcome"),
        reason,
        new.get("id") or "",
        extra=fields(vm_id=vm_id, instance_id=instance_id, fleet=fleet) | {"respot.reason": reason},
    )


def time_to_running(output: Mapping[str, Any]) -> float | None:
    """Seconds from the earliest signal's occurrence to the conclusion, for a recovery that ended running."""
    if output.get("outcome") != "recovered":
        return None
    times = [_time(s.get("occurredAt")) for s in output.get("signals") or [] if isinstance(s, Mapping)]
    began, ended = min((t for t in times if t), default=None), _time(output.get("concludedAt"))
    return max(0.0, (ended - began).total_seconds()) if began and ended else None


def _first_source(output: Mapping[str, Any]) -> str:
    signals = output.get("signals") or []
    first = signals[0] if signals and isinstance(signals[0], Mapping) else {}
    return str(first.get("source") or "unknown")


def _vm_id(payload: Any) -> str | None:
    """The VM an activity's payload names, as respot spells its id (lower case), or None."""
    try:
        return VmRef.from_dict(payload.get("vm")).id if isinstance(payload, Mapping) else None
    except InvalidInput:
        return None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
