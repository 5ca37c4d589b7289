"""Virtual machine scale sets (Uniform orchestration): create, scale by PATCH sku.capacity, instance operations.

Instances are :class:`Vm` objects, so start/deallocate/powerOff/simulateEviction are the VM code paths. A
Deallocate-policy instance stays in the set, deallocated, and still counts toward capacity; a Delete-policy
instance vanishes and the capacity drops, so respot restores it by raising sku.capacity (azure-facts.md 1e, 7).
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.arm import capacity, compute, errors, network
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Json, Operation, Power, Provisioning, ScaleSet, Vm
from localcloud.arm.validation import (
    check_name,
    check_scale_set_network,
    location_of,
    optional_object,
    require_object,
    spot_settings,
    strip_secrets,
    tags_of,
    zones_of,
)

MAX_CAPACITY = 1000


def ss_key(sub: str, rg: str, name: str) -> str:
    return (
        f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/virtualmachinescalesets/{name}".lower()
    )


def find(b: Backend, sub: str, rg: str, name: str) -> ScaleSet:
    compute.check_scope(b, sub, rg)
    ss = b.world.scale_sets.get(ss_key(sub, rg, name))
    if ss is None:
        raise errors.resource_not_found("virtualMachineScaleSets", name, rg)
    return ss


def find_instance(b: Backend, ss: ScaleSet, instance_id: str) -> Vm:
    vm = b.world.vms.get(f"{ss.key}/virtualmachines/{instance_id}".lower())
    if vm is None:
        raise errors.instance_not_found(ss.name, instance_id)
    return vm


def _capacity_of(sku: Json) -> int:
    cap = sku.get("capacity", 0)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CAPACITY:
        raise errors.invalid_parameter("sku.capacity", f"The capacity must be an integer between 0 and {MAX_CAPACITY}.")
    return cap


def put(b: Backend, sub: str, rg: str, name: str, body: Any, caller: str) -> tuple[int, ScaleSet, Operation]:
    """VirtualMachineScaleSets_CreateOrUpdate (create only; an existing set is changed through PATCH)."""
    compute.check_scope(b, sub, rg)
    check_name(name, "Microsoft.Compute/virtualMachineScaleSets")
    body = require_object(body, "parameters")
    location = location_of(body, b.world.regions, "Microsoft.Compute/virtualMachineScaleSets")
    sku = require_object(body.get("sku"), "sku")
    size = str(sku.get("name") or "")
    props = require_object(body.get("properties"), "properties")
    profile = require_object(props.get("virtualMachineProfile"), "properties.virtualMachineProfile")
    size = compute_size(size, location)
    spot = spot_settings(profile, size)
    check_scale_set_network(require_object(profile.get("networkProfile"), "virtualMachineProfile.networkProfile"))
    optional_object(profile.get("storageProfile"), "virtualMachineProfile.storageProfile")
    existing = b.world.scale_sets.get(ss_key(sub, rg, name))
    if existing is not None:
        return (
            200,
            existing,
            patch(b, existing, {"sku": {"capacity": _capacity_of(sku)}, "tags": tags_of(body)}, caller),
        )
    stored = strip_secrets({"p": profile})["p"]
    others = {k: v for k, v in props.items() if k != "virtualMachineProfile"}
    ss = ScaleSet(
        subscription=sub,
        resource_group=b.world.resource_groups.get((sub.lower(), rg.lower()), rg),
        name=name,
        location=location,
        size=size,
        capacity=0,
        priority=spot.priority,
        eviction_policy=spot.eviction_policy,
        max_price=spot.max_price,
        zones=zones_of(body, location, b.world.regions),
        tags=tags_of(body),
        profile=stored,
        properties=others,
        time_created=b.now(),
    )
    _check_subnets(b, ss)
    b.world.scale_sets[ss.key] = ss
    return 201, ss, scale_to(b, ss, _capacity_of(sku), caller)


def compute_size(size: str, location: str) -> str:
    from localcloud.arm import catalog

    if not size:
        raise errors.missing_property("sku.name")
    if catalog.size_of(size) is None:
        raise errors.invalid_size(size, location)
    return catalog.canonical_size(size)


def _check_subnets(b: Backend, ss: ScaleSet) -> None:
    for config in (ss.profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []:
        for ipc in (config.get("properties") or {}).get("ipConfigurations") or []:
            ref = (ipc.get("properties") or {}).get("subnet")
            subnet = str(ref.get("id", "")) if isinstance(ref, dict) else ""
            if ref is not None and b.world.subnets.get(subnet.lower()) != ss.location:
                raise errors.invalid_subnet(subnet)


def patch(b: Backend, ss: ScaleSet, body: Any, caller: str) -> Operation:
    """VirtualMachineScaleSets_Update: tags, maxPrice, and sku.capacity (scale out or in)."""
    body = require_object(body, "parameters")
    if "tags" in body:
        ss.tags = tags_of(body)
    profile = (
        ((body.get("properties") or {}).get("virtualMachineProfile") or {})
        if isinstance(body.get("properties"), dict)
        else {}
    )
    billing = profile.get("billingProfile") if isinstance(profile, dict) else None
    if isinstance(billing, dict) and "maxPrice" in billing:
        merged = {**ss.profile, "priority": ss.priority, "billingProfile": billing}
        ss.max_price = spot_settings(merged, ss.size).max_price
        ss.profile["billingProfile"] = {"maxPrice": ss.max_price}
    sku = body.get("sku")
    target = _capacity_of(require_object(sku, "sku")) if sku is not None and "capacity" in sku else ss.capacity
    return scale_to(b, ss, target, caller)


def scale_to(b: Backend, ss: ScaleSet, target: int, caller: str) -> Operation:
    op = b.begin_operation(sub=ss.subscription, location=ss.location, name="write", resource_id=ss.id)
    op.result_of = ss.key
    b.record(
        operation="Microsoft.Compute/virtualMachineScaleSets/write",
        status="Started",
        caller=caller,
        resource_id=ss.id,
        correlation_id=op.op_id,
    )
    current = b.vms_in_scale_set(ss)
    if target < len(current):
        for vm in current[target:][::-1]:
            compute.delete(b, vm, caller)
        ss.capacity = target
        failures: list[ArmError] = []
        delay = b.durations.delete
    else:
        failures = [err for err in (_add_instance(b, ss) for _ in range(target - len(current))) if err]
        delay = b.durations.create
    ss.provisioning = Provisioning.UPDATING

    def done() -> None:
        ss.provisioning = Provisioning.SUCCEEDED
        first = failures[0] if failures else None
        b.finish_operation(op, first.error() if first else None)
        b.record(
            operation="Microsoft.Compute/virtualMachineScaleSets/write",
            status="Failed" if first else "Succeeded",
            caller=caller,
            resource_id=ss.id,
            correlation_id=op.op_id,
        )

    b.complete(op, delay, f"scale {ss.name}", done)
    return op


def _add_instance(b: Backend, ss: ScaleSet) -> ArmError | None:
    iid = str(ss.next_instance)
    ss.next_instance += 1
    props: Json = json.loads(json.dumps(ss.profile))
    props["hardwareProfile"] = {"vmSize": ss.size}
    vm = Vm(
        subscription=ss.subscription,
        resource_group=ss.resource_group,
        name=f"{ss.name}_{iid}",
        location=ss.location,
        size=ss.size,
        priority=ss.priority,
        eviction_policy=ss.eviction_policy,
        max_price=ss.max_price,
        zones=[ss.zones[int(iid) % len(ss.zones)]] if ss.zones else [],
        tags=dict(ss.tags),
        properties=props,
        time_created=b.now(),
        scale_set=ss.name,
        instance_id=iid,
    )
    ss.capacity += 1
    network.commit(b, vm)
    b.world.vms[vm.key] = vm
    try:
        capacity.check_admission(b, vm, "create")
        fault = b.take_allocation_fault(vm)
        if fault is not None:
            raise capacity.fault_error(fault, vm)
        vm.slot = capacity.pick_slot(b, vm)
    except ArmError as err:
        vm.provisioning, vm.power, vm.failure = Provisioning.FAILED, Power.DEALLOCATED, err.error()
        return err
    vm.power, vm.provisioning = Power.STARTING, Provisioning.CREATING

    def up() -> None:
        if vm.key in b.world.vms and vm.allocated:
            vm.power, vm.provisioning, vm.status_time = Power.RUNNING, Provisioning.SUCCEEDED, b.now()

    b.schedule(b.durations.create * b.lro_factor, f"create {vm.name}", up)
    return None


def delete_instance(b: Backend, ss: ScaleSet, vm: Vm, caller: str) -> Operation:
    return compute.delete(b, vm, caller, on_deleted=lambda gone: instance_gone(b, gone))


def instance_gone(b: Backend, vm: Vm) -> None:
    """A deleted or Delete-evicted instance leaves the set, and the set's capacity drops by one."""
    ss = b.world.scale_sets.get(vm.key.rsplit("/virtualmachines/", 1)[0])
    if ss is not None:
        ss.capacity = len(b.vms_in_scale_set(ss))
