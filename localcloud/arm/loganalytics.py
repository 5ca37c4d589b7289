"""Log Analytics (api.loganalytics.io): ``POST /v1/workspaces/{id}/query`` over the ``AzureActivity`` table.

The Activity Log becomes AzureActivity rows (column names: azure-facts.md section 8; the ``*Value`` columns are
NOT CONFIRMED from the table reference), the ``timespan`` of the body bounds them, and the query runs through
the KQL subset in ``kql``. A record reaches the table ``log_delay`` seconds after it was made (Activity Log
ingestion takes minutes in Azure; 0 unless ``POST /_localcloud/log-analytics {ingestionDelaySeconds}`` sets it),
and keeps its own ``TimeGenerated``. The answer is ``{"tables": [{name, columns, rows}]}``, as LogsQueryClient parses it;
a query the subset cannot run is Log Analytics' 400 ``BadArgumentError``.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.arm import errors, kql
from localcloud.arm.backend import World
from localcloud.arm.errors import ArmError
from localcloud.arm.models import ActivityRecord, Json
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import parse_json, require_object
from localcloud.httpserver import Response

_STATUS_VALUE = {"Started": "Start", "Succeeded": "Success", "Failed": "Failure", "Accepted": "Accept"}
_LOCALIZED = {
    "start/action": "Start Virtual Machine",
    "deallocate/action": "Deallocate Virtual Machine",
    "powerOff/action": "Power Off Virtual Machine",
    "write": "Create or Update Virtual Machine",
    "delete": "Delete Virtual Machine",
    "simulateEviction/action": "Simulate Eviction of spot Virtual Machine",
    "evictSpotVM/action": "Evict Spot Virtual Machine",
    "Scaleup/Action": "Autoscale scale up operation",
    "Scaledown/Action": "Autoscale scale down operation",
}


def activity_row(rec: ActivityRecord) -> dict[str, Any]:
    """An Activity Log record as an AzureActivity row (column names: azure-facts.md section 8)."""
    suffix = rec.operation_name.split("/", 2)[-1].split("/", 1)[-1] if "/" in rec.operation_name else rec.operation_name
    localized = next((v for k, v in _LOCALIZED.items() if rec.operation_name.endswith(k)), suffix)
    return {
        "TimeGenerated": rec.timestamp,
        "OperationNameValue": rec.operation_name,
        "OperationName": localized,
        "ActivityStatusValue": _STATUS_VALUE.get(rec.status, rec.status),
        "ActivityStatus": rec.status,
        "ActivitySubstatusValue": rec.sub_status,
        "Caller": rec.caller,
        "CorrelationId": rec.correlation_id,
        "EventDataId": rec.event_data_id,
        "_ResourceId": rec.resource_id.lower(),
        "ResourceId": rec.resource_id,
        "ResourceGroup": rec.resource_group.upper(),
        "SubscriptionId": rec.subscription,
        "CategoryValue": rec.category,
        "Category": rec.category,
        "Level": rec.level,
        "ResourceProviderValue": rec.operation_name.split("/", 1)[0].upper(),
        "Properties_d": {**rec.properties, "entity": rec.properties.get("entity", rec.resource_id)},
        "Type": "AzureActivity",
    }


def logs_query(ctx: Ctx) -> Response:
    try:
        body = require_object(parse_json(ctx.req.body), "body")
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise errors.missing_property("query")
        start, end = _timespan(body.get("timespan"), ctx.backend.now())
        ingested = ctx.backend.now() - timedelta(seconds=ctx.backend.log_delay)
        rows = [
            activity_row(r)
            for r in _records(ctx.backend.world, _one_resource(query))
            if (start is None or r.timestamp >= start)
            and (end is None or r.timestamp <= end)
            and r.timestamp <= ingested
        ]
        result = kql.run(query, {"AzureActivity": rows}, now=ctx.backend.now())
    except (kql.KqlError, ArmError) as exc:
        message = exc.message if isinstance(exc, ArmError) else str(exc)
        return Response.json(
            400,
            {
                "error": {
                    "code": "BadArgumentError",
                    "message": "The request had some invalid properties",
                    "innererror": {"code": "SyntaxError", "message": message},
                }
            },
        )
    return Response.json(200, {"tables": [_table(result)]})


# A query whose first stage is ``where _ResourceId =~ '<id>'`` (respot's always is) can only return that resource's
# rows: they are taken from an index instead of turning every record of the Activity Log into a row and scanning it
# (a mass eviction's thousands of records, once per query, were the emulator's largest CPU cost).
_ONE_RESOURCE = re.compile(r"^\s*AzureActivity\s*\|\s*where\s+_ResourceId\s*=~\s*'([^'|]*)'\s*(\||$)", re.IGNORECASE)


def _one_resource(query: str) -> str | None:
    found = _ONE_RESOURCE.match(query)
    return found.group(1).lower() if found else None


@dataclass
class _Index:
    """The Activity Log's records by lower-cased resource id (the log only grows)."""

    seen: int = 0
    by_id: dict[str, list[ActivityRecord]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# By id(world), with a weak reference that tells a world from a later one at the same address (World is a mutable
# dataclass: not hashable, and it is pickled, so the index stays out of it).
_INDEXES: dict[int, tuple[weakref.ref[World], _Index]] = {}
_INDEXES_LOCK = threading.Lock()


def _index_of(world: World) -> _Index:
    with _INDEXES_LOCK:
        found = _INDEXES.get(id(world))
        if found is None or found[0]() is not world:
            for key in [k for k, (ref, _) in _INDEXES.items() if ref() is None]:
                del _INDEXES[key]
            found = _INDEXES[id(world)] = (weakref.ref(world), _Index())
        return found[1]


def _records(world: World, resource_id: str | None) -> list[ActivityRecord]:
    if resource_id is None:
        return list(world.activity)
    index = _index_of(world)
    with index.lock:
        records = world.activity
        if len(records) < index.seen:  # a new log in the same world: index it again
            index.seen, index.by_id = 0, {}
        for rec in records[index.seen :]:
            index.by_id.setdefault(rec.resource_id.lower(), []).append(rec)
        index.seen = len(records)
        return list(index.by_id.get(resource_id, ()))


def _table(rows: list[dict[str, Any]]) -> Json:
    names: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    columns = [{"name": n, "type": kql.column_type([r.get(n) for r in rows])} for n in names]
    return {
        "name": "PrimaryResult",
        "columns": columns,
        "rows": [[kql.json_cell(r.get(n)) for n in names] for r in rows],
    }


def _timespan(value: Any, now: datetime) -> tuple[datetime | None, datetime | None]:
    """ISO 8601 duration ("PT1H", "P1D") back from now, or "start/end"."""
    if value in (None, ""):
        return None, None
    if not isinstance(value, str):
        raise errors.invalid_parameter("timespan", "timespan must be an ISO 8601 string.")
    if "/" in value:
        a, b = value.split("/", 1)
        start = kql.parse_datetime(a)
        end = kql.parse_datetime(b) if not b.upper().startswith("P") else start + _duration(b)
        return start, end
    return now - _duration(value), now


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.upper())
    if m is None or not any(m.groups()):
        raise errors.invalid_parameter("timespan", f"'{text}' is not an ISO 8601 duration.")
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)
