"""The VMs a scale set makes from its ``virtualMachineProfile``: Uniform instances and Flexible members.

A Uniform instance is a :class:`Vm` under the set's id, numbered by ``next_instance`` and spread over the set's
zones in turn. A Flexible member is a standalone VM named ``<set>_<8 hex>`` whose
``properties.virtualMachineScaleSet.id`` names the set, Spot or Regular as ``priorityMixPolicy`` says
(spot-priority-mix.md). ``probe`` is the VM the set would make next, for checks that must not change anything.
"""

from __future__ import annotations

import json
import math

from localcloud.arm.backend import Backend
from localcloud.arm.models import Json, Orchestration, ScaleSet, Vm
from localcloud.arm.validation import SpotSettings

REGULAR = SpotSettings("Regular", None, None)


def make(b: Backend, ss: ScaleSet) -> Vm:
    """The next VM of ``ss`` (not yet in the world)."""
    if ss.orchestration == Orchestration.UNIFORM:
        vm = uniform(b, ss, ss.next_instance)
        ss.next_instance += 1
        return vm
    return flexible(b, ss, len(b.vms_in_scale_set(ss)), f"{ss.name}_{b.rng.getrandbits(32):08x}")


def probe(b: Backend, ss: ScaleSet) -> Vm:
    """The VM ``make`` would return next, without taking its number or its name."""
    if ss.orchestration == Orchestration.UNIFORM:
        return uniform(b, ss, ss.next_instance)
    return flexible(b, ss, len(b.vms_in_scale_set(ss)), f"{ss.name}_probe")


def uniform(b: Backend, ss: ScaleSet, number: int) -> Vm:
    iid = str(number)
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
        zones=[ss.zones[number % len(ss.zones)]] if ss.zones else [],
        tags=dict(ss.tags),
        properties=props,
        time_created=b.now(),
        scale_set=ss.name,
        instance_id=iid,
    )


def flexible(b: Backend, ss: ScaleSet, index: int, name: str) -> Vm:
    """A standalone VM made from the set's profile, named ``<set>_<8 hex>`` as Flexible sets name them."""
    props: Json = json.loads(json.dumps(ss.profile))
    for key in ("priority", "evictionPolicy", "billingProfile"):
        props.pop(key, None)  # the set's settings; the VM's own come from the priority mix below
    os_profile = props.get("osProfile")
    if isinstance(os_profile, dict):
        os_profile["computerName"] = f"{os_profile.pop('computerNamePrefix', ss.name)}{name[-8:]}"
    props["hardwareProfile"] = {"vmSize": ss.size}
    props["virtualMachineScaleSet"] = {"id": ss.id}
    _delete_by_default(props)
    spot = member_priority(ss, index)
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


def member_priority(ss: ScaleSet, index: int) -> SpotSettings:
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
    return REGULAR if regular else spot


def _delete_by_default(props: Json) -> None:
    """delete.md (CONFIRMED): "For Flexible virtual machine scale sets the disks, NICs, and PublicIPs have
    ``deleteOption`` set to ``Delete`` by default"."""
    storage = props.setdefault("storageProfile", {})
    if isinstance(storage, dict):
        os_disk = storage.setdefault("osDisk", {})
        for disk in [os_disk, *(storage.get("dataDisks") or [])]:
            if isinstance(disk, dict):
                disk.setdefault("deleteOption", "Delete")
    network = props.get("networkProfile")
    for config in (network.get("networkInterfaceConfigurations") or []) if isinstance(network, dict) else []:
        if isinstance(config, dict):
            config.setdefault("properties", {}).setdefault("deleteOption", "Delete")
