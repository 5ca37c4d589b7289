"""Virtual machine scale sets, Uniform (the default) or Flexible: create, scale by PATCH sku.capacity.

Uniform: instances are :class:`Vm` objects under the set's id (``.../virtualMachineScaleSets/{ss}/
virtualMachines/{instanceId}``), so start/deallocate/powerOff/simulateEviction are the VM code paths. A
Deallocate-policy instance stays in the set, deallocated, and still counts toward capacity; a Delete-policy
instance vanishes and the capacity drops, so respot restores it by raising sku.capacity (azure-facts.md 1e, 7).

Flexible (virtual-machine-scale-sets-orchestration-modes.md): the set's VMs are standalone VM resources whose
``properties.virtualMachineScaleSet.id`` names the set. They come from the profile when the set has one (named
``<set>_<8 hex>``, Spot or Regular as ``priorityMixPolicy`` says, spot-priority-mix.md), or join through the VM
API (``compute.put_vm``). They are operated through the VM API (orchestration-modes-api-comparison.md: every
instance operation's "Flexible alternative" is the single-VM API), so the scale-set VM API refuses a Flexible set
(``responses``). ``sku.capacity`` counts the set's VMs, however they came (a choice: no doc says).
"""

from __future__ import annotations

import json
import math
from typing import Any

from localcloud.arm import capacity, compute, errors, network
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import Json, Operation, Orchestration, Power, Provisioning, ScaleSet, Vm
from localcloud.arm.validation import (
    SpotSettings,
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
_REGULAR = SpotSettings("Regular", None, None)


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


def _orchestration(props: Json) -> Orchestration:
    raw = props.get("orchestrationMode", "Uniform")
    mode = next((m for m in Orchestration if isinstance(raw, str) and m.value.lower() == raw.lower()), None)
    if mode is None:
        raise errors.invalid_parameter(
            "orchestrationMode", f"The value '{raw}' of parameter 'orchestrationMode' is not valid."
        )
    return mode


def _model(body: Json, location: str, mode: Orchestration) -> tuple[str, SpotSettings, Json, int]:
    """Size, spot settings, stored profile and capacity; a Flexible set may have no profile (and no SKU)."""
    props = require_object(body.get("properties"), "properties")
    if props.get("virtualMachineProfile") is None and mode == Orchestration.FLEXIBLE:
        cap = _capacity_of(optional_object(body.get("sku"), "sku"))
        if cap:
            raise errors.invalid_parameter(
                "sku.capacity", "A scale set without a virtualMachineProfile has no model to create VMs from."
            )
        return "", _REGULAR, {}, 0
    profile = require_object(props.get("virtualMachineProfile"), "properties.virtualMachineProfile")
    sku = require_object(body.get("sku"), "sku")
    size = compute_size(str(sku.get("name") or ""), location)
    spot = spot_settings(profile, size)
    check_scale_set_network(require_object(profile.get("networkProfile"), "virtualMachineProfile.networkProfile"))
    optional_object(profile.get("storageProfile"), "virtualMachineProfile.storageProfile")
    return size, spot, strip_secrets({"p": profile})["p"], _capacity_of(sku)


def put(b: Backend, sub: str, rg: str, name: str, body: Any, caller: str) -> tuple[int, ScaleSet, Operation]:
    """VirtualMachineScaleSets_CreateOrUpdate (create only; an existing set is changed through PATCH)."""
    compute.check_scope(b, sub, rg)
    check_name(name, "Microsoft.Compute/virtualMachineScaleSets")
    body = require_object(body, "parameters")
    location = location_of(body, b.world.regions, "Microsoft.Compute/virtualMachineScaleSets")
    mode = _orchestration(require_object(body.get("properties"), "properties"))
    size, spot, profile, target = _model(body, location, mode)
    existing = b.world.scale_sets.get(ss_key(sub, rg, name))
    if existing is not None:
        if existing.orchestration != mode:
            raise errors.property_change_not_allowed("orchestrationMode")  # fixed at creation (orchestration-modes)
        return 200, existing, patch(b, existing, {"sku": {"capacity": target}, "tags": tags_of(body)}, caller)
    others = {k: v for k, v in body["properties"].items() if k != "virtualMachineProfile"}
    others["orchestrationMode"] = mode.value
    if mode == Orchestration.FLEXIBLE:
        others.setdefault("platformFaultDomainCount", 1)
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
        profile=profile,
        properties=others,
        time_created=b.now(),
        orchestration=mode,
    )
    _check_subnets(b, ss)
    b.world.scale_sets[ss.key] = ss
    return 201, ss, scale_to(b, ss, target, caller)


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
    if isinstance(billing, dict) and "maxPrice" in billing and ss.profile:
        merged = {**ss.profile, "priority": ss.priority, "billingProfile": billing}
        ss.max_price = spot_settings(merged, ss.size).max_price
        ss.profile["billingProfile"] = {"maxPrice": ss.max_price}
    sku = body.get("sku")
    target = _capacity_of(require_object(sku, "sku")) if sku is not None and "capacity" in sku else ss.capacity
    return scale_to(b, ss, target, caller)


def scale_to(b: Backend, ss: ScaleSet, target: int, caller: str) -> Operation:
    current = b.vms_in_scale_set(ss)
    if target > len(current) and not ss.profile:
        raise errors.invalid_parameter(
            "sku.capacity",
            f"Scale set '{ss.name}' has no virtualMachineProfile: add virtual machines through the VM API.",
        )
    op = b.begin_operation(sub=ss.subscription, location=ss.location, name="write", resource_id=ss.id)
    op.result_of = ss.key
    b.record(
        operation="Microsoft.Compute/virtualMachineScaleSets/write",
        status="Started",
        caller=caller,
        resource_id=ss.id,
        correlation_id=op.op_id,
    )
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
    index = len(b.vms_in_scale_set(ss))
    vm = _uniform_instance(b, ss) if ss.orchestration == Orchestration.UNIFORM else _flexible_member(b, ss, index)
    network.commit(b, vm)
    b.world.vms[vm.key] = vm
    ss.capacity = len(b.vms_in_scale_set(ss))
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


def _uniform_instance(b: Backend, ss: ScaleSet) -> Vm:
    iid = str(ss.next_instance)
    ss.next_instance += 1
    props: Json = json.loads(json.dumps(ss.profile))
    props["hardwareProfile"] = {"vmSize": ss.size}
    return Vm(
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


def _flexible_member(b: Backend, ss: ScaleSet, index: int) -> Vm:
    """A standalone VM made from the set's profile, named ``<set>_<8 hex>`` as Flexible sets name them."""
    name = f"{ss.name}_{b.rng.getrandbits(32):08x}"
    props: Json = json.loads(json.dumps(ss.profile))
    for key in ("priority", "evictionPolicy", "billingProfile"):
        props.pop(key, None)  # the VM's own settings, from the priority mix below
    os_profile = props.get("osProfile")
    if isinstance(os_profile, dict):
        os_profile["computerName"] = f"{os_profile.pop('computerNamePrefix', ss.name)}{name[-8:]}"
    props["hardwareProfile"] = {"vmSize": ss.size}
    props["virtualMachineScaleSet"] = {"id": ss.id}
    spot = _member_priority(ss, index)
    return Vm(
        subscription=ss.subscription,
        resource_group=ss.resource_group,
        name=name,
        location=ss.location,
        size=ss.size,
        priority=spot.priority,
        eviction_policy=spot.eviction_policy,
        max_price=spot.max_price,
        zones=[ss.zones[index % len(ss.zones)]] if ss.zones else [],
        tags=dict(ss.tags),
        properties=props,
        time_created=b.now(),
        member_of=ss.key,
    )


def _member_priority(ss: ScaleSet, index: int) -> SpotSettings:
    """Spot Priority Mix (spot-priority-mix.md): the first ``baseRegularPriorityCount`` VMs are Regular, then
    ``regularPriorityPercentageAboveBase`` percent of the rest, spread evenly."""
    spot = SpotSettings(ss.priority, ss.eviction_policy, ss.max_price)
    mix = ss.properties.get("priorityMixPolicy")
    if ss.priority not in ("Spot", "Low") or not isinstance(mix, dict):
        return spot
    base = int(mix.get("baseRegularPriorityCount") or 0)
    percent = float(mix.get("regularPriorityPercentageAboveBase") or 0)
    above = index - base
    regular = above < 0 or math.floor((above + 1) * percent / 100) > math.floor(above * percent / 100)
    return _REGULAR if regular else spot


def join(b: Backend, vm: Vm, ref: object) -> None:
    """A VM created with ``properties.virtualMachineScaleSet`` joins that Flexible set (same region).

    Raises:
        ArmError: 404 for a set that is not there; 400 for a Uniform set or one in another region (the codes
        are a choice: no public source prints them).
    """
    ref_id = ref.get("id") if isinstance(ref, dict) else None
    if not isinstance(ref_id, str) or not ref_id:
        raise errors.missing_property("virtualMachineScaleSet.id")
    ss = b.world.scale_sets.get(ref_id.lower())
    if ss is None:
        rg = ref_id.split("/")[4] if ref_id.count("/") >= 4 else ""
        raise errors.resource_not_found("virtualMachineScaleSets", ref_id.rsplit("/", 1)[-1], rg)
    if ss.orchestration != Orchestration.FLEXIBLE:
        raise errors.invalid_parameter(
            "virtualMachineScaleSet",
            f"Virtual Machine Scale Set '{ss.name}' uses Uniform orchestration: only a scale set with Flexible "
            "orchestration mode can take a virtual machine through properties.virtualMachineScaleSet.",
        )
    if ss.location != vm.location:
        raise errors.invalid_parameter(
            "virtualMachineScaleSet",
            f"Virtual machine '{vm.name}' must be in the location '{ss.location}' of its scale set '{ss.name}'.",
        )
    vm.member_of = ss.key
    vm.properties["virtualMachineScaleSet"] = {"id": ss.id}
