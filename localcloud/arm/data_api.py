"""Handlers for the data the orchestrator ranks with and the signals it reads: SKUs, usages, Retail Prices,
Resource Graph (SpotResources, Resources), spot placement scores, Log Analytics (AzureActivity), and IMDS
Scheduled Events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from localcloud.arm import compute, errors, evictions, kql, odata, spotdata, views
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import ActivityRecord, Json, Vm
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import parse_json, require_object
from localcloud.httpserver import Response

PRICES_PAGE = 100
MAX_PLACEMENT_REGIONS = 8
MAX_PLACEMENT_SIZES = 5


def skus(ctx: Ctx) -> Response:
    compute.check_scope(ctx.backend, ctx.params["sub"])
    flt = ctx.req.query_ci("$filter")
    location = None
    if flt:
        m = re.fullmatch(r"\s*location\s+eq\s+'([^']+)'\s*", flt, re.IGNORECASE)
        if m is None:
            raise errors.invalid_parameter(
                "$filter", f"Unsupported $filter '{flt}': only \"location eq '<region>'\" is supported."
            )
        location = m.group(1).lower()
    return Response.json(200, {"value": spotdata.resource_skus(ctx.backend, location)})


def usages(ctx: Ctx) -> Response:
    sub, region = ctx.params["sub"], ctx.params["loc"].lower()
    compute.check_scope(ctx.backend, sub)
    if region not in ctx.backend.world.regions:
        raise ArmError(
            404,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{region}'.",
        )
    return Response.json(200, {"value": spotdata.usages(ctx.backend, sub, region)})


def retail_prices(ctx: Ctx) -> Response:
    """GET /api/retail/prices (prices.azure.com): anonymous, OData $filter, pages of 100 with NextPageLink."""
    items = spotdata.retail_items(ctx.backend)
    flt = ctx.req.query_ci("$filter")
    if flt:
        try:
            pred = odata.parse(flt, case_sensitive=ctx.api_version == "2023-01-01-preview")
        except odata.ODataError as exc:
            return Response.json(400, {"Error": {"Code": "BadRequest", "Message": str(exc)}})
        items = [i for i in items if pred(i)]
    try:
        skip = int(ctx.req.query_ci("$skip") or 0)
    except ValueError:
        return Response.json(400, {"Error": {"Code": "BadRequest", "Message": "$skip must be an integer."}})
    page = items[skip : skip + PRICES_PAGE]
    next_link = None
    if skip + PRICES_PAGE < len(items):
        query = {k: v for k, v in ctx.req.query.items() if k.lower() != "$skip"}
        query["$skip"] = str(skip + PRICES_PAGE)
        next_link = f"{ctx.base_url}/api/retail/prices?{urlencode(query)}"
    return Response.json(
        200,
        {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": page,
            "NextPageLink": next_link,
            "Count": len(page),
        },
    )


def placement_scores(ctx: Ctx) -> Response:
    sub = ctx.params["sub"]
    compute.check_scope(ctx.backend, sub)
    body = require_object(ctx.body(), "spotPlacementScoresInput")
    locations, sizes = body.get("desiredLocations"), body.get("desiredSizes")
    if not isinstance(locations, list) or not locations:
        raise errors.missing_property("desiredLocations")
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, dict) and s.get("sku") for s in sizes):
        raise errors.missing_property("desiredSizes")
    if len(locations) > MAX_PLACEMENT_REGIONS or len(sizes) > MAX_PLACEMENT_SIZES:
        raise errors.invalid_parameter(
            "spotPlacementScoresInput",
            f"At most {MAX_PLACEMENT_REGIONS} desiredLocations and {MAX_PLACEMENT_SIZES} desiredSizes are allowed per request.",
        )
    count = body.get("desiredCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise errors.invalid_parameter("desiredCount", "desiredCount must be a positive integer.")
    return Response.json(200, {**body, "placementScores": spotdata.placement_scores(ctx.backend, sub, body)})


def placement_metadata(ctx: Ctx) -> Response:
    loc = ctx.params["loc"]
    return Response.json(
        200,
        {
            "id": f"/subscriptions/{ctx.params['sub']}/providers/Microsoft.Compute/locations/{loc}/placementScores/spot",
            "name": "spot",
            "type": "Microsoft.Compute/locations/placementScores",
            "location": loc,
        },
    )


# --- Resource Graph --------------------------------------------------------------------------------------------


def resource_graph(ctx: Ctx) -> Response:
    body = require_object(ctx.body(), "query")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise errors.missing_property("query")
    subs = body.get("subscriptions") or sorted(ctx.backend.world.subscriptions)
    tables = _graph_tables(ctx.backend, [str(s) for s in subs])
    try:
        rows = kql.run(query, tables, now=ctx.backend.now())
    except kql.KqlError as exc:
        raise ArmError(
            400,
            "BadRequest",
            "Please provide below info when asking for support: query is invalid.",
            details=[{"code": "InvalidQuery", "message": str(exc)}],
        ) from None
    data = [_jsonable(r) for r in rows]
    return Response.json(
        200,
        {
            "totalRecords": len(data),
            "count": len(data),
            "data": data,
            "facets": [],
            "resultTruncated": "false",
        },
    )


def _graph_tables(b: Backend, subs: list[str]) -> dict[str, list[dict[str, Any]]]:
    wanted = {s.lower() for s in subs}
    resources = []
    for vm in b.world.vms.values():
        if vm.subscription.lower() in wanted and vm.scale_set is None:
            body = views.vm(vm, expand=False)
            resources.append(
                {
                    **body,
                    "type": body["type"].lower(),
                    "resourceGroup": vm.resource_group.lower(),
                    "subscriptionId": vm.subscription,
                }
            )
    spot = [row for sub in subs for row in spotdata.spot_resources(b, sub)]
    return {"Resources": resources, "SpotResources": spot}


# --- Log Analytics ---------------------------------------------------------------------------------------------

_STATUS_VALUE = {"Started": "Start", "Succeeded": "Success", "Failed": "Failure", "Accepted": "Accept"}
_LOCALIZED = {
    "start/action": "Start Virtual Machine",
    "deallocate/action": "Deallocate Virtual Machine",
    "powerOff/action": "Power Off Virtual Machine",
    "write": "Create or Update Virtual Machine",
    "delete": "Delete Virtual Machine",
    "simulateEviction/action": "Simulate Eviction of spot Virtual Machine",
    "evictSpotVM/action": "Evict Spot Virtual Machine",
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
        "ResourceProviderValue": "MICROSOFT.COMPUTE",
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
        rows = [
            activity_row(r)
            for r in ctx.backend.world.activity
            if (start is None or r.timestamp >= start) and (end is None or r.timestamp <= end)
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


def _table(rows: list[dict[str, Any]]) -> Json:
    names: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    columns = [{"name": n, "type": kql.column_type([r.get(n) for r in rows])} for n in names]
    return {
        "name": "PrimaryResult",
        "columns": columns,
        "rows": [[_cell(r.get(n)) for n in names] for r in rows],
    }


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return views.iso(value)
    if isinstance(value, timedelta):
        total = int(value.total_seconds())
        return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return value


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _cell(v) for k, v in row.items()}


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


# --- IMDS Scheduled Events -------------------------------------------------------------------------------------


def _imds_vm(ctx: Ctx) -> Vm | Response:
    if ctx.req.header("metadata").lower() != "true":
        return Response.json(400, {"error": "Bad request. Required metadata header not specified"})
    vm = ctx.backend.world.vms.get(ctx.params["rid"].lower())
    if vm is None or not vm.allocated:
        # A deallocated or deleted VM has no IMDS to answer: the agent sees the connection fail.
        return Response(0, drop=True)
    return vm


def scheduled_events_get(ctx: Ctx) -> Response:
    vm = _imds_vm(ctx)
    if isinstance(vm, Response):
        return vm
    return Response.json(200, evictions.events_document(ctx.backend, vm))


def scheduled_events_post(ctx: Ctx) -> Response:
    vm = _imds_vm(ctx)
    if isinstance(vm, Response):
        return vm
    try:
        body = require_object(parse_json(ctx.req.body), "body")
        requests = body.get("StartRequests")
        ids = [str(r["EventId"]) for r in requests] if isinstance(requests, list) else None
    except (ArmError, KeyError, TypeError):
        ids = None
    if not ids or not evictions.approve(ctx.backend, vm, ids):
        return Response.json(400, {"error": "Bad request. Invalid StartRequests"})
    return Response.empty(200)
