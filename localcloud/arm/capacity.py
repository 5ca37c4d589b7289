"""Spot capacity, quota and price checks: who may be allocated where, and who must go when capacity is recalled.

Capacity is a number of spot slots per (region, zone, size); a zoneless region has one pool, zone "". Regular
(pay-as-you-go) VMs are not limited by spot capacity here: the emulator models the spot market, not Azure's
whole fleet. Quota follows Azure: spot VMs count only against ``lowPriorityCores``; regular VMs against their
family and the regional ``cores`` total; deallocated VMs hold no quota. A size restricted in a zone is never
placed there; an empty pool answers AllocationFailed (ZonalAllocationFailed for a VM pinned to a zone), or the
Overconstrained variant when the scenario gave the pool ``"code": "OverconstrainedAllocationRequest"`` (a choice:
no organic cause of that error is modelled).
"""

from __future__ import annotations

from localcloud.arm import catalog, errors
from localcloud.arm.backend import Backend
from localcloud.arm.errors import ArmError
from localcloud.arm.models import AllocationFault, Vm


def used(backend: Backend, region: str, zone: str, size: str) -> int:
    lsize = size.lower()
    return sum(
        1
        for vm in backend.world.vms.values()
        if vm.is_spot and vm.slot == zone and vm.location == region and vm.size.lower() == lsize
    )


def free(backend: Backend, region: str, zone: str, size: str) -> int:
    return backend.capacity(region, zone, size) - used(backend, region, zone, size)


def free_in_region(backend: Backend, region: str, size: str) -> int:
    return sum(max(0, free(backend, region, z, size)) for z in backend.slots_of(region))


def cores_in_use(backend: Backend, sub: str, region: str, *, spot: bool, family: str | None = None) -> int:
    total = 0
    for vm in backend.world.vms.values():
        if vm.subscription != sub or vm.location != region or not vm.allocated or vm.is_spot != spot:
            continue
        spec = catalog.size_of(vm.size)
        if spec is None or (family is not None and spec.family != family):
            continue
        total += spec.vcpus
    return total


def check_admission(backend: Backend, vm: Vm, operation: str) -> None:
    """Synchronous checks Azure makes before it accepts a create or start: SKU restriction, price, quota.

    Raises:
        ArmError: SkuNotAvailable, SpotPriceGreaterThanProvidedMaxPrice or OperationNotAllowed (quota).
    """
    check_restriction(backend, vm)
    check_price(backend, vm, operation)
    check_quota(backend, vm.subscription, vm.location, vm.size, spot=vm.is_spot, count=1)


def check_restriction(backend: Backend, vm: Vm, *, zones: list[str] | None = None) -> None:
    """SkuNotAvailable (error-codes-spot.md) for a size restricted in the region, in every zone the VM may use, or
    (``zones``: a scale set's) in any zone it names."""
    region, lsize, restricted = vm.location, vm.size.lower(), backend.world.restrictions
    open_zones = [z for z in (vm.zones or backend.zones_of(region)) if (region, z, lsize) not in restricted]
    blocked = (region, "", lsize) in restricted or (bool(backend.zones_of(region)) and not open_zones)
    if blocked or any((region, z, lsize) in restricted for z in zones or []):
        raise errors.sku_not_available(vm.size, region, vm.subscription)


def check_price(backend: Backend, vm: Vm, operation: str) -> None:
    if vm.is_spot and vm.max_price is not None and vm.max_price != -1:
        price = backend.price(vm.location, vm.size)
        if vm.max_price < price:
            raise errors.spot_price_too_high(operation, vm.max_price, price, vm.size)


def check_quota(backend: Backend, sub: str, region: str, size: str, *, spot: bool, count: int) -> None:
    """Quota for ``count`` more VMs of ``size``: Spot draws only on lowPriorityCores, Regular on its family and
    the regional total (spot-vms.md: separate quota pools)."""
    spec = catalog.size_of(size)
    if spec is None:
        return
    if spot:
        checks = [("lowPriorityCores", "LowPriorityCores", cores_in_use(backend, sub, region, spot=True))]
    else:
        checks = [
            (spec.family, f"{spec.family} Cores", cores_in_use(backend, sub, region, spot=False, family=spec.family)),
            ("cores", "Total Regional Cores", cores_in_use(backend, sub, region, spot=False)),
        ]
    required = spec.vcpus * count
    for name, label, in_use in checks:
        limit = backend.quota(sub, region, name)
        if in_use + required > limit:
            raise errors.quota_exceeded(family=label, location=region, limit=limit, usage=in_use, required=required)


def pick_slot(backend: Backend, vm: Vm) -> str:
    """The capacity pool a VM lands in (never a zone where its size is restricted), or the allocation error.

    Raises:
        ArmError: AllocationFailed (regional) or ZonalAllocationFailed (pinned to a zone), or the Overconstrained
        variant when the scenario gave the empty pool that ``code``.
    """
    region, lsize = vm.location, vm.size.lower()
    if vm.zones:
        candidates = [z for z in vm.zones if z in backend.slots_of(region)] or list(vm.zones)
    else:
        candidates = list(backend.slots_of(region))
    candidates = [z for z in candidates if (region, z, lsize) not in backend.world.restrictions] or candidates
    if not vm.is_spot:
        return candidates[0]
    best = max(candidates, key=lambda z: free(backend, region, z, vm.size))
    if free(backend, region, best, vm.size) <= 0:
        code = backend.world.empty_codes.get((region, best, lsize), "AllocationFailed")
        if code.startswith("Overconstrained"):
            raise errors.overconstrained(zonal=bool(vm.zones))
        raise errors.allocation_failed(zonal=bool(vm.zones))
    return best


def can_allocate(backend: Backend, vm: Vm) -> bool:
    """Whether a start or create of ``vm`` would be admitted and find a slot now (no side effects)."""
    try:
        check_admission(backend, vm, "start")
        pick_slot(backend, vm)
    except ArmError:
        return False
    return True


def fault_error(fault: AllocationFault, vm: Vm) -> ArmError:
    zonal = bool(vm.zones)
    match fault.code:
        case "AllocationFailed" | "ZonalAllocationFailed":
            return errors.allocation_failed(zonal=fault.code == "ZonalAllocationFailed" or zonal)
        case "OverconstrainedAllocationRequest" | "OverconstrainedZonalAllocationRequest":
            return errors.overconstrained(zonal=fault.code == "OverconstrainedZonalAllocationRequest")
        case "SkuNotAvailable":
            return errors.sku_not_available(vm.size, vm.location, vm.subscription)
        case _:
            return ArmError(409, fault.code, fault.message or f"Injected allocation failure {fault.code}.")


def over_capacity(backend: Backend, region: str, zone: str, size: str) -> list[Vm]:
    """Allocated spot VMs beyond a pool's capacity: the ones a recall must evict (newest first)."""
    lsize = size.lower()
    holders = [
        vm
        for vm in backend.world.vms.values()
        if vm.is_spot and vm.slot == zone and vm.location == region and vm.size.lower() == lsize
    ]
    # VMs already under a Preempt notice still hold their slot until they go: do not pick more for them.
    excess = -free(backend, region, zone, size) - sum(1 for vm in holders if vm.eviction_due is not None)
    if excess <= 0:
        return []
    holders = [vm for vm in holders if vm.eviction_due is None]
    holders.sort(key=lambda v: (v.time_created, v.name), reverse=True)
    return holders[:excess]
