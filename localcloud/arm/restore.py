"""VMSS Try & restore: the platform brings back Spot instances a capacity recall took, until restoreTimeout.

What Microsoft documents (CONFIRMED):
- use-spot.md: "This platform-level feature will use AI to automatically try to restore evicted Azure Spot Virtual
  Machine instances inside a scale set to maintain the target instance count"; it "Attempts to restore Azure Spot
  Virtual Machines evicted due to capacity"; "Try & restore is disabled in scale sets that use Autoscale". The
  article's "Applies to" line lists Flexible and Uniform scale sets (commit 017654d).
- ``properties.spotRestorePolicy`` of the scale set (VirtualMachineScaleSetProperties in virtualMachineScaleSet.json,
  VirtualMachineScaleSet_Create_WithSpotRestorePolicy.json; not in ``virtualMachineProfile``, whatever use-spot.md's
  template shows). The SpotRestorePolicy model: ``enabled`` "Enables the Spot-Try-Restore feature
  where evicted VMSS SPOT instances will be tried to be restored opportunistically based on capacity availability
  and pricing constraints"; ``restoreTimeout`` "Timeout value expressed as an ISO 8601 time duration after which
  the platform will not try to restore the VMSS SPOT instances".
- error-codes-spot.md: ``SpotRestorationIsSupportedOnlyForAzureSpotScaleSets`` and
  ``SpotRestorationIsNotSupportedForThisAPIVersion`` (the feature needs api-version 2021-07-01 or later).

What the emulator chooses where no source says more:
- only evictions for capacity are restored (a price eviction or a simulateEviction is not); the timeout runs from
  each eviction; without ``restoreTimeout`` it is PT1H (the doc's CLI example);
- every ``durations.spot_restore_retry`` simulated seconds (60) the platform looks for capacity, as the VM itself
  would be admitted (SKU restriction, max price against the spot price, quota, a free slot). Delete policy: new
  instances from the model, up to the target count (what the user last set; an eviction does not lower it), one
  scale-set write by the platform (``Microsoft.Compute/virtualMachineScaleSets/write``, caller
  ``Microsoft.Compute``). Deallocate policy: the evicted instance is started again
  (``.../virtualMachines/start/action``, caller ``Microsoft.Compute``). Each record's ``properties.description``
  says it is Try & restore;
- an instance someone started or deleted meanwhile, or a target count someone met, ends its restore; an enabled
  autoscale setting on the set ends them all, and none start while one exists.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from localcloud.arm import autoscale, capacity, compute, errors
from localcloud.arm.backend import PLATFORM_CALLER, Backend
from localcloud.arm.models import Json, Provisioning, Restore, ScaleSet, Vm
from localcloud.arm.validation import iso_duration

DEFAULT_TIMEOUT = "PT1H"
MIN_API_VERSION = "2021-07-01"
NOTE = {"description": "Spot Try & restore: the platform restores Spot instances evicted due to capacity."}


def parse_policy(raw: Any, *, spot: bool, api_version: str) -> Json:
    """``properties.spotRestorePolicy`` as stored: ``enabled`` a boolean (the strings "true" and
    "false" are read as ARM's deserializer would), ``restoreTimeout`` an ISO 8601 duration.

    Raises:
        ArmError: 400s for a malformed policy, an old api-version, or a policy on a scale set that is not Spot.
    """
    if not isinstance(raw, dict):
        raise errors.invalid_parameter("spotRestorePolicy", "The value of 'spotRestorePolicy' must be an object.")
    if api_version and api_version < MIN_API_VERSION:
        raise errors.spot_restore_api_version()
    policy: Json = dict(raw)
    enabled = policy.get("enabled", False)
    if isinstance(enabled, str) and enabled.lower() in ("true", "false"):
        enabled = enabled.lower() == "true"
    if not isinstance(enabled, bool):
        raise errors.invalid_parameter("spotRestorePolicy.enabled", f"The value '{enabled}' is not a boolean.")
    policy["enabled"] = enabled
    timeout = policy.get("restoreTimeout")
    if timeout is not None and (not isinstance(timeout, str) or iso_duration(timeout) is None):
        raise errors.invalid_parameter(
            "spotRestorePolicy.restoreTimeout", f"The value '{timeout}' is not an ISO 8601 duration."
        )
    if enabled and not spot:
        raise errors.spot_restore_only_for_spot()
    return policy


def enabled(ss: ScaleSet) -> bool:
    policy = ss.properties.get("spotRestorePolicy")
    return ss.is_spot and bool(ss.profile) and isinstance(policy, dict) and policy.get("enabled") is True


def timeout(ss: ScaleSet) -> timedelta:
    policy = ss.properties.get("spotRestorePolicy") or {}
    return iso_duration(str(policy.get("restoreTimeout") or DEFAULT_TIMEOUT)) or timedelta(hours=1)


def on_evicted(b: Backend, vm: Vm, reason: str) -> None:
    """Called once ``vm`` is evicted: its set remembers it if Try & restore should bring it back."""
    ss = b.scale_set_of(vm)
    if ss is None or reason != "capacity" or not enabled(ss) or autoscale.targeting(b, ss.key):
        return
    now = b.now()
    keep = vm.key if vm.eviction_policy != "Delete" else None
    ss.restores.append(Restore(evicted_at=now, deadline=now + timeout(ss), vm_key=keep))
    if len(ss.restores) == 1:  # the first pending restore starts the set's loop; later ones join it
        b.schedule(b.durations.spot_restore_retry, f"spot restore {ss.name}", lambda: attempt(b, ss.key))


def attempt(b: Backend, key: str) -> None:
    """One look for capacity; looks again later while restores are pending and within their timeout."""
    ss = b.world.scale_sets.get(key)
    if ss is None:
        return
    now = b.now()
    ss.restores = [r for r in ss.restores if r.deadline > now]
    if not enabled(ss) or autoscale.targeting(b, ss.key):
        ss.restores.clear()
    if ss.restores and ss.provisioning == Provisioning.SUCCEEDED:
        _restart_deallocated(b, ss)
        _recreate_deleted(b, ss)
    if ss.restores:
        b.schedule(b.durations.spot_restore_retry, f"spot restore {ss.name}", lambda: attempt(b, key))


def _restart_deallocated(b: Backend, ss: ScaleSet) -> None:
    for item in [r for r in ss.restores if r.vm_key is not None]:
        vm = b.world.vms.get(str(item.vm_key))
        if vm is None or vm.allocated or vm.busy_op is not None:
            ss.restores.remove(item)  # deleted, or started (or being operated on) by someone else
        elif capacity.can_allocate(b, vm):
            compute.start(b, vm, PLATFORM_CALLER, note=NOTE)
            ss.restores.remove(item)


def _recreate_deleted(b: Backend, ss: ScaleSet) -> None:
    from localcloud.arm import members, scalesets  # scalesets builds on this module

    pending = [r for r in ss.restores if r.vm_key is None]
    missing = ss.target - len(b.vms_in_scale_set(ss))
    for item in pending[max(0, missing) :]:
        ss.restores.remove(item)  # the target count is met (or was lowered) without it
    wanted = min(len(pending), max(0, missing))
    if not wanted or not capacity.can_allocate(b, members.probe(b, ss)):
        return
    op = scalesets.begin_scale(b, ss, PLATFORM_CALLER, NOTE)
    added = 0
    while added < wanted and capacity.can_allocate(b, members.probe(b, ss)):
        scalesets.add_instance(b, ss)
        ss.restores.remove(pending[added])
        added += 1
    scalesets.end_scale(b, ss, op, [], b.durations.create, caller=PLATFORM_CALLER, note=NOTE)
