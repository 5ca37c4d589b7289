"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources`` over two tables.

``SpotResources`` (eviction-rate buckets and spot price history, spot-vms.md) and ``Resources``: VMs (standalone
and Flexible members), scale sets, autoscale settings, managed disks and network interfaces. Uniform scale-set
instances are not rows (ARG keeps them out of ``Resources``). Each row has every ARG column (``id, name, type,
tenantId, kind, location, resourceGroup, subscriptionId, managedBy, sku, plan, properties, tags, identity, zones,
extendedLocation``; null where the resource has none, so a query on ``sku.capacity`` sees null on a VM rather
than failing), with ``type``, ``location`` and ``resourceGroup`` lower-cased as ARG returns them and
``properties`` the resource's own properties as its GET returns them. So both
``resources | where type =~ 'microsoft.insights/autoscalesettings' | where properties.targetResourceUri =~ '<id>'``
and ``... | where properties.virtualMachineProfile.spotRestorePolicy.enabled == true`` work. Rows are current at
once (ARG's indexing lag is NOT modelled). Queries run through the KQL subset in ``kql``. The response envelope
``{totalRecords, count, data, facets, resultTruncated}`` is NOT CONFIRMED verbatim (azure-facts.md section 6).
"""

from __future__ import annotations

from typing import Any

from localcloud.arm import autoscale, disks, errors, kql, spotdata, views
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Json, Nic
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import require_object
from localcloud.httpserver import Response

COLUMNS = (
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "managedBy",
    "sku",
    "plan",
    "properties",
    "tags",
    "identity",
    "zones",
    "extendedLocation",
)
TENANT = "11111111-0000-0000-0000-000000000000"  # localcloud's tenant (any GUID: nothing checks it)


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
    rows = [r for r in _resources(b) if str(r["subscriptionId"]).lower() in wanted]
    rows.sort(key=lambda r: str(r["id"]).lower())
    spot = [row for sub in subs for row in spotdata.spot_resources(b, sub)]
    return {"Resources": rows, "SpotResources": spot}


def _resources(b: Backend) -> list[Json]:
    w = b.world
    rows = [_row(views.vm(vm)) for vm in w.vms.values() if vm.scale_set is None]
    rows += [_row(views.vmss(ss)) for ss in w.scale_sets.values()]
    rows += [_row(autoscale.view(setting)) for setting in w.autoscale.values()]
    for disk in w.disks.values():
        holder = w.vms.get(disk.vm_key) if disk.vm_key else None
        body = {**disks.view(disk, holder.id if holder else None), "type": "Microsoft.Compute/disks"}
        rows.append(_row({**body, "location": disk.location, "zones": disk.zones or None}))
    for nic in w.nics.values():
        holder = w.vms.get(nic.vm_key) if nic.vm_key else None
        if holder is None or holder.scale_set is None:
            rows.append(_row(_nic(nic, holder.id if holder else None)))
    return rows


def _row(body: Json) -> Json:
    """A resource body as an ARG row: every column, the ids' parts as columns, the lower-cased spellings."""
    parts = str(body["id"]).split("/")
    row: Json = dict.fromkeys(COLUMNS)
    row.update(kind="", managedBy="", tenantId=TENANT, tags={})
    row.update({k: v for k, v in body.items() if k in COLUMNS})
    row["type"] = str(body["type"]).lower()
    row["location"] = str(body.get("location") or "").replace(" ", "").lower()
    row["subscriptionId"], row["resourceGroup"] = parts[2], parts[4].lower()
    return row


def _nic(nic: Nic, vm_id: str | None) -> Json:
    ipc = {
        "id": f"{nic.id}/ipConfigurations/{nic.ip_configuration}",
        "name": nic.ip_configuration,
        "properties": {"primary": True, "privateIPAllocationMethod": "Dynamic", "subnet": {"id": nic.subnet_id}},
    }
    props: Json = {"provisioningState": "Succeeded", "ipConfigurations": [ipc]}
    if vm_id:
        props["virtualMachine"] = {"id": vm_id}
    return {
        "id": nic.id,
        "name": nic.name,
        "type": "Microsoft.Network/networkInterfaces",
        "location": nic.location,
        "properties": props,
    }
