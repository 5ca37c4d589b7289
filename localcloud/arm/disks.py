"""A VM's managed disks: the OS disk and ``storageProfile.dataDisks``, created with the VM or attached to it.

Create options: ``FromImage`` (the OS disk, or an image's data disk) and ``Empty`` (a data disk of ``diskSizeGB``)
make a new Microsoft.Compute/disks resource, named as given or ``<vm>_OsDisk_1_<hex>`` / ``<vm>_disk<lun+2>_<hex>``
(the data-disk pattern is NOT CONFIRMED); ``Attach`` takes an existing disk by ``managedDisk.id`` that no VM holds,
in the VM's region. A new disk whose name is taken fails with 409 ``ConflictingUserInput`` "Disk X already exists
in resource group RG. Only CreateOption.Attach is supported." (OBSERVED in terraform and PowerShell reports).

When the VM goes (computeRPCommon.json: "The default value is set to **Detach**" for OS and data disks): a disk
whose ``deleteOption`` is ``Delete`` is deleted, any other is detached and stays (``managedBy`` empty). A Spot VM
evicted under the Delete policy loses all its disks: "The evicted VMs are deleted together with their underlying
disks" (use-spot.md, spot-vms.md; CONFIRMED). A Flexible set's VMs default to Delete (delete.md; ``members``); a
Uniform instance's disks go with the instance (a choice). Nothing here serves the Disks API itself: disks are seen in the VM's
model, in Resource Graph (``microsoft.compute/disks``) and in the control API's state.
"""

from __future__ import annotations

import uuid
from typing import Any

from localcloud.arm import errors
from localcloud.arm.backend import Backend
from localcloud.arm.models import Disk, Json, Vm
from localcloud.arm.validation import optional_object
from localcloud.arm.views import iso

CREATE_OPTIONS = ("FromImage", "Empty", "Attach")
MAX_LUN = 63


def disk_id(vm: Vm, name: str) -> str:
    return (
        f"/subscriptions/{vm.subscription}/resourceGroups/{vm.resource_group}/providers/Microsoft.Compute/disks/{name}"
    )


def check(b: Backend, vm: Vm, storage: Json) -> None:
    """Validate the disks ``storage`` asks for (no state changes).

    Raises:
        ArmError: 400 for a malformed data disk, 409 ConflictingUserInput for a name in use, 404/409 for a disk to
        attach that is not there or is held by another VM.
    """
    held = set(vm.disks)  # what the VM holds already (an update) is not "in use"
    os_disk = optional_object(storage.get("osDisk"), "storageProfile.osDisk")
    _check_one(b, vm, os_disk, "osDisk", held)
    luns: set[int] = set()
    data = storage.get("dataDisks") or []
    if not isinstance(data, list):
        raise errors.invalid_parameter("storageProfile.dataDisks", "dataDisks must be an array.")
    for i, raw in enumerate(data):
        where = f"storageProfile.dataDisks[{i}]"
        disk = optional_object(raw, where)
        lun = disk.get("lun")
        if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= MAX_LUN or lun in luns:
            raise errors.invalid_parameter(f"{where}.lun", f"Each data disk needs a distinct lun from 0 to {MAX_LUN}.")
        luns.add(lun)
        if disk.get("createOption") == "Empty" and not isinstance(disk.get("diskSizeGB"), int):
            raise errors.missing_property(f"{where}.diskSizeGB")
        _check_one(b, vm, disk, where, held)


def _check_one(b: Backend, vm: Vm, disk: Json, where: str, held: set[str]) -> None:
    option = disk.get("createOption", "FromImage")
    if option not in CREATE_OPTIONS:
        raise errors.invalid_parameter(f"{where}.createOption", f"The value '{option}' of createOption is not valid.")
    managed = optional_object(disk.get("managedDisk"), f"{where}.managedDisk")
    if option == "Attach":
        _check_attach(b, vm, str(managed.get("id") or ""), where, held)
        return
    name = disk.get("name")
    if isinstance(name, str) and name:
        existing = b.world.disks.get(disk_id(vm, name).lower())
        if existing is not None and existing.id.lower() not in held:
            raise errors.disk_exists(name, vm.resource_group, existing.id)


def _check_attach(b: Backend, vm: Vm, ref: str, where: str, held: set[str]) -> None:
    if not ref:
        raise errors.missing_property(f"{where}.managedDisk.id")
    disk = b.world.disks.get(ref.lower())
    if disk is None or disk.location != vm.location:
        rg = ref.split("/")[4] if ref.count("/") >= 4 else vm.resource_group
        raise errors.resource_not_found("disks", ref.rsplit("/", 1)[-1], rg)
    if disk.vm_key is not None and disk.vm_key != vm.key and ref.lower() not in held:
        raise errors.disk_in_use(disk.id, disk.vm_key)


def check_profile(storage: Json, where: str) -> None:
    """A scale set's ``virtualMachineProfile.storageProfile``: data disks made by the set (Empty or FromImage)."""
    luns: set[int] = set()
    data = storage.get("dataDisks") or []
    for i, raw in enumerate(data if isinstance(data, list) else [None]):
        disk = raw if isinstance(raw, dict) else {}
        lun, option = disk.get("lun"), disk.get("createOption", "Empty")
        if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= MAX_LUN or lun in luns:
            lun = None
        if lun is None or option not in ("Empty", "FromImage"):
            raise errors.invalid_parameter(
                f"{where}.dataDisks[{i}]", "Each data disk needs a distinct lun and createOption Empty or FromImage."
            )
        luns.add(lun)


def commit(b: Backend, vm: Vm, storage: Json, *, only_luns: set[int] | None = None) -> None:
    """Create or attach the disks of ``storage`` (already checked) and write their names and ids into it."""
    if only_luns is None:
        if storage.get("osDisk") is None:  # null is absent (check() let it through): the OS disk from the image
            storage["osDisk"] = {}
        _make(b, vm, storage["osDisk"], None)
    for disk in storage.get("dataDisks") or []:
        if only_luns is None or disk["lun"] in only_luns:
            _make(b, vm, disk, int(disk["lun"]))


def _make(b: Backend, vm: Vm, spec: Json, lun: int | None) -> None:
    option = str(spec.setdefault("createOption", "FromImage"))
    spec.setdefault("deleteOption", "Detach")
    managed = spec.setdefault("managedDisk", {})
    if option == "Attach":
        disk = b.world.disks[str(managed["id"]).lower()]
        disk.vm_key, disk.lun = vm.key, lun
        spec["name"] = disk.name
    else:
        default = (
            f"{vm.name}_OsDisk_1_{uuid.uuid4().hex}" if lun is None else f"{vm.name}_disk{lun + 2}_{uuid.uuid4().hex}"
        )
        name = str(spec.get("name") or default)
        disk = Disk(
            disk_id(vm, name),
            name,
            vm.key,
            False,
            location=vm.location,
            size_gb=int(spec.get("diskSizeGB") or 30),
            sku=str(managed.get("storageAccountType") or "Premium_LRS"),
            zones=list(vm.zones),
            lun=lun,
            create_option=option,
            time_created=b.now(),
        )
        b.world.disks[disk.id.lower()] = disk
        spec["name"] = name
    disk.delete_with_vm = str(spec["deleteOption"]).lower() == "delete"
    managed["id"] = disk.id
    if disk.id.lower() not in vm.disks:
        vm.disks.append(disk.id.lower())


def release(b: Backend, vm: Vm, *, evicted: bool = False) -> None:
    """The VM is gone: delete the disks that go with it (all of them after a Delete-policy eviction)."""
    for key in list(vm.disks):
        disk = b.world.disks.get(key)
        if disk is None or disk.vm_key != vm.key:
            continue
        if disk.delete_with_vm or vm.scale_set is not None or (evicted and vm.eviction_policy == "Delete"):
            del b.world.disks[key]
        else:
            disk.vm_key, disk.lun = None, None
    vm.disks.clear()


def update(b: Backend, vm: Vm, storage: Json) -> Json:
    """The storageProfile a PUT or PATCH leaves: the OS disk keeps its name and disk (a new name is
    PropertyChangeNotAllowed, the shape of "Changing property 'osDisk.createOption' is not allowed", OBSERVED in
    Azure/azure-powershell#7621); data disks are matched by lun: new luns are created or attached, luns no longer
    named are detached (kept), the others keep their disk and take the new deleteOption."""
    stored: Json = vm.properties.get("storageProfile") or {}
    old_os: Json = stored.get("osDisk") or {}
    new_os: Json = dict(storage.get("osDisk") or {})
    if new_os.get("name") not in (None, old_os.get("name")):
        raise errors.property_change_not_allowed("osDisk.name")
    merged_os = {**old_os, **new_os, "name": old_os.get("name"), "managedDisk": _managed(old_os, new_os)}
    check(b, vm, storage)  # the VM's own disks are not "in use"
    old_data = {int(d["lun"]): d for d in stored.get("dataDisks") or []}
    data: list[Json] = []
    for disk in storage.get("dataDisks") or []:
        old = old_data.get(disk.get("lun"))
        data.append({**old, **disk, "name": old["name"], "managedDisk": _managed(old, disk)} if old else dict(disk))
    result: Json = {**stored, **storage, "osDisk": merged_os, "dataDisks": data}
    new_luns = {int(d["lun"]) for d in data} - set(old_data)
    _detach_luns(b, vm, set(old_data) - {int(d["lun"]) for d in data})
    commit(b, vm, result, only_luns=new_luns)
    for spec in [merged_os, *data]:
        _set_delete_option(b, spec)
    return result


def _managed(old: Json, new: Json) -> Json:
    return {
        **(old.get("managedDisk") or {}),
        **(new.get("managedDisk") or {}),
        "id": (old.get("managedDisk") or {}).get("id"),
    }


def _set_delete_option(b: Backend, spec: Json) -> None:
    disk = b.world.disks.get(str((spec.get("managedDisk") or {}).get("id") or "").lower())
    if disk is not None:
        disk.delete_with_vm = str(spec.get("deleteOption", "Detach")).lower() == "delete"


def _detach_luns(b: Backend, vm: Vm, luns: set[int]) -> None:
    for key in list(vm.disks):
        disk = b.world.disks.get(key)
        if disk is not None and disk.lun in luns:
            disk.vm_key, disk.lun = None, None
            vm.disks.remove(key)


def view(disk: Disk, vm_id: str | None) -> Json:
    """A disk as Resource Graph lists it (microsoft.compute/disks; properties from the Disk model)."""
    props: dict[str, Any] = {
        "diskSizeGB": disk.size_gb,
        "diskState": "Attached" if vm_id else "Unattached",
        "provisioningState": "Succeeded",
        "creationData": {"createOption": "FromImage" if disk.create_option == "FromImage" else "Empty"},
        "timeCreated": iso(disk.time_created),
    }
    return {"id": disk.id, "name": disk.name, "managedBy": vm_id or "", "sku": {"name": disk.sku}, "properties": props}
