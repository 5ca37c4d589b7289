"""Virtual machine scale sets, Uniform (the default) or Flexible: create, scale by PATCH sku.capacity.

Uniform: instances are :class:`Vm` objects under the set's id (``.../virtualMachineScaleSets/{ss}/
virtualMachines/{instanceId}``), so start/deallocate/powerOff/simulateEviction are the VM code paths. A
Deallocate-policy instance stays in the set, deallocated, and still counts toward capacity; a Delete-policy
instance vanishes and the capacity drops, so respot restores it by raising sku.capacity (azure-facts.md 1e, 7).
Raising it to what it already is creates nothing (the PATCH still runs as a short update).

Flexible (virtual-machine-scale-sets-orchestration-modes.md): the set's VMs are standalone VM resources whose
``properties.virtualMachineScaleSet.id`` names the set. They come from the profile when the set has one
(``members``), or join through the VM API (``compute.put_vm``). They are operated through the VM API
(orchestration-modes-api-comparison.md: every instance operation's "Flexible alternative" is the single-VM API),
so the scale-set VM API refuses a Flexible set (``responses``). ``sku.capacity`` counts the set's VMs, however
they came (a choice: no doc says).

``properties.spotRestorePolicy`` (Try & restore) is checked and kept here, and acted on in ``restore``. It is a
property of the scale set, not of its ``virtualMachineProfile`` (VirtualMachineScaleSetProperties in
virtualMachineScaleSet.json, VirtualMachineScaleSet_Create_WithSpotRestorePolicy.json, azure-mgmt-compute 39;
CONFIRMED): use-spot.md's template, which shows it inside the profile, is wrong there. One given inside the
profile is not part of the model and is dropped (what Azure does with it is NOT CONFIRMED).
A scale-out is refused at once, before any instance exists, for a restricted SKU, a max price below the spot price
or too little quota for all the new instances (chosen: as a VM create is); only allocation fails through the LRO.
"""

from __future__ import annotations

from typing import Any

from localcloud.arm import capacity, catalog, compute, disks, errors, members, network, restore
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


def _model(body: Json, location: str, mode: Orchestration, api_version: str) -> tuple[str, SpotSettings, Json, int]:
    """Size, spot settings, stored profile and capacity; a Flexible set may have no profile (and no SKU)."""
    props = require_object(body.get("properties"), "properties")
    if props.get("virtualMachineProfile") is None and mode == Orchestration.FLEXIBLE:
        cap = _capacity_of(optional_object(body.get("sku"), "sku"))
        if cap:
            raise errors.invalid_parameter(
                "sku.capacity", "A scale set without a virtualMachineProfile has no model to create VMs from."
            )
        return "", members.REGULAR, {}, 0
    profile = require_object(props.get("virtualMachineProfile"), "properties.virtualMachineProfile")
    sku = require_object(body.get("sku"), "sku")
    size = compute_size(str(sku.get("name") or ""), location)
    spot = spot_settings(profile, size)
    check_scale_set_network(require_object(profile.get("networkProfile"), "virtualMachineProfile.networkProfile"))
    disks.check_profile(
        optional_object(profile.get("storageProfile"), "virtualMachineProfile.storageProfile"),
        "virtualMachineProfile.storageProfile",
    )
    stored = strip_secrets({"p": profile})["p"]
    stored.pop("spotRestorePolicy", None)  # not a property of the profile (see the module docstring)
    return size, spot, stored, _capacity_of(sku)


def put(
    b: Backend, sub: str, rg: str, name: str, body: Any, caller: str, *, api_version: str = ""
) -> tuple[int, ScaleSet, Operation]:
    """VirtualMachineScaleSets_CreateOrUpdate; on an existing set: capacity, tags, maxPrice and Try & restore."""
    compute.check_scope(b, sub, rg)
    check_name(name, "Microsoft.Compute/virtualMachineScaleSets")
    body = require_object(body, "parameters")
    location = location_of(body, b.world.regions, "Microsoft.Compute/virtualMachineScaleSets")
    mode = _orchestration(require_object(body.get("properties"), "properties"))
    size, spot, profile, target = _model(body, location, mode, api_version)
    existing = b.world.scale_sets.get(ss_key(sub, rg, name))
    if existing is not None:
        if existing.orchestration != mode:
            raise errors.property_change_not_allowed("orchestrationMode")  # fixed at creation (orchestration-modes)
        kept = {k: profile[k] for k in ("billingProfile",) if k in profile}
        change: Json = {"sku": {"capacity": target}, "tags": tags_of(body)}
        change["properties"] = {"virtualMachineProfile": kept}
        if "spotRestorePolicy" in body["properties"]:
            change["properties"]["spotRestorePolicy"] = body["properties"]["spotRestorePolicy"]
        return 200, existing, patch(b, existing, change, caller, api_version=api_version)
    ss = _new_set(b, sub, rg, name, body, location, mode, size, spot, profile)
    if "spotRestorePolicy" in ss.properties:
        ss.properties["spotRestorePolicy"] = restore.parse_policy(
            ss.properties["spotRestorePolicy"], spot=ss.is_spot, api_version=api_version
        )
    _check_subnets(b, ss)
    if target:
        check_scale_out(b, ss, target)
    b.world.scale_sets[ss.key] = ss
    ss.target = target
    return 201, ss, scale_to(b, ss, target, caller)


def _new_set(
    b: Backend,
    sub: str,
    rg: str,
    name: str,
    body: Json,
    location: str,
    mode: Orchestration,
    size: str,
    spot: SpotSettings,
    profile: Json,
) -> ScaleSet:
    others = {k: v for k, v in body["properties"].items() if k != "virtualMachineProfile"}
    others["orchestrationMode"] = mode.value
    if mode == Orchestration.FLEXIBLE:
        others.setdefault("platformFaultDomainCount", 1)
    return ScaleSet(
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


def compute_size(size: str, location: str) -> str:
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


def patch(b: Backend, ss: ScaleSet, body: Any, caller: str, *, api_version: str = "") -> Operation:
    """VirtualMachineScaleSets_Update: tags, maxPrice, spotRestorePolicy and sku.capacity (scale out or in)."""
    body = require_object(body, "parameters")
    props = body.get("properties")
    profile = props.get("virtualMachineProfile") if isinstance(props, dict) else None
    profile = profile if isinstance(profile, dict) else {}
    sku = body.get("sku")
    target = _capacity_of(require_object(sku, "sku")) if sku is not None and "capacity" in sku else ss.capacity
    policy = props.get("spotRestorePolicy") if isinstance(props, dict) else None
    if policy is not None:
        policy = restore.parse_policy(policy, spot=ss.is_spot, api_version=api_version)
    billing = profile.get("billingProfile")
    max_price = ss.max_price
    if isinstance(billing, dict) and "maxPrice" in billing and ss.profile:
        max_price = spot_settings({**ss.profile, "priority": ss.priority, "billingProfile": billing}, ss.size).max_price
    tags = tags_of(body) if "tags" in body else ss.tags
    previous = ss.max_price
    ss.max_price = max_price  # new instances (and the price check) use it
    try:
        op = scale_to(b, ss, target, caller)
    except ArmError:
        ss.max_price = previous
        raise
    if ss.profile and max_price is not None:
        ss.profile["billingProfile"] = {"maxPrice": max_price}
    if policy is not None:
        ss.properties["spotRestorePolicy"] = policy
    ss.tags = tags
    if sku is not None and "capacity" in sku:
        ss.target = target
    return op


def scale_to(b: Backend, ss: ScaleSet, target: int, caller: str, *, note: Json | None = None) -> Operation:
    """Scale out (new instances from the model) or in (the newest go first) to ``target`` instances.

    Raises:
        ArmError: synchronously, before anything changes, for a set without a model, a restricted SKU, a max price
        below the spot price or too little quota for the new instances; allocation failures come through the LRO.
    """
    current = b.vms_in_scale_set(ss)
    if target > len(current):
        if not ss.profile:
            raise errors.invalid_parameter(
                "sku.capacity",
                f"Scale set '{ss.name}' has no virtualMachineProfile: add virtual machines through the VM API.",
            )
        check_scale_out(b, ss, target - len(current))
    op = begin_scale(b, ss, caller, note)
    failures: list[ArmError] = []
    delay = b.durations.update
    if target < len(current):
        for vm in current[target:][::-1]:
            compute.delete(b, vm, caller)
        ss.capacity, delay = target, b.durations.delete
    elif target > len(current):
        failures = [err for err in (add_instance(b, ss) for _ in range(target - len(current))) if err]
        delay = b.durations.create
    end_scale(b, ss, op, failures, delay, caller=caller, note=note)
    return op


def check_scale_out(b: Backend, ss: ScaleSet, count: int) -> None:
    """What Azure refuses at once for ``count`` new instances: SKU restriction, price, quota (by priority)."""
    probe = members.probe(b, ss)
    capacity.check_restriction(b, probe, zones=ss.zones)
    capacity.check_price(b, probe, "write")
    first = len(b.vms_in_scale_set(ss))
    spot = sum(1 for i in range(first, first + count) if members.member_priority(ss, i).priority != "Regular")
    if ss.orchestration == Orchestration.UNIFORM:
        spot = count if ss.is_spot else 0
    for is_spot, n in ((True, spot), (False, count - spot)):
        if n:
            capacity.check_quota(b, ss.subscription, ss.location, ss.size, spot=is_spot, count=n)


def begin_scale(b: Backend, ss: ScaleSet, caller: str, note: Json | None = None) -> Operation:
    op = b.begin_operation(sub=ss.subscription, location=ss.location, name="write", resource_id=ss.id)
    op.result_of = ss.key
    b.record(
        operation="Microsoft.Compute/virtualMachineScaleSets/write",
        status="Started",
        caller=caller,
        resource_id=ss.id,
        correlation_id=op.op_id,
        properties=note,
    )
    ss.provisioning = Provisioning.UPDATING
    return op


def end_scale(
    b: Backend,
    ss: ScaleSet,
    op: Operation,
    failures: list[ArmError],
    delay: float,
    *,
    caller: str,
    note: Json | None = None,
) -> None:
    """Finish the set's write after ``delay``: Failed with the first allocation error, if any."""

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
            properties=note,
        )

    b.complete(op, delay, f"scale {ss.name}", done)


def add_instance(b: Backend, ss: ScaleSet) -> ArmError | None:
    """One new instance from the model: allocated now and running after the create time, or Failed."""
    vm = members.make(b, ss)
    network.commit(b, vm)
    disks.commit(b, vm, vm.properties.setdefault("storageProfile", {}))
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


def forget(b: Backend, vm: Vm) -> None:
    """A user deletes an instance or member: the count Try & restore keeps drops with it."""
    ss = b.scale_set_of(vm)
    if ss is not None:
        ss.target = max(0, ss.target - 1)


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
