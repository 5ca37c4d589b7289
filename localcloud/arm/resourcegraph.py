"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources`` over two tables.

``SpotResources`` (eviction-rate buckets and spot price history, spot-vms.md) and ``Resources`` (the standalone
VMs, as ARG lists them: lower-cased type and resource group). Queries run through the KQL subset in ``kql``.
The response envelope ``{totalRecords, count, data, facets, resultTruncated}`` is NOT CONFIRMED verbatim
(azure-facts.md section 6).
"""

from __future__ import annotations

from typing import Any

from localcloud.arm import errors, kql, spotdata, views
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import require_object
from localcloud.httpserver import Response


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
    data = [{k: kql.json_cell(v) for k, v in r.items()} for r in rows]
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
