"""Virtual machine operations: what CRP does for PUT/PATCH/start/deallocate/powerOff/delete/simulateEviction.

Each returns the resource and the async operation that tracks it; the HTTP layer turns them into 200/201/202
responses with Azure-AsyncOperation and Location headers. Synchronous refusals (bad body, quota, price, SKU
restriction, conflicting operation) raise :class:`ArmError`; allocation failures arrive later, through the
operation, as they do in Azure (the PUT is accepted, the provisioning fails).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from localcloud.arm import capacity, disks, errors, evictions, network
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Json, Operation, Power, Provisioning, Vm
from localcloud.arm.validation import VmSpec, check_name, parse_vm

OP_PREFIX = "Microsoft.Compute/virtualMachines"
VMSS_OP_PREFIX = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"


def check_scope(b: Backend, sub: str, rg: str | None = None) -> None:
    if sub.lower() not in b.world.subscriptions:
        raise errors.subscription_not_found(sub)
    if rg is not None and (sub.lower(), rg.lower()) not in b.world.resource_groups:
        raise errors.resource_group_not_found(rg)


def vm_key(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/virtualmachines/{name}".lower()


def find_vm(b: Backend, sub: str, rg: str, name: str) -> Vm:
    check_scope(b, sub, rg)
    vm = b.world.vms.get(vm_key(sub, rg, name))
    if vm is None:
        raise errors.resource_not_found("virtualMachines", name, rg)
    return vm


def op_name(vm: Vm, action: str) -> str:
    prefix = VMSS_OP_PREFIX if vm.scale_set else OP_PREFIX
    return f"{prefix}/{action}"


# --- create / update -------------------------------------------------------------------------------------------


def put_vm(
    b: Backend, sub: str, rg: str, name: str, body: object, caller: str, *, only_new: bool = False
) -> tuple[int, Vm, Operation]:
    """VirtualMachines_CreateOrUpdate: 201 for a new VM, 200 for an update of an existing one; with ``only_new``
    (``If-None-Match: *``) 412 for an existing one, which stays as it was."""
    check_scope(b, sub, rg)
    check_name(name, "Microsoft.Compute/virtualMachines")
    spec = parse_vm(body, b.world.regions)
    existing = b.world.vms.get(vm_key(sub, rg, name))
    if existing is not None and only_new:
        raise errors.precondition_failed()
    if existing is not None:
        return 200, existing, update_vm(b, existing, spec, caller)
    vm = Vm(
        subscription=sub,
        resource_group=_rg_name(b, sub, rg),
        name=name,
        location=spec.location,
        size=spec.size,
        priority=spec.spot.priority,
        eviction_policy=spec.spot.eviction_policy,
        max_price=spec.spot.max_price,
        zones=spec.zones,
        tags=spec.tags,
        properties=spec.properties,
        time_created=b.now(),
    )
    if "virtualMachineScaleSet" in spec.properties:
        from localcloud.arm import scalesets  # scalesets builds on this module

        scalesets.join(b, vm, spec.properties["virtualMachineScaleSet"])
    network.attach(b, vm)  # raises InvalidResourceReference for a subnet that is not there
    storage: Json = vm.properties.setdefault("storageProfile", {})
    disks.check(b, vm, storage)
    capacity.check_admission(b, vm, "create")
    network.commit(b, vm)
    disks.commit(b, vm, storage)
    b.world.vms[vm.key] = vm
    _recount(b, vm)
    op = _start_op(b, vm, "write", caller)
    allocate(b, vm, op, caller, b.durations.create, on_fail=_create_failed)
    return 201, vm, op


def _rg_name(b: Backend, sub: str, rg: str) -> str:
    return b.world.resource_groups.get((sub.lower(), rg.lower()), rg)


def update_vm(b: Backend, vm: Vm, spec: VmSpec, caller: str) -> Operation:
    """A PUT or PATCH of an existing VM. The same body again changes nothing (a short update). A VM whose create or
    start failed is allocated again by it (a choice: a PUT asks for the model, and the model runs)."""
    _ensure_idle(vm, "update")
    _check_unchangeable(vm, spec)
    retry = vm.provisioning == Provisioning.FAILED and not vm.allocated
    if retry:
        capacity.check_admission(b, replace(vm, size=spec.size, max_price=spec.spot.max_price), "create")
    storage = disks.update(b, vm, spec.properties.get("storageProfile") or {})
    vm.size, vm.max_price, vm.tags = spec.size, spec.spot.max_price, spec.tags
    network_profile = network.update(b, vm, spec.properties.get("networkProfile") or {})
    vm.properties = {**spec.properties, "storageProfile": storage, "networkProfile": network_profile}
    if vm.member_of is not None:
        vm.properties["virtualMachineScaleSet"] = {"id": b.world.scale_sets[vm.member_of].id}
    op = _start_op(b, vm, "write", caller)
    if retry:
        allocate(b, vm, op, caller, b.durations.create, on_fail=_create_failed)
        return op
    previous = vm.provisioning
    vm.provisioning = Provisioning.UPDATING

    def done() -> None:
        vm.provisioning = previous
        _finish(b, vm, op, caller, "write")

    b.complete(op, (b.durations.update), f"update {vm.name}", done)
    return op


def _check_unchangeable(vm: Vm, spec: VmSpec) -> None:
    if spec.location != vm.location:
        raise errors.property_change_not_allowed("location")
    if spec.spot.priority != vm.priority:
        raise errors.priority_cannot_change(spec.spot.priority, vm.name)
    if spec.spot.eviction_policy != vm.eviction_policy:
        raise errors.property_change_not_allowed("evictionPolicy")
    if spec.zones != vm.zones:
        raise errors.property_change_not_allowed("zones")
    joined = spec.properties.get("virtualMachineScaleSet")
    joined_id = str(joined.get("id") or "") if isinstance(joined, dict) else ""
    if joined_id.lower() != (vm.member_of or ""):
        raise errors.property_change_not_allowed("virtualMachineScaleSet")  # set at creation only
    if vm.allocated and spec.spot.max_price != vm.max_price:
        raise errors.max_price_change_allocated(vm.name)
    if vm.allocated and spec.size != vm.size:
        raise errors.operation_not_allowed(
            f"Resizing VM '{vm.name}' while it is allocated is not supported here; deallocate it first."
        )


def patch_vm(b: Backend, vm: Vm, body: object, caller: str) -> Operation:
    """VirtualMachines_Update: merge the patch into the current model, then update as PUT does. The merge is JSON
    merge patch's (RFC 7396, ARM's PATCH): objects merge key by key at every depth, arrays and values replace."""
    if not isinstance(body, dict):
        raise errors.invalid_parameter("parameters", "The request body must be a JSON object.")
    current: Json = {
        "location": vm.location,
        "tags": vm.tags,
        "zones": vm.zones,
        "properties": json.loads(json.dumps(vm.properties)),
    }
    props = current["properties"]
    props["priority"], props["evictionPolicy"] = vm.priority, vm.eviction_policy
    if vm.max_price is not None:
        props["billingProfile"] = {"maxPrice": vm.max_price}
    if "tags" in body:
        current["tags"] = body["tags"]
    patch_props = body.get("properties") or {}
    if not isinstance(patch_props, dict):
        raise errors.invalid_parameter("properties", "The value of parameter 'properties' must be a JSON object.")
    current["properties"] = _merge_patch(props, patch_props)
    return update_vm(b, vm, parse_vm(current, b.world.regions), caller)


def _merge_patch(target: Json, patch: Json) -> Json:
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- power operations ------------------------------------------------------------------------------------------


def start(b: Backend, vm: Vm, caller: str, *, note: Json | None = None) -> Operation:
    """POST start; ``note``: properties for its Activity Log records (a platform restore says so)."""
    _ensure_idle(vm, "start")
    if vm.provisioning == Provisioning.DELETING:
        raise errors.conflicting_operation(vm.name, "start")
    if vm.allocated:  # running, or stopped but still holding its hardware
        op = _start_op(b, vm, "start", caller, note)
        vm.power = Power.STARTING if vm.power != Power.RUNNING else vm.power
        b.complete(
            op,
            (1.0 if vm.power == Power.RUNNING else b.durations.start / 3),
            f"start {vm.name}",
            _running(b, vm, op, caller),
        )
        return op
    capacity.check_admission(b, vm, "start")
    op = _start_op(b, vm, "start", caller, note)
    allocate(b, vm, op, caller, b.durations.start, on_fail=_start_failed)
    return op


def deallocate(b: Backend, vm: Vm, caller: str) -> Operation:
    _ensure_idle(vm, "deallocate")
    op = _start_op(b, vm, "deallocate", caller)
    if not vm.allocated:
        b.complete(op, (1.0), f"deallocate {vm.name}", _deallocated_already(b, vm, op, caller))
        return op
    vm.power, vm.provisioning = Power.DEALLOCATING, Provisioning.UPDATING
    b.annotate(vm, "VirtualMachineDeallocationInitiated")

    def done() -> None:
        release(vm)
        vm.power, vm.provisioning, vm.eviction_due = Power.DEALLOCATED, Provisioning.SUCCEEDED, None
        evictions.drop_events(b, vm)
        _finish(b, vm, op, caller, "deallocate")

    b.complete(op, (b.durations.deallocate), f"deallocate {vm.name}", done)
    return op


def _deallocated_already(b: Backend, vm: Vm, op: Operation, caller: str) -> Callable[[], None]:
    """Deallocating a deallocated VM succeeds, and clears a failed provisioning left by a failed start."""

    def done() -> None:
        if vm.provisioning == Provisioning.FAILED:
            vm.provisioning, vm.failure = Provisioning.SUCCEEDED, None
        _finish(b, vm, op, caller, "deallocate")

    return done


def power_off(b: Backend, vm: Vm, caller: str) -> Operation:
    _ensure_idle(vm, "powerOff")
    op = _start_op(b, vm, "powerOff", caller)
    if vm.power not in (Power.RUNNING, Power.STARTING):
        b.complete(op, (1.0), f"powerOff {vm.name}", lambda: _finish(b, vm, op, caller, "powerOff"))
        return op
    vm.power, vm.provisioning = Power.STOPPING, Provisioning.UPDATING

    def done() -> None:
        vm.power, vm.provisioning = Power.STOPPED, Provisioning.SUCCEEDED
        _finish(b, vm, op, caller, "powerOff")

    b.complete(op, (b.durations.power_off), f"powerOff {vm.name}", done)
    return op


def delete(b: Backend, vm: Vm, caller: str) -> Operation:
    op = _start_op(b, vm, "delete", caller)
    vm.provisioning, vm.busy_op = Provisioning.DELETING, "delete"

    def done() -> None:
        remove(b, vm)
        b.finish_operation(op)
        b.record(
            operation=op_name(vm, "delete"),
            status="Succeeded",
            caller=caller,
            resource_id=vm.id,
            correlation_id=op.op_id,
        )

    b.complete(op, (b.durations.delete), f"delete {vm.name}", done)
    return op


def simulate_eviction(b: Backend, vm: Vm, caller: str) -> None:
    """POST simulateEviction: 204 now; the platform evicts after the usual Preempt notice (use-spot.md)."""
    if not vm.is_spot:
        raise errors.operation_not_allowed(
            f"Simulate eviction is supported only for Azure Spot Virtual Machines; '{vm.name}' is not one."
        )
    if not vm.allocated or vm.power != Power.RUNNING:
        raise errors.operation_not_allowed(f"Simulate eviction requires VM '{vm.name}' to be running.")
    b.record(operation=op_name(vm, "simulateEviction/action"), status="Succeeded", caller=caller, resource_id=vm.id)
    evictions.schedule_eviction(b, vm, reason="simulated")


# --- allocation and bookkeeping --------------------------------------------------------------------------------


def allocate(
    b: Backend,
    vm: Vm,
    op: Operation,
    caller: str,
    duration: float,
    *,
    on_fail: Callable[[Backend, Vm, Operation, str, ArmError], None],
) -> None:
    """Take a capacity slot now and finish after ``duration``, or fail the operation after a short while."""
    try:
        fault = b.take_allocation_fault(vm)
        if fault is not None:
            raise capacity.fault_error(fault, vm)
        vm.slot = capacity.pick_slot(b, vm)
    except ArmError as err:
        vm.busy_op = op.name
        failure = err  # `err` is unbound when the except block ends

        def fail() -> None:
            on_fail(b, vm, op, caller, failure)

        b.complete(op, (b.durations.allocation_failure), f"fail {vm.name}", fail)
        return
    vm.power = Power.STARTING
    vm.provisioning = Provisioning.CREATING if op.name == "write" else Provisioning.UPDATING
    vm.failure = None
    b.complete(op, (duration), f"{op.name} {vm.name}", _running(b, vm, op, caller))


def _running(b: Backend, vm: Vm, op: Operation, caller: str) -> Callable[[], None]:
    def done() -> None:
        vm.power, vm.provisioning = Power.RUNNING, Provisioning.SUCCEEDED
        _finish(b, vm, op, caller, op.name)

    return done


def _create_failed(b: Backend, vm: Vm, op: Operation, caller: str, err: ArmError) -> None:
    # A failed create leaves the VM resource behind in provisioningState Failed, as Azure does.
    vm.provisioning, vm.power, vm.failure = Provisioning.FAILED, Power.DEALLOCATED, err.error()
    _finish(b, vm, op, caller, "write", err)


def _start_failed(b: Backend, vm: Vm, op: Operation, caller: str, err: ArmError) -> None:
    # A start that cannot be allocated leaves the VM deallocated with provisioningState Failed; the instance view
    # carries the code as ProvisioningState/<state>[/<errorCode>] (states-billing.md) next to
    # PowerState/deallocated. A later start or deallocate that succeeds clears it.
    vm.provisioning, vm.power, vm.failure = Provisioning.FAILED, Power.DEALLOCATED, err.error()
    _finish(b, vm, op, caller, "start", err)


def _start_op(b: Backend, vm: Vm, action: str, caller: str, note: Json | None = None) -> Operation:
    op = b.begin_operation(sub=vm.subscription, location=vm.location, name=action, resource_id=vm.id)
    op.note = note
    vm.busy_op = action
    suffix = action if action in ("write", "delete") else f"{action}/action"
    b.record(
        operation=op_name(vm, suffix),
        status="Started",
        caller=caller,
        resource_id=vm.id,
        correlation_id=op.op_id,
        properties=note,
    )
    return op


def _finish(b: Backend, vm: Vm, op: Operation, caller: str, action: str, err: ArmError | None = None) -> None:
    vm.busy_op = None
    vm.status_time = b.now()
    b.finish_operation(op, err.error() if err else None)
    suffix = action if action in ("write", "delete") else f"{action}/action"
    b.record(
        operation=op_name(vm, suffix),
        status="Failed" if err else "Succeeded",
        caller=caller,
        resource_id=vm.id,
        correlation_id=op.op_id,
        level="Error" if err else "Informational",
        properties={**(op.note or {}), **({"statusMessage": json.dumps({"error": err.error()})} if err else {})},
    )


def _ensure_idle(vm: Vm, action: str) -> None:
    if vm.busy_op is not None:
        raise errors.conflicting_operation(vm.name, action)


def release(vm: Vm) -> None:
    vm.slot = None


def remove(b: Backend, vm: Vm, *, evicted: bool = False) -> None:
    """Delete the VM with the disks and NICs whose deleteOption says so (after a Delete-policy eviction: all its
    disks); its scale set's capacity drops."""
    release(vm)
    b.world.vms.pop(vm.key, None)
    _recount(b, vm)
    evictions.drop_events(b, vm)
    disks.release(b, vm, evicted=evicted)
    network.detach(b, vm)


def _recount(b: Backend, vm: Vm) -> None:
    ss = b.scale_set_of(vm)
    if ss is not None:
        ss.capacity = len(b.vms_in_scale_set(ss))
