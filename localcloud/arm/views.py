"""Resources rendered as Azure's JSON (shapes from reference/azure-specs compute-2024-11-01)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from localcloud.arm.models import Json, Operation, Orchestration, Power, Provisioning, ScaleSet, Vm


def iso(when: datetime | None) -> str | None:
    """UTC with seven fractional digits and ``Z``, the way ARM writes times (``2020-04-24T21:02:04.2556154Z`` in
    VirtualMachine_Get_InstanceView.json): the simulated time to the microsecond, in one fixed shape."""
    if when is None:
        return None
    utc = when.astimezone(UTC).replace(tzinfo=None) if when.utcoffset() is not None else when
    return utc.isoformat(timespec="microseconds") + "0Z"


def _copy(obj: Json) -> Json:
    copied: Json = json.loads(json.dumps(obj))
    return copied


def statuses(vm: Vm) -> list[Json]:
    """ProvisioningState/<state> then PowerState/<state>, as in VirtualMachine_Get_InstanceView.json."""
    out: list[Json] = []
    state = vm.provisioning
    if state == Provisioning.FAILED and vm.failure:
        out.append(
            {
                "code": f"ProvisioningState/failed/{vm.failure.get('code', 'Unknown')}",
                "level": "Error",
                "displayStatus": "Provisioning failed",
                "message": vm.failure.get("message", ""),
                "time": iso(vm.status_time),
            }
        )
    else:
        display = {
            "Succeeded": "Provisioning succeeded",
            "Creating": "Creating",
            "Updating": "Updating",
            "Deleting": "Deleting",
        }
        entry: Json = {
            "code": f"ProvisioningState/{state.value.lower()}",
            "level": "Info",
            "displayStatus": display.get(state.value, state.value),
        }
        if vm.status_time is not None:
            entry["time"] = iso(vm.status_time)
        out.append(entry)
    if state != Provisioning.CREATING or vm.power != Power.STARTING:
        out.append({"code": f"PowerState/{vm.power.value}", "level": "Info", "displayStatus": vm.power.display})
    return out


def instance_view(vm: Vm) -> Json:
    view: Json = {
        "computerName": (vm.properties.get("osProfile") or {}).get("computerName", vm.name),
        "osName": "ubuntu",
        "osVersion": "22.04",
        "vmAgent": {
            "vmAgentVersion": "2.10.0.8",
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Ready" if vm.power == Power.RUNNING else "Not Ready",
                    "message": "Guest Agent is running"
                    if vm.power == Power.RUNNING
                    else "VM status blob is found but not yet populated.",
                }
            ],
        },
        "disks": [
            {
                "name": (vm.properties.get("storageProfile") or {}).get("osDisk", {}).get("name", ""),
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                    }
                ],
            }
        ],
        "statuses": statuses(vm),
    }
    if vm.health is not None and vm.power == Power.RUNNING:
        # The Application Health extension reports through vmHealth (VirtualMachineHealthStatus).
        view["vmHealth"] = {
            "status": {"code": f"HealthState/{vm.health}", "level": "Info", "displayStatus": vm.health.capitalize()}
        }
    if vm.scale_set is None:
        view["hyperVGeneration"] = "V2"
    return view


def vm(v: Vm, *, expand: bool = False) -> Json:
    props = _copy(v.properties)
    props["hardwareProfile"] = {**(props.get("hardwareProfile") or {}), "vmSize": v.size}
    props["provisioningState"] = v.provisioning.value
    props["vmId"] = v.vm_id
    props["timeCreated"] = iso(v.time_created)
    props["priority"] = v.priority
    if v.eviction_policy:
        props["evictionPolicy"] = v.eviction_policy
    if v.max_price is not None:
        props["billingProfile"] = {"maxPrice": v.max_price}
    if expand:
        props["instanceView"] = instance_view(v)
    body: Json = {
        "id": v.id,
        "name": v.name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": v.location,
        "tags": v.tags,
        "properties": props,
    }
    if v.zones:
        body["zones"] = v.zones
    return body


def vm_status(v: Vm) -> Json:
    """One entry of ListAll with statusOnly=true: the VM's identity and its instance view, without its model."""
    body: Json = {
        "id": v.id,
        "name": v.name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": v.location,
        "properties": {"instanceView": instance_view(v)},
    }
    return body


def vmss_vm(v: Vm, ss: ScaleSet, *, expand: bool = False) -> Json:
    props = _copy(v.properties)
    for key in (
        "priority",
        "evictionPolicy",
        "billingProfile",
        "scheduledEventsProfile",
        "capacityReservation",
    ):
        props.pop(key, None)  # scale-set level settings, not VirtualMachineScaleSetVMProperties
    props["hardwareProfile"] = {"vmSize": v.size}
    props.update(
        latestModelApplied=True,
        vmId=v.vm_id,
        provisioningState=v.provisioning.value,
        timeCreated=iso(v.time_created),
    )
    if expand:
        props["instanceView"] = instance_view(v)
    body: Json = {
        "id": v.id,
        "name": v.name,
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": v.location,
        "tags": v.tags,
        "instanceId": v.instance_id,
        "sku": {"name": ss.size, "tier": "Standard"},
        "properties": props,
    }
    if v.zones:
        body["zones"] = v.zones
    return body


def vmss(ss: ScaleSet) -> Json:
    props = _copy(ss.properties)
    flexible = ss.orchestration == Orchestration.FLEXIBLE
    if not flexible:  # Uniform-only settings (VirtualMachineScaleSet_Create_WithPriorityMixPolicy.json has none)
        props.setdefault("upgradePolicy", {"mode": "Manual"})
        props.setdefault("singlePlacementGroup", False)
        props["overprovision"] = False
    props["orchestrationMode"] = ss.orchestration.value
    props.update(provisioningState=ss.provisioning.value, uniqueId=ss.unique_id, timeCreated=iso(ss.time_created))
    if ss.profile:
        props["virtualMachineProfile"] = _profile(ss)
    body: Json = {
        "id": ss.id,
        "name": ss.name,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": ss.location,
        "tags": ss.tags,
        "properties": props,
    }
    if ss.size:  # a Flexible set without a profile has no model, so no SKU (a choice: no doc shows one)
        body["sku"] = {"name": ss.size, "tier": "Standard", "capacity": ss.capacity}
    if ss.zones:
        body["zones"] = ss.zones
    return body


def _profile(ss: ScaleSet) -> Json:
    profile = _copy(ss.profile)
    profile["priority"] = ss.priority
    if ss.eviction_policy:
        profile["evictionPolicy"] = ss.eviction_policy
    if ss.max_price is not None:
        profile["billingProfile"] = {"maxPrice": ss.max_price}
    return profile


def operation(op: Operation) -> Json:
    """The async-operation status body (async-operations.md): error present when Failed."""
    body: Json = {"name": op.op_id, "status": op.status, "startTime": iso(op.start_time)}
    if op.end_time is not None:
        body["endTime"] = iso(op.end_time)
    if op.error is not None:
        body["error"] = op.error
    return body
