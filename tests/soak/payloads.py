"""What the soak properties send to /api/alerts: Microsoft's samples turned into evictions, their mutations, and
crafted resource ids. Hypothesis strategies and plain builders; no I/O but reading the samples.

Every generated :class:`Case` says what its sender meant (``intent``), so a property can hold the answer to it:

- ``eviction``: a clean eviction of a VM in scope (every real sample's shape: Activity Log, Resource Health,
  Event Grid, CloudEvents, the agent's notice, a scale-set instance), which must start or join one recovery, or be
  recognised as a duplicate or late report of one;
- ``out_of_scope``: the same, for a VM outside the configured subscriptions and resource groups (or a crafted id);
- ``not_eviction``: a published sample as Microsoft wrote it (a restart, a resolved metric alert, a user's
  deallocation, the Event Grid handshake, a raw Scheduled Events document), which must start nothing;
- ``mutated``: anything else (a field dropped, retyped, nested deeply, made huge, unicode games, truncated, bad
  UTF-8, another encoding, a wrong content type): any answer but a 5xx, and what it accepts must be in scope.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from localcloud.arm.scenario import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "azure-samples"
SUB, RG = DEFAULT_SUBSCRIPTION, DEFAULT_RESOURCE_GROUP
OTHER_SUB = "99999999-9999-9999-9999-999999999999"
OTHER_RG = "someone-elses"
COMPUTE = "providers/Microsoft.Compute"
ANNOTATED = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
EVICT_VM = "Microsoft.Compute/virtualMachines/evictSpotVM/action"
EVICT_VMSS = "Microsoft.Compute/virtualMachineScaleSets/evictSpotVM/action"
Json = dict[str, Any]


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def vm_id(name: str, *, sub: str = SUB, rg: str = RG) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/{COMPUTE}/virtualMachines/{name}"


def instance_id(scale_set: str, index: int, *, sub: str = SUB, rg: str = RG) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/{COMPUTE}/virtualMachineScaleSets/{scale_set}/virtualMachines/{index}"


# --- the real samples, made into evictions -----------------------------------------------------------------


def activity_eviction(target: str, event_id: str, when: str, *, scale_set: bool = False) -> Json:
    """testaction_activitylog-administrative_full.json as the platform's evictSpotVM record of ``target``."""
    body = sample("testaction_activitylog-administrative_full.json")
    context, essentials = body["data"]["alertContext"], body["data"]["essentials"]
    context.update(operationName=EVICT_VMSS if scale_set else EVICT_VM, status="Succeeded", eventDataId=event_id)
    context.update(eventTimestamp=when, caller="Microsoft.Compute/SpotEviction")
    context["authorization"] = {"action": context["operationName"], "scope": target}
    context["properties"]["entity"] = target
    essentials["alertTargetIDs"] = [target.rsplit("/virtualMachines/", 1)[0] if scale_set else target]
    essentials["firedDateTime"] = when
    return dict(body)


def user_deallocation_alert(target: str, event_id: str, when: str, caller: str = "owner@contoso.com") -> Json:
    """The same Activity Log alert for a person's ``deallocate/action``: never an eviction."""
    body = activity_eviction(target, event_id, when)
    body["data"]["alertContext"].update(
        operationName="Microsoft.Compute/virtualMachines/deallocate/action", caller=caller
    )
    return body


def health_eviction(target: str, event_id: str, when: str) -> Json:
    """A Resource Health alert (resourcehealth_alertContext_fragment.json) for a platform-initiated preemption."""
    body = sample("testaction_activitylog-administrative_full.json")
    body["data"]["essentials"].update(monitoringService="Resource Health", alertTargetIDs=[target], firedDateTime=when)
    context = sample("resourcehealth_alertContext_fragment.json")["alertContext"]
    context.update(eventDataId=event_id, eventTimestamp=when)
    context["properties"].update(cause="PlatformInitiated", details="VirtualMachinePreempted", title="Preempted")
    body["data"]["alertContext"] = context
    return dict(body)


def cloud_event_eviction(target: str, event_id: str, when: str, annotation: str = "VirtualMachinePreempted") -> Json:
    """healthresources_ResourceAnnotated_cloudevent.json, for a preemption of ``target``."""
    event = sample("healthresources_ResourceAnnotated_cloudevent.json")
    props = event["data"]["resourceInfo"]["properties"]
    props.update(targetResourceId=target, annotationName=annotation, occurredTime=when)
    props.update(context="Platform Initiated", reason="Preempted", summary="Spot eviction")
    event["data"]["resourceInfo"]["id"] = f"{target}/providers/Microsoft.ResourceHealth/resourceAnnotations/{event_id}"
    event.update(id=event_id, subject=target, time=when, source=f"/subscriptions/{[*target.split('/'), '', '', ''][2]}")
    return dict(event)


def event_grid_eviction(target: str, event_id: str, when: str, annotation: str = "VirtualMachinePreempted") -> Json:
    """The same event in the Event Grid schema."""
    event = cloud_event_eviction(target, event_id, when, annotation)
    return {
        "id": event["id"],
        "topic": event["source"],
        "subject": event["subject"],
        "eventType": event["type"],
        "eventTime": event["time"],
        "dataVersion": "1",
        "metadataVersion": "1",
        "data": event["data"],
    }


def agent_notice(target: str, event_id: str, when: str) -> Json:
    """The in-VM agent's notice of the Scheduled Events Preempt in preempt_event_spot-powershell-doc.json."""
    [event] = sample("preempt_event_spot-powershell-doc.json")["Events"]
    return {
        "schema": "respot.preempt/v1",
        "eventType": event["EventType"],
        "eventId": event_id,
        "resourceId": target,
        "notBefore": event["NotBefore"].replace("Tue, 16 Mar 2021", "Tue, 01 Dec 2026"),
        "observedAt": when,
    }


def scale_set_eviction(target: str, event_id: str, when: str) -> Json:
    return activity_eviction(target, event_id, when, scale_set=True)


EVICTIONS: dict[str, Callable[[str, str, str], Json]] = {
    "activity-log": activity_eviction,
    "resource-health": health_eviction,
    "event-grid": event_grid_eviction,
    "cloud-events": cloud_event_eviction,
    "agent": agent_notice,
}


def published() -> dict[str, Any]:
    """Microsoft's samples as published (none is an eviction), the Event Grid handshake, and the agent's inputs."""
    health = sample("testaction_activitylog-administrative_full.json")
    health["data"]["essentials"]["monitoringService"] = "Resource Health"
    health["data"]["alertContext"] = sample("resourcehealth_alertContext_fragment.json")["alertContext"]
    return {
        "activity-log-restart": sample("testaction_activitylog-administrative_full.json"),
        "metric-alert-resolved": sample("metric-alert_full_sample.json"),
        "annotation-user-deallocation": sample("healthresources_ResourceAnnotated_cloudevent.json"),
        "resource-health-user": health,
        "scheduled-events-document": sample("preempt_event_spot-powershell-doc.json"),
        "start-requests-ack": sample("start_requests_ack_body.json"),
        "event-grid-validation": [
            {
                "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
                "topic": f"/subscriptions/{SUB}",
                "subject": "",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "eventTime": "2026-12-01T12:00:00Z",
                "metadataVersion": "1",
                "dataVersion": "1",
            }
        ],
    }


# --- crafted resource ids: each must be refused or found out of scope, and never reach ARM -------------------


def crafted_ids(live: str = "victim") -> dict[str, str]:
    """Ids an attacker (or a confused sender) could put in a payload, by the trick they play. ``live`` names a VM
    that exists in scope: the tricks try to reach it, or something next to it, by a path that is not its id."""
    base = f"/subscriptions/{SUB}/resourceGroups/{RG}/{COMPUTE}"
    other = f"/subscriptions/{OTHER_SUB}/resourceGroups/{RG}/{COMPUTE}"
    return {
        "other-subscription": f"{other}/virtualMachines/{live}",
        "other-subscription-upper": f"{other}/virtualMachines/{live}".upper(),
        "other-resource-group": vm_id(live, rg=OTHER_RG),
        "other-resource-group-case": vm_id(live.upper(), rg=OTHER_RG.upper()),
        "dotdot-out-of-group": f"{base}/virtualMachines/../../../../resourceGroups/{OTHER_RG}/{COMPUTE}/virtualMachines/{live}",
        "dotdot-into-group": f"/subscriptions/{SUB}/resourceGroups/{OTHER_RG}/../{RG}/{COMPUTE}/virtualMachines/{live}",
        "dotdot-name": f"{base}/virtualMachines/..",
        "dot-name": f"{base}/virtualMachines/.",
        "trailing-period": f"{base}/virtualMachines/{live}.",
        "group-trailing-period": vm_id(live, rg=RG + "."),
        "double-slash-before-group": f"/subscriptions/{SUB}//resourceGroups/{RG}/{COMPUTE}/virtualMachines/{live}",
        "double-slash-before-name": f"{base}/virtualMachines//{live}",
        "leading-double-slash": f"//subscriptions/{SUB}/resourceGroups/{RG}/{COMPUTE}/virtualMachines/{live}",
        "percent-slash-in-name": f"{base}/virtualMachines/{live}%2F..%2F..%2F{OTHER_RG}",
        "percent-slash-in-group": f"/subscriptions/{SUB}/resourceGroups/{OTHER_RG}%2F..%2F{RG}/{COMPUTE}/virtualMachines/{live}",
        "percent-dots": f"{base}/virtualMachines/%2e%2e",
        "percent-encoded-name": f"{base}/virtualMachines/%76ictim",
        "backslash-separators": f"{base}/virtualMachines/{live}".replace("/", "\\"),
        "null-byte": f"{base}/virtualMachines/{live}\x00/../../x",
        "query-string": f"{base}/virtualMachines/{live}?api-version=2020-01-01",
        "fragment": f"{base}/virtualMachines/{live}#start",
        "absolute-url": f"https://management.azure.com{base}/virtualMachines/{live}",
        "other-host-url": f"https://evil.example{base}/virtualMachines/{live}",
        "wrong-type-disk": f"{base}/disks/{live}",
        "wrong-type-nic": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces/{live}",
        "wrong-type-scale-set": f"{base}/virtualMachineScaleSets/{live}",
        "wrong-type-extension": f"{base}/virtualMachines/{live}/extensions/CustomScript",
        "wrong-provider": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ClassicCompute/virtualMachines/{live}",
        "annotation-id": f"{base}/virtualMachines/{live}/providers/Microsoft.ResourceHealth/resourceAnnotations/x",
        "resource-group-only": f"/subscriptions/{SUB}/resourceGroups/{RG}",
        "subscription-only": f"/subscriptions/{SUB}",
        "no-name": f"{base}/virtualMachines",
        "instance-negative": f"{base}/virtualMachineScaleSets/pool/virtualMachines/-1",
        "instance-hex": f"{base}/virtualMachineScaleSets/pool/virtualMachines/0x1",
        "instance-huge": f"{base}/virtualMachineScaleSets/pool/virtualMachines/{'9' * 30}",
        "instance-path": f"{base}/virtualMachineScaleSets/pool/virtualMachines/1/../../../virtualMachines/{live}",
        "cyrillic-e-in-group": vm_id(live, rg=RG.replace("e", "\u0435")),
        "cyrillic-a-in-provider": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtu\u0430lMachines/{live}",
        "dotted-capital-i": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/M\u0130crosoft.Compute/virtualMachines/{live}",
        "long-s": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Micro\u017foft.Compute/virtualMachines/{live}",
        "kelvin-sign-name": f"{base}/virtualMachines/\u212a{live}",
        "fullwidth-slash": f"{base}/virtualMachines\uff0f{live}",
        "zero-width-space": f"{base}/virtualMachines/{live}\u200b",
        "rtl-override": f"{base}/virtualMachines/\u202e{live}",
        "combining-mark": f"{base}/virtualMachines/{live}\u0301",
        "fullwidth-digits-subscription": vm_id(live, sub=SUB.replace("1", "\uff11")),
        "guid-braces": vm_id(live, sub="{" + SUB + "}"),
        "subscription-not-guid": vm_id(live, sub="my-subscription"),
        "too-long": f"{base}/virtualMachines/{'a' * 500}",
        "name-too-long": f"{base}/virtualMachines/{'a' * 65}",
        "space-inside": f"{base}/virtualMachines/{live} 2",
        "other-subscription-trailing-slash": f"{other}/virtualMachines/{live}/",
        "empty": "",
        "slash": "/",
    }


# --- mutations ------------------------------------------------------------------------------------------------

UNICODE = [
    "\u0435vict",  # Cyrillic e
    "\ud800",  # a lone surrogate: valid in JSON text, not encodable as UTF-8
    "\udfff\ud800",
    "\u202e" + "txet",
    "\u200b",
    "\x00",
    "İstanbul",  # lower() changes its length
    "\ufeff",
    "😀" * 40,
    "e\u0301" * 30,
    "\uff0fsubscriptions\uff0f",
    "\u212a",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/cloudevents+json; charset=utf-8",
    "application/cloudevents-batch+json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "",
    None,
]
HUGE = [1_000, 70_000, 600_000, 1_048_577]  # the last is over respot's body limit on its own
# Nesting inside the document tree stays far below the recursion limit: json.dumps, str() and hypothesis itself recurse,
# and how deep the stack already is differs between a first run and a replay. Deeper bodies are built as raw bytes.
DEEP = [2, 31, 33, 120, 200]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _nest(value: Any, depth: int, as_object: bool) -> Any:
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(UNICODE),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutation(draw: st.DrawFn, doc: Any) -> tuple[Any, str]:
    """One structural change to ``doc`` (in place); returns it (a new root when the root changed) and its name."""
    paths = _paths(doc)
    if not paths:
        return draw(json_values), "replace-root"
    path = draw(st.sampled_from(paths))
    parent, key = _get(doc, path[:-1]), path[-1]
    value = parent[key]
    kind = draw(
        st.sampled_from(["drop", "retype", "deep", "huge", "unicode", "case", "swap", "wrap", "empty", "number"])
    )
    if kind == "drop":
        del parent[key]
    elif kind == "retype":
        parent[key] = draw(json_values)
    elif kind == "deep":
        parent[key] = _nest(value, draw(st.sampled_from(DEEP)), draw(st.booleans()))
    elif kind == "huge":
        parent[key] = draw(st.sampled_from("x/é")) * draw(st.sampled_from(HUGE))
    elif kind == "unicode":
        text = value if isinstance(value, str) else json.dumps(value)
        where = draw(st.integers(0, len(text)))
        parent[key] = text[:where] + draw(st.sampled_from(UNICODE)) + text[where:]
    elif kind == "case":
        text = value if isinstance(value, str) else str(value)
        parent[key] = draw(st.sampled_from([text.upper(), text.lower(), text.swapcase(), text.casefold()]))
    elif kind == "swap":
        other = draw(st.sampled_from(paths))
        if other[: len(path)] != path and path[: len(other)] != other:
            other_parent = _get(doc, other[:-1])
            parent[key], other_parent[other[-1]] = other_parent[other[-1]], value
    elif kind == "wrap":
        parent[key] = [value]
    elif kind == "empty":
        parent[key] = draw(st.sampled_from(["", [], {}, None, " ", "null"]))
    else:
        parent[key] = draw(st.sampled_from([0, -1, 2**63, 1e308, float("nan"), True, 10**400]))
    return doc, kind


@dataclass(frozen=True)
class Case:
    body: bytes
    content_type: str | None
    intent: str  # eviction | out_of_scope | not_eviction | mutated
    label: str
    vms: tuple[str, ...] = ()  # the VMs a clean eviction names (lower-case), for the oracle
    size: int = 1  # events in the body (a batch holds several)


def encode(doc: Any, *, ascii_only: bool = True) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def clean_eviction(draw: st.DrawFn, in_scope: list[str], out_of_scope: list[str]) -> tuple[Json, str, str]:
    """(document, label, intent): one real sample shape as an eviction of a VM from the pools."""
    shape = draw(st.sampled_from([*EVICTIONS, "scale-set"]))
    inside = draw(st.integers(0, 4)) > 0
    if shape == "scale-set":
        sub, rg = (SUB, RG) if inside else draw(st.sampled_from([(OTHER_SUB, RG), (SUB, OTHER_RG)]))
        target = instance_id("fz-pool", draw(st.integers(0, 7)), sub=sub, rg=rg)
        builder: Callable[[str, str, str], Json] = scale_set_eviction
    else:
        target = draw(st.sampled_from(in_scope if inside else out_of_scope))
        builder = EVICTIONS[shape]
    # ARM ids compare case-insensitively: the same VM, spelt otherwise. ASCII only: Unicode case mapping turns some
    # crafted ids into real ones ('\u212a'.lower() is 'k', '\u017f'.upper() is 'S'), which are then rightly accepted.
    if target.isascii() and draw(st.integers(0, 9)) == 0:
        target = draw(st.sampled_from([target.upper(), target.lower(), target + "/"]))
    event_id = draw(st.sampled_from([f"evt-{n}" for n in range(40)] + ["161fda7e-1cb4-4bc5-9c90-857c55a8f57b"]))
    when = draw(st.sampled_from(TIMES))
    return builder(target, event_id, when), shape, "eviction" if inside else "out_of_scope"


# Event times around the stopped clock's start (tests/e2e/conftest.py START, 2026-12-01T12:02:10Z).
TIMES = ["2026-12-01T12:00:00Z", "2026-12-01T11:58:31.2917159+00:00", "2026-12-01T12:02:10Z", "2026-11-30T08:00:00Z"]


@st.composite
def document(draw: st.DrawFn, in_scope: list[str], out_of_scope: list[str]) -> tuple[Any, str, str, list[str]]:
    """(document, label, intent, VMs a clean in-scope eviction names): one JSON document, maybe mutated."""
    if draw(st.integers(0, 6)) == 0:
        name = draw(st.sampled_from(sorted(published())))
        doc, label, intent = copy.deepcopy(published()[name]), name, "not_eviction"
        vms: list[str] = []
    else:
        doc, label, intent = draw(clean_eviction(in_scope, out_of_scope))
        vms = [_target(doc)] if intent == "eviction" else []
    mutations = draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))
    for _ in range(mutations):
        doc, kind = draw(mutation(doc))
        label += f"+{kind}"
    if mutations:
        intent, vms = "mutated", []
    return doc, label, intent, vms


def _target(doc: Json) -> str:
    for getter in (
        lambda d: d["data"]["alertContext"]["properties"]["entity"],
        lambda d: d["data"]["essentials"]["alertTargetIDs"][0],
        lambda d: d["data"]["resourceInfo"]["properties"]["targetResourceId"],
        lambda d: d["resourceId"],
    ):
        try:
            return str(getter(doc)).lower().rstrip("/")
        except (KeyError, IndexError, TypeError):
            continue
    raise AssertionError("a clean eviction names its VM")


@st.composite
def raw_bytes(draw: st.DrawFn, body: bytes) -> tuple[bytes, str]:
    """A byte-level change to a serialised body: truncated, bad UTF-8, another encoding, a BOM, raw nesting."""
    kind = draw(st.sampled_from(["truncate", "bad-utf8", "utf16", "bom", "brackets", "text", "trailing"]))
    if kind == "truncate":
        return body[: draw(st.integers(0, max(0, len(body) - 1)))], kind
    if kind == "bad-utf8":
        where = draw(st.integers(0, len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]))
        return body[:where] + junk + body[where:], kind
    if kind == "utf16":
        return body.decode("utf-8", "surrogatepass").encode(
            draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])), "surrogatepass"
        ), kind
    if kind == "bom":
        return b"\xef\xbb\xbf" + body, kind
    if kind == "brackets":
        n = draw(st.sampled_from([*DEEP, 5_000, 100_000]))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * n + b"1" + closer * draw(st.sampled_from([n, 0, n // 2])), kind
    if kind == "text":
        return draw(
            st.sampled_from(
                [
                    b"",
                    b"null",
                    b"true",
                    b"0",
                    b'"x"',
                    b"[]",
                    b"{}",
                    b"\x00" * 16,
                    b"<xml/>",
                    b"a=b&c=d",
                    b"NaN",
                    b"-Infinity",
                    b"[1,]",
                    b'{"a":1,"a":2}',
                ]
            )
        ), kind
    return body + draw(st.sampled_from([b"\n", b" garbage", b"}", b"\x00", b"]"])), kind


@st.composite
def cases(draw: st.DrawFn, in_scope: list[str], out_of_scope: list[str]) -> Case:
    """One request to /api/alerts: a document or a batch of them, serialised, maybe broken at the byte level,
    under a content type that may be wrong."""
    batch = draw(st.integers(0, 7)) == 0
    docs = [draw(document(in_scope, out_of_scope)) for _ in range(draw(st.integers(1, 5)) if batch else 1)]
    if batch:
        if draw(st.integers(0, 4)) == 0:  # a batch may hold things that are not events at all
            docs.append((draw(json_values), "junk", "mutated", []))
        body: Any = [d[0] for d in docs]
        intents = {d[2] for d in docs}
        intent = intents.pop() if len(intents) == 1 else "mixed"
        label = "batch[" + ",".join(d[1] for d in docs) + "]"
    else:
        body, label, intent, _ = docs[0]
    vms = tuple(v for d in docs for v in d[3])
    data = encode(body, ascii_only=draw(st.booleans()))
    if draw(st.integers(0, 6)) == 0:
        data, kind = draw(raw_bytes(data))
        label += f"+{kind}"
        intent, vms = ("mutated", ()) if kind not in ("bom",) else (intent, vms)
    content_type = draw(st.sampled_from(CONTENT_TYPES)) if draw(st.integers(0, 6)) == 0 else "application/json"
    return Case(data, content_type, intent, label, vms, len(docs))
