"""Compute handlers: HTTP in, backend call, Azure's status codes and headers out.

Long-running operations answer as CRP does: PUT 201 (create) or 200 (update) with the resource body,
POST/DELETE 202 with no body; all with ``Azure-AsyncOperation`` (status URL) and ``Location`` (monitor URL)
headers and a Retry-After in seconds of the simulated world.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from localcloud.arm import compute, errors, scalesets, views
from localcloud.arm.models import Json, Operation, Orchestration, ScaleSet, Vm
from localcloud.arm.pipeline import Ctx, Handler
from localcloud.arm.throttling import retry_after
from localcloud.httpserver import Response

POLL_SECONDS = 5.0  # simulated seconds between two polls the emulator suggests


def lro_headers(ctx: Ctx, op: Operation) -> dict[str, str]:
    base = f"{ctx.base_url}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}/operations/{op.op_id}"
    version = ctx.api_version
    return {
        "Azure-AsyncOperation": f"{base}?api-version={version}",
        "Location": f"{base}?monitor=true&api-version={version}",
        **poll_after(ctx, op),
    }


def poll_after(ctx: Ctx, op: Operation) -> dict[str, str]:
    """When to poll again: when the operation is due to end, but at least every POLL_SECONDS (simulated).

    Whole seconds of the simulated world, at least 1 (``throttling.retry_after``), as Azure gives them: a poller
    may learn of the end up to a second late, as it would in Azure.
    """
    remaining = POLL_SECONDS
    if op.expected_end is not None:
        remaining = min(POLL_SECONDS, max(0.0, (op.expected_end - ctx.backend.now()).total_seconds()))
    return retry_after(remaining)


def _expand(ctx: Ctx) -> bool:
    return ctx.req.query_ci("$expand").lower() == "instanceview"


def _vm(ctx: Ctx) -> Vm:
    p = ctx.params
    return compute.find_vm(ctx.backend, p["sub"], p["rg"], p["name"])


# --- virtual machines ------------------------------------------------------------------------------------------


def vm_put(ctx: Ctx) -> Response:
    p = ctx.params
    only_new = ctx.req.header("if-none-match").strip() == "*"
    status, vm, op = compute.put_vm(
        ctx.backend, p["sub"], p["rg"], p["name"], ctx.body(), ctx.caller, only_new=only_new
    )
    return Response.json(status, views.vm(vm), lro_headers(ctx, op))


def vm_patch(ctx: Ctx) -> Response:
    vm = _vm(ctx)
    op = compute.patch_vm(ctx.backend, vm, ctx.body(), ctx.caller)
    return Response.json(200, views.vm(vm), lro_headers(ctx, op))


def vm_get(ctx: Ctx) -> Response:
    return Response.json(200, views.vm(_vm(ctx), expand=_expand(ctx)))


def vm_instance_view(ctx: Ctx) -> Response:
    return Response.json(200, views.instance_view(_vm(ctx)))


def vm_delete(ctx: Ctx) -> Response:
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"], p["rg"])
    vm = ctx.backend.world.vms.get(compute.vm_key(p["sub"], p["rg"], p["name"]))
    if vm is None:
        return Response.empty(204)  # ARM: deleting what is not there succeeds with 204
    scalesets.forget(ctx.backend, vm)
    return Response.empty(202, lro_headers(ctx, compute.delete(ctx.backend, vm, ctx.caller)))


def _action(fn_name: str) -> Handler:
    def handler(ctx: Ctx) -> Response:
        vm = _vm(ctx)
        op: Operation = getattr(compute, fn_name)(ctx.backend, vm, ctx.caller)
        return Response.empty(202, lro_headers(ctx, op))

    return handler


vm_start = _action("start")
vm_deallocate = _action("deallocate")
vm_power_off = _action("power_off")


def vm_simulate_eviction(ctx: Ctx) -> Response:
    compute.simulate_eviction(ctx.backend, _vm(ctx), ctx.caller)
    return Response.empty(204)


def _vm_list(ctx: Ctx, keep: Callable[[Vm], bool]) -> Response:
    vms = [vm for vm in ctx.backend.world.vms.values() if vm.scale_set is None and keep(vm)]
    vms.sort(key=lambda v: v.key)
    return Response.json(200, {"value": [views.vm(v, expand=_expand(ctx)) for v in vms]})


def vm_list(ctx: Ctx) -> Response:
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"], p["rg"])
    return _vm_list(
        ctx,
        lambda v: v.subscription.lower() == p["sub"].lower() and v.resource_group.lower() == p["rg"].lower(),
    )


def vm_list_all(ctx: Ctx) -> Response:
    """VirtualMachines_ListAll. With ``statusOnly=true`` ("enables fetching run time status of all Virtual Machines
    in the subscription", virtualMachine.json 2024-11-01) each entry carries its instance view and not the model:
    callers that list with it do not get tags (Azure/azure-sdk-for-go#18565), so they list the model as well."""
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"])
    if ctx.req.query_ci("statusOnly").lower() == "true":
        sub = p["sub"].lower()
        vms = sorted(
            (v for v in ctx.backend.world.vms.values() if v.scale_set is None and v.subscription.lower() == sub),
            key=lambda v: v.key,
        )
        return Response.json(200, {"value": [views.vm_status(v) for v in vms]})
    return _vm_list(ctx, lambda v: v.subscription.lower() == p["sub"].lower())


def vm_list_by_location(ctx: Ctx) -> Response:
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"])
    loc = p["loc"].lower()
    return _vm_list(ctx, lambda v: v.subscription.lower() == p["sub"].lower() and v.location == loc)


# --- async operations ------------------------------------------------------------------------------------------


def operation_status(ctx: Ctx) -> Response:
    op = ctx.backend.world.operations.get(ctx.params["op"])
    if op is None or op.subscription.lower() != ctx.params["sub"].lower():
        raise errors.operation_not_found(ctx.params["op"])
    if op.status != "InProgress" and op.reported_at is None:
        op.reported_at = ctx.backend.now()
    if ctx.req.query_ci("monitor").lower() != "true":
        headers = {} if op.status != "InProgress" else poll_after(ctx, op)
        return Response.json(200, views.operation(op), headers)
    # The Location (monitor) URL: 202 while running; then 200 (with the resource for PUT/PATCH), or the error.
    if op.status == "InProgress":
        return Response.empty(202, {"Location": lro_headers(ctx, op)["Location"], **poll_after(ctx, op)})
    if op.status == "Failed" and op.error is not None:
        return Response.json(409 if op.error.get("code") != "InternalExecutionError" else 500, {"error": op.error})
    if op.result_of and op.result_of in ctx.backend.world.scale_sets:
        return Response.json(200, views.vmss(ctx.backend.world.scale_sets[op.result_of]))
    return Response.empty(200)


# --- scale sets ------------------------------------------------------------------------------------------------


def _ss(ctx: Ctx) -> ScaleSet:
    p = ctx.params
    return scalesets.find(ctx.backend, p["sub"], p["rg"], p["ss"])


def _uniform(ctx: Ctx) -> ScaleSet:
    """The set, for the scale-set VM API: Uniform only; a Flexible set's VMs answer the VM API."""
    ss = _ss(ctx)
    if ss.orchestration == Orchestration.FLEXIBLE:
        after = re.split("/virtualmachines", ctx.req.path, flags=re.IGNORECASE)[-1]
        tail = after.strip("/").split("/")[1:]  # what follows the instance id: start, instanceView, ...
        operation = ".".join(["VirtualMachineScaleSets.virtualMachines", *tail, ctx.req.method])
        raise errors.not_allowed_on_scale_set(operation, ss.name)
    return ss


def _instance(ctx: Ctx) -> tuple[ScaleSet, Vm]:
    ss = _uniform(ctx)
    return ss, scalesets.find_instance(ctx.backend, ss, ctx.params["iid"])


def vmss_put(ctx: Ctx) -> Response:
    p = ctx.params
    status, ss, op = scalesets.put(
        ctx.backend, p["sub"], p["rg"], p["ss"], ctx.body(), ctx.caller, api_version=ctx.api_version
    )
    return Response.json(status, views.vmss(ss), lro_headers(ctx, op))


def vmss_patch(ctx: Ctx) -> Response:
    ss = _ss(ctx)
    op = scalesets.patch(ctx.backend, ss, ctx.body(), ctx.caller, api_version=ctx.api_version)
    return Response.json(200, views.vmss(ss), lro_headers(ctx, op))


def vmss_get(ctx: Ctx) -> Response:
    return Response.json(200, views.vmss(_ss(ctx)))


def vmss_list(ctx: Ctx) -> Response:
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"], p["rg"])
    prefix = scalesets.ss_key(p["sub"], p["rg"], "")
    sets = sorted((s for k, s in ctx.backend.world.scale_sets.items() if k.startswith(prefix)), key=lambda s: s.key)
    return Response.json(200, {"value": [views.vmss(s) for s in sets]})


def vmss_list_all(ctx: Ctx) -> Response:
    """VirtualMachineScaleSets_ListAll: every set of the subscription (one page: nextLink is never needed here)."""
    p = ctx.params
    compute.check_scope(ctx.backend, p["sub"])
    sub = p["sub"].lower()
    sets = sorted(
        (s for s in ctx.backend.world.scale_sets.values() if s.subscription.lower() == sub), key=lambda s: s.key
    )
    return Response.json(200, {"value": [views.vmss(s) for s in sets]})


def vmss_vm_list(ctx: Ctx) -> Response:
    ss = _uniform(ctx)
    return Response.json(
        200, {"value": [views.vmss_vm(v, ss, expand=_expand(ctx)) for v in ctx.backend.vms_in_scale_set(ss)]}
    )


def vmss_vm_get(ctx: Ctx) -> Response:
    ss, vm = _instance(ctx)
    return Response.json(200, views.vmss_vm(vm, ss, expand=_expand(ctx)))


def vmss_vm_instance_view(ctx: Ctx) -> Response:
    _, vm = _instance(ctx)
    view: Json = views.instance_view(vm)
    return Response.json(200, view)


def _instance_action(fn_name: str) -> Handler:
    def handler(ctx: Ctx) -> Response:
        _, vm = _instance(ctx)
        op: Operation = getattr(compute, fn_name)(ctx.backend, vm, ctx.caller)
        return Response.empty(202, lro_headers(ctx, op))

    return handler


vmss_vm_start = _instance_action("start")
vmss_vm_deallocate = _instance_action("deallocate")
vmss_vm_power_off = _instance_action("power_off")


def vmss_vm_delete(ctx: Ctx) -> Response:
    ss = _uniform(ctx)
    vm = ctx.backend.world.vms.get(f"{ss.key}/virtualmachines/{ctx.params['iid']}".lower())
    if vm is None:
        return Response.empty(204)
    scalesets.forget(ctx.backend, vm)
    return Response.empty(202, lro_headers(ctx, compute.delete(ctx.backend, vm, ctx.caller)))


def vmss_vm_simulate_eviction(ctx: Ctx) -> Response:
    _, vm = _instance(ctx)
    compute.simulate_eviction(ctx.backend, vm, ctx.caller)
    return Response.empty(204)
