"""Eviction signals: the payloads that reach /api/alerts, turned into typed signals by a registry of parsers.

Sources (../shared/reference/azure-facts.md 1-3):
- Azure Monitor common alert schema: Activity Log - Administrative on ``.../evictSpotVM/action`` (standalone VMs
  and scale sets), Resource Health for ``VirtualMachinePreempted``;
- Event Grid HealthResources ``ResourceAnnotated`` (Event Grid schema or CloudEvents 1.0), single or batched;
- the in-VM agent's Preempt notice (``respot.preempt/v1``, from Scheduled Events).
Everything else that is well formed is *ignored with a reason*; a body that is not what it claims is malformed.
Every value a signal carries is parsed here (resource ids by ARM's rules, times as datetimes, bounded event ids),
before it can reach a query or a URL. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from orchestrator.domain.models import MAX_EVENT_ID, Ignored, InvalidInput, Signal, Source, in_range, parse_iso
from orchestrator.domain.scope import InvalidResourceId, parse_vm_id

EVICT_SUFFIX = "/evictspotvm/action"
PREEMPTED = "VirtualMachinePreempted"
USER_DEALLOCATION = "VirtualMachineDeallocationInitiated"
ANNOTATED = "microsoft.resourcenotifications.healthresources.resourceannotated"
VALIDATION = "microsoft.eventgrid.subscriptionvalidationevent"
AGENT_SCHEMA = "respot.preempt/v1"


class Malformed(ValueError):
    """The body claims a known schema but does not follow it; the message names what is wrong."""


@dataclass
class Parsed:
    signals: list[Signal] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    validation_response: dict[str, str] | None = None  # Event Grid subscription validation handshake


def check_depth(raw: bytes, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` before decoding it: Python's decoder recurses, and a 2 KB body of
    brackets would otherwise end in RecursionError. One linear scan; brackets inside strings do not count."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise Malformed(f"the body is nested deeper than {limit} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def parse(body: Any) -> Parsed:
    """Dispatch on the payload's shape. Raises :class:`Malformed`."""
    if isinstance(body, list):
        out = Parsed()
        if not body:
            raise Malformed("an empty array of events")
        for index, item in enumerate(body):
            try:
                if not isinstance(item, dict):
                    raise Malformed("an event must be a JSON object")
                one = parse(item)
            except Malformed as exc:  # one bad event of a batch: the others still count (Event Grid won't resend)
                out.ignored.append(Ignored("malformed", f"event {index}: {exc}"))
                continue
            out.signals += one.signals
            out.ignored += one.ignored
            out.validation_response = out.validation_response or one.validation_response
        return out
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object or an array of events")
    for test, parser in _REGISTRY:
        if test(body):
            return parser(body)
    return Parsed(
        ignored=[
            Ignored(
                "unknown_payload",
                "not a common alert schema alert, an Event Grid or CloudEvents event, or an agent notice",
            )
        ]
    )


# --- the Azure Monitor common alert schema ------------------------------------------------------------------


def _is_common_alert(body: dict[str, Any]) -> bool:
    return body.get("schemaId") == "azureMonitorCommonAlertSchema"


def _common_alert(body: dict[str, Any]) -> Parsed:
    data = _obj(body.get("data"), "data")
    essentials = _obj(data.get("essentials"), "data.essentials")
    context = _obj(data.get("alertContext") or {}, "data.alertContext")
    service = str(essentials.get("monitoringService", ""))
    if str(essentials.get("monitorCondition", "Fired")).lower() != "fired":
        return Parsed(
            ignored=[Ignored("resolved_alert", f"{service} alert is {essentials.get('monitorCondition')}", service)]
        )
    if service == "Activity Log - Administrative":
        return _activity_log(essentials, context)
    if service == "Resource Health":
        return _resource_health(essentials, context)
    return Parsed(
        ignored=[
            Ignored(
                "not_an_eviction_alert",
                f"monitoringService '{service}' ({essentials.get('signalType')}) does not report evictions",
                service,
            )
        ]
    )


def _activity_log(essentials: dict[str, Any], context: dict[str, Any]) -> Parsed:
    operation = str(context.get("operationName", ""))
    status = str(context.get("status", ""))
    if not operation.lower().endswith(EVICT_SUFFIX):
        reason = "user_action" if operation else "no_operation"
        return Parsed(
            ignored=[Ignored(reason, f"operation '{operation}' is not a platform eviction", Source.ACTIVITY_LOG)]
        )
    if status.lower() != "succeeded":
        return Parsed(
            ignored=[Ignored("eviction_not_succeeded", f"evictSpotVM status '{status}'", Source.ACTIVITY_LOG)]
        )
    props = _props(context)
    # Scale-set evictions are logged against the scale set; the instance is the record's entity.
    target = props.get("entity") or _first(essentials.get("alertTargetIDs"), "data.essentials.alertTargetIDs")
    event_id = context.get("eventDataId") or context.get("correlationId") or essentials.get("alertId")
    when = _time(context.get("eventTimestamp"), essentials.get("firedDateTime"))
    return _one(target, Source.ACTIVITY_LOG, event_id, when)


def _resource_health(essentials: dict[str, Any], context: dict[str, Any]) -> Parsed:
    props = _props(context)
    cause = str(props.get("cause", ""))
    text = " ".join(str(props.get(k) or "") for k in ("details", "title")).lower()
    if cause.lower() != "platforminitiated":
        return Parsed(ignored=[Ignored("user_action", f"Resource Health cause '{cause}'", Source.RESOURCE_HEALTH)])
    if PREEMPTED.lower() not in text and "preempt" not in text:
        return Parsed(
            ignored=[
                Ignored("not_an_eviction", f"platform health event '{props.get('title')}'", Source.RESOURCE_HEALTH)
            ]
        )
    target = _first(essentials.get("alertTargetIDs"), "data.essentials.alertTargetIDs")
    event_id = context.get("eventDataId") or essentials.get("alertId")
    when = _time(context.get("eventTimestamp"), essentials.get("firedDateTime"))
    return _one(target, Source.RESOURCE_HEALTH, event_id, when)


# --- Event Grid and CloudEvents ------------------------------------------------------------------------------


def _is_event_grid(body: dict[str, Any]) -> bool:
    return "eventType" in body and "data" in body


def _is_cloud_event(body: dict[str, Any]) -> bool:
    return "specversion" in body and "type" in body


def _event_grid(body: dict[str, Any]) -> Parsed:
    kind = str(body["eventType"]).lower()
    if kind == VALIDATION:
        code = _obj(body.get("data"), "data").get("validationCode")
        if not isinstance(code, str):
            raise Malformed("subscription validation event without data.validationCode")
        return Parsed(validation_response={"validationResponse": code})
    return _annotated(kind, body.get("data"), Source.EVENT_GRID, body.get("id"), body.get("eventTime"))


def _cloud_event(body: dict[str, Any]) -> Parsed:
    if str(body.get("specversion")) != "1.0":
        raise Malformed(f"CloudEvents specversion '{body.get('specversion')}' is not 1.0")
    return _annotated(
        str(body["type"]).lower(), body.get("data"), Source.CLOUD_EVENTS, body.get("id"), body.get("time")
    )


def _annotated(kind: str, data: Any, source: Source, event_id: Any, envelope_time: Any) -> Parsed:
    if kind != ANNOTATED:
        return Parsed(ignored=[Ignored("not_an_eviction_event", f"event type '{kind}'", source)])
    info = _obj(_obj(data, "data").get("resourceInfo"), "data.resourceInfo")
    props = _obj(info.get("properties"), "data.resourceInfo.properties")
    annotation = str(props.get("annotationName", ""))
    if annotation == USER_DEALLOCATION:
        return Parsed(
            ignored=[Ignored("user_deallocation", f"annotation {annotation} ({props.get('context')})", source)]
        )
    if annotation != PREEMPTED:
        return Parsed(ignored=[Ignored("not_an_eviction", f"annotation '{annotation}'", source)])
    return _one(props.get("targetResourceId"), source, event_id, _time(props.get("occurredTime"), envelope_time))


# --- the in-VM agent ----------------------------------------------------------------------------------------


def _is_agent(body: dict[str, Any]) -> bool:
    return body.get("schema") == AGENT_SCHEMA


def _agent(body: dict[str, Any]) -> Parsed:
    if str(body.get("eventType", "")).lower() != "preempt":
        return Parsed(ignored=[Ignored("not_preempt", f"scheduled event type '{body.get('eventType')}'", Source.AGENT)])
    if not isinstance(body.get("eventId"), str):
        raise Malformed("agent notice without eventId")
    # NotBefore (RFC 1123) is when the eviction is due; it is empty once the event has started (scheduled-events.md).
    return _one(
        body.get("resourceId"), Source.AGENT, body["eventId"], _time(body.get("notBefore"), body.get("observedAt"))
    )


# --- helpers ------------------------------------------------------------------------------------------------


def _one(raw_id: Any, source: Source, event_id: Any, when: datetime) -> Parsed:
    try:
        vm = parse_vm_id(raw_id)
    except InvalidResourceId as exc:
        return Parsed(ignored=[Ignored("invalid_resource_id", str(exc), source)])
    return Parsed(signals=[Signal(vm, source, _event_id(event_id), when)])


def _event_id(value: Any) -> str:
    """The source's event id; a long one is replaced by its digest (ids only ever compare for equality)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise Malformed("the event's id must be a non-empty string")
    text = str(value)
    if len(text) <= MAX_EVENT_ID and text.isprintable():
        return text
    # json.loads lets lone surrogates through ("\ud800", or their bytes: it decodes with surrogatepass), and a
    # strict UTF-8 encode of them raises: the digest must take any string JSON can carry.
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _time(*candidates: Any) -> datetime:
    """The first candidate that is a time (ISO 8601, or RFC 1123 as IMDS writes NotBefore)."""
    for value in candidates:
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            return parse_iso(value, "time")
        except InvalidInput:
            pass
        try:
            return in_range(parsedate_to_datetime(value), "time")
        except (TypeError, ValueError, InvalidInput):
            continue
    raise Malformed("the event carries no time between 2000 and 2200 that parses as ISO 8601 or RFC 1123")


def _props(context: dict[str, Any]) -> dict[str, Any]:
    props = context.get("properties")
    return props if isinstance(props, dict) else {}


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object")
    return value


def _first(value: Any, where: str) -> Any:
    if not isinstance(value, list) or not value:
        raise Malformed(f"{where} must be a non-empty array")
    return value[0]


_REGISTRY: list[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], Parsed]]] = [
    (_is_common_alert, _common_alert),
    (_is_event_grid, _event_grid),
    (_is_cloud_event, _cloud_event),
    (_is_agent, _agent),
]
