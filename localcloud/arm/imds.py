"""IMDS Scheduled Events (169.254.169.254/metadata/scheduledevents), one endpoint per VM under ``/_imds<vm id>``.

GET answers the VM's events document; POST ``{"StartRequests": [{"EventId"}]}`` approves events, so a Preempt
proceeds at once (scheduled-events.md). Both need ``Metadata: true``. A deallocated or deleted VM has no IMDS:
the connection fails, as it would for an agent on a VM that is gone.
"""

from __future__ import annotations

from localcloud.arm import evictions
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Vm
from localcloud.arm.pipeline import Ctx
from localcloud.arm.validation import parse_json, require_object
from localcloud.httpserver import Response


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
