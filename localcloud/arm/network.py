"""The network side of a VM: inline NICs (networkInterfaceConfigurations) and NIC references.

A VM created in another region needs a subnet there; the subnets that exist are part of the scenario, and a
reference to a missing subnet, or one in another region, fails with InvalidResourceReference as in Azure.
Inline NICs are named ``<vm>-<configuration>`` (a choice). A NIC, inline or referenced (networkInterfaces), stays
when the VM goes unless its ``deleteOption`` is ``Delete``: "By default, disks, NICs, and Public IPs associated
with a VM are persisted when the VM is deleted" (delete.md, CONFIRMED). A Flexible scale set's VMs get
``deleteOption: Delete`` by default (same doc; ``members``); a Uniform instance's NICs are the set's and go with
the instance (a choice). The VM's model lists the NICs it made under ``networkInterfaces`` as well,
as VirtualMachine_Create_WithNetworkInterfaceConfiguration.json's responses do (CONFIRMED; keeping the
configurations next to them is a choice).
"""

from __future__ import annotations

from typing import Any

from localcloud.arm import errors
from localcloud.arm.backend import Backend
from localcloud.arm.models import Json, Nic, Vm


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
    """Make the VM's inline NICs and take its referenced ones; list the made ones under networkInterfaces."""
    net: Json = vm.properties.setdefault("networkProfile", {})
    made: list[Json] = []
    for config in net.get("networkInterfaceConfigurations") or []:
        props: dict[str, Any] = config.get("properties") or {}
        first = (props["ipConfigurations"][0].get("properties") or {}).get("subnet") or {}
        subnet = str(first.get("id", ""))
        name = f"{vm.name}-{config['name']}"
        nic_id = f"{_rg_prefix(vm, 'Microsoft.Network')}/networkInterfaces/{name}"
        keep = str(props.get("deleteOption", "Detach")).lower() == "detach"
        ipc_name = str(props["ipConfigurations"][0].get("name") or "ipconfig1")
        b.world.nics[nic_id.lower()] = Nic(nic_id, name, vm.location, subnet, vm.key, not keep, ipc_name)
        vm.nics.append(nic_id.lower())
        made.append({"id": nic_id, "properties": {"primary": bool(props.get("primary", not made))}})
    for ref in net.get("networkInterfaces") or []:
        nic = b.world.nics[str(ref["id"]).lower()]
        nic.vm_key = vm.key
        nic.delete_with_vm = str((ref.get("properties") or {}).get("deleteOption", "Detach")).lower() == "delete"
        vm.nics.append(nic.id.lower())
    if made:
        net["networkInterfaces"] = [*(net.get("networkInterfaces") or []), *made]


def detach(b: Backend, vm: Vm) -> None:
    """The VM is gone: its NICs go with it or stay, as their deleteOption says."""
    for key in list(vm.nics):
        nic = b.world.nics.get(key)
        if nic is None:
            continue
        if nic.delete_with_vm or vm.scale_set is not None:
            del b.world.nics[key]
        else:
            nic.vm_key = None


def update(b: Backend, vm: Vm, new: Json) -> Json:
    """The networkProfile a PUT or PATCH leaves: the NICs stay as made; only their deleteOption changes (an existing
    VM's delete behaviour can be changed, delete.md). NICs added or removed by an update are NOT modelled."""
    stored: Json = vm.properties.get("networkProfile") or {}
    configs = {str(c.get("name")): c for c in stored.get("networkInterfaceConfigurations") or []}
    for config in new.get("networkInterfaceConfigurations") or []:
        option = (config.get("properties") or {}).get("deleteOption") if isinstance(config, dict) else None
        kept = configs.get(str(config.get("name"))) if isinstance(config, dict) else None
        if option is not None and kept is not None:
            kept.setdefault("properties", {})["deleteOption"] = option
            _set_delete(b, f"{_rg_prefix(vm, 'Microsoft.Network')}/networkInterfaces/{vm.name}-{kept['name']}", option)
    refs = {str(r.get("id", "")).lower(): r for r in stored.get("networkInterfaces") or []}
    for ref in new.get("networkInterfaces") or []:
        option = (ref.get("properties") or {}).get("deleteOption") if isinstance(ref, dict) else None
        kept = refs.get(str(ref.get("id", "")).lower()) if isinstance(ref, dict) else None
        if option is not None and kept is not None:
            kept.setdefault("properties", {})["deleteOption"] = option
            _set_delete(b, str(kept["id"]), option)
    return stored


def _set_delete(b: Backend, nic_id: str, option: str) -> None:
    nic = b.world.nics.get(nic_id.lower())
    if nic is not None:
        nic.delete_with_vm = option.lower() == "delete"
