"""The network and disk side of a VM: inline NICs (networkInterfaceConfigurations), NIC references, OS disks.

A VM created in another region needs a subnet there; the subnets that exist are part of the scenario, and a
reference to a missing subnet, or one in another region, fails with InvalidResourceReference as in Azure.
Inline NICs are named ``<vm>-<configuration>`` and, unless their deleteOption is Detach, go with the VM.
"""

from __future__ import annotations

import uuid
from typing import Any

from localcloud.arm import errors
from localcloud.arm.backend import Backend
from localcloud.arm.models import Disk, Json, Nic, Vm


def _rg_prefix(vm: Vm, provider: str) -> str:
    return f"/subscriptions/{vm.subscription}/resourceGroups/{vm.resource_group}/providers/{provider}"


def attach(b: Backend, vm: Vm) -> None:
    """Validate the VM's network references (no state changes; :func:`commit` makes them)."""
    net: Json = vm.properties.get("networkProfile") or {}
    for config in net.get("networkInterfaceConfigurations") or []:
        for ipc in (config.get("properties") or {}).get("ipConfigurations") or []:
            ref = (ipc.get("properties") or {}).get("subnet")
            if ref is None:
                continue
            subnet = str(ref["id"])
            region = b.world.subnets.get(subnet.lower())
            if region is None or region != vm.location:
                raise errors.invalid_subnet(subnet)
    for ref in net.get("networkInterfaces") or []:
        nic = b.world.nics.get(str(ref["id"]).lower())
        if nic is None or nic.location != vm.location:
            raise errors.nic_not_found(str(ref["id"]))
        if nic.vm_key is not None and nic.vm_key != vm.key:
            raise errors.ArmError(
                400,
                "NicInUse",
                f"Network interface {nic.id} is used by existing resource {nic.vm_key}.",
            )


def commit(b: Backend, vm: Vm) -> None:
    net: Json = vm.properties.setdefault("networkProfile", {})
    for config in net.get("networkInterfaceConfigurations") or []:
        props: dict[str, Any] = config.get("properties") or {}
        first = (props["ipConfigurations"][0].get("properties") or {}).get("subnet") or {}
        subnet = str(first.get("id", ""))
        name = f"{vm.name}-{config['name']}"
        nic_id = f"{_rg_prefix(vm, 'Microsoft.Network')}/networkInterfaces/{name}"
        keep = str(props.get("deleteOption", "Delete")).lower() == "detach"
        b.world.nics[nic_id.lower()] = Nic(nic_id, name, vm.location, subnet, vm.key, delete_with_vm=not keep)
        vm.nics.append(nic_id.lower())
    for ref in net.get("networkInterfaces") or []:
        nic = b.world.nics[str(ref["id"]).lower()]
        nic.vm_key = vm.key
        vm.nics.append(nic.id.lower())
    _create_os_disk(b, vm)


def _create_os_disk(b: Backend, vm: Vm) -> None:
    storage: Json = vm.properties.setdefault("storageProfile", {})
    os_disk: Json = storage.setdefault("osDisk", {})
    name = str(os_disk.get("name") or f"{vm.name}_OsDisk_1_{uuid.uuid4().hex}")
    os_disk["name"] = name
    disk_id = f"{_rg_prefix(vm, 'Microsoft.Compute')}/disks/{name}"
    managed = os_disk.setdefault("managedDisk", {})
    if isinstance(managed, dict):
        managed["id"] = disk_id
    os_disk.setdefault("createOption", "FromImage")
    # A Spot VM with the Delete eviction policy loses its disks on eviction (spot-vms.md); otherwise the disk
    # follows its deleteOption.
    delete = str(os_disk.get("deleteOption", "Detach")).lower() == "delete" or vm.eviction_policy == "Delete"
    b.world.disks[disk_id.lower()] = Disk(disk_id, name, vm.key, delete_with_vm=delete)
    vm.disks.append(disk_id.lower())


def detach(b: Backend, vm: Vm) -> None:
    for key in list(vm.nics):
        nic = b.world.nics.get(key)
        if nic is None:
            continue
        if nic.delete_with_vm:
            del b.world.nics[key]
        else:
            nic.vm_key = None
