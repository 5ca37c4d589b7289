"""A replacement VM: the fleet profile's template, plus what respot knew of the evicted member, on one offering.
Pure: the ARM request body, and a name that a retried or replayed create can only ever repeat.

What respot knows of a member (:class:`Member`) is kept outside the VM, in durable state that outlives its
deletion (the inventory): name, size, region, zone, tags, priority and data-disk layout.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.domain.fleet import Disk, Profile
from orchestrator.domain.models import InvalidInput, VmFacts, VmRef
from orchestrator.domain.placement import Offering

NETWORK_API_VERSION = (
    "2022-11-01"  # inline NICs (networkInterfaceConfigurations) need one (VirtualMachines_CreateOrUpdate)
)
_SUFFIX = re.compile(r"-r[0-9a-f]{5}$")
REPLACES_TAG, RECOVERY_TAG, FALLBACK_TAG = "respot:replaces", "respot:recovery", "respot:fallback"


@dataclass(frozen=True)
class DataDisk:
    lun: int
    size_gb: int
    type: str = "Premium_LRS"


@dataclass(frozen=True)
class Member:
    """What respot knew of a fleet member (a VM or a Flexible set's VM) before it was evicted."""

    vm_id: str
    name: str
    fleet: str
    size: str
    region: str
    zone: str = ""
    priority: str = "Spot"
    eviction_policy: str = "Delete"
    tags: dict[str, str] = field(default_factory=dict)
    data_disks: tuple[DataDisk, ...] = ()
    max_price: float = -1
    scale_set: str = ""  # the Flexible scale set it belongs to: its capacity is restored instead
    seen_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Member:
        """Raises InvalidInput unless ``data`` is a member as :meth:`to_dict` writes it."""
        if not isinstance(data, dict):
            raise InvalidInput("a member must be an object")
        try:
            disks = tuple(DataDisk(**d) for d in data.get("data_disks") or ())
            fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "data_disks"}
            member = cls(**fields, data_disks=disks)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"member: {exc}") from None
        if not all(isinstance(getattr(member, k), str) for k in ("vm_id", "name", "fleet", "size", "region")):
            raise InvalidInput("member: ids, names, size and region are strings")
        if not isinstance(member.tags, dict) or not isinstance(member.max_price, int | float):
            raise InvalidInput("member: tags are an object and max_price a number")
        if not member.name or len(member.name) > 64:
            raise InvalidInput("member: a VM name is 1-64 characters")
        return member

    @classmethod
    def from_facts(cls, vm: VmRef, facts: VmFacts, fleet: str, seen_at: str) -> Member:
        """What to keep of a live member read from ARM (size, place, tags, disks, priority)."""
        return cls(
            vm_id=vm.id,
            name=vm.name,
            fleet=fleet,
            size=facts.size or "",
            region=facts.location or "",
            zone=facts.zone,
            priority="Spot" if facts.is_spot else "Regular",
            eviction_policy=facts.eviction_policy or "",
            tags=dict(facts.tags),
            data_disks=tuple(DataDisk(int(d["lun"]), int(d["size_gb"]), str(d["type"])) for d in facts.data_disks),
            max_price=facts.max_price if facts.max_price is not None else -1,
            scale_set=facts.scale_set_name,
            seen_at=seen_at,
        )

    @property
    def offering(self) -> Offering:
        return Offering(self.size, self.region, self.zone)


def replacement_name(base: str, recovery_id: str, attempt: int) -> str:
    """``<base>-r<5 hex>``: the same for a retried or replayed create of one attempt, different for the next."""
    stem = _SUFFIX.sub("", base)[:56]
    digest = hashlib.sha256(f"{recovery_id}/{attempt}".encode()).hexdigest()[:5]
    return f"{stem}-r{digest}"


def vm_body(
    profile: Profile,
    member: Member | None,
    offering: Offering,
    *,
    name: str,
    ssh_public_key: str,
    spot: bool,
    recovery_id: str,
    max_price: float | None = None,
) -> dict[str, Any]:
    """The VirtualMachines_CreateOrUpdate body of a replacement (inline NIC in the placement's subnet)."""
    placement = profile.placement(offering.region)
    if placement is None:
        raise InvalidInput(f"fleet {profile.name} has no placement in {offering.region}")
    t = profile.template
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": offering.size},
        "storageProfile": _storage(profile, member),
        "osProfile": _os(name, t.admin.username, ssh_public_key, t.custom_data),
        "networkProfile": _network(name, placement.subnet),
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": t.boot_diagnostics}},
        **_priority(profile, spot, max_price),
    }
    if t.security_type != "Standard":
        uefi = {"secureBootEnabled": True, "vTpmEnabled": True}
        properties["securityProfile"] = {"securityType": t.security_type, "uefiSettings": uefi}
    body: dict[str, Any] = {
        "location": offering.region,
        "tags": _tags(profile, member, recovery_id, spot),
        "properties": properties,
    }
    if offering.zone:
        body["zones"] = [offering.zone]
    if t.identity:
        body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {t.identity: {}}}
    return body


def _storage(profile: Profile, member: Member | None) -> dict[str, Any]:
    t = profile.template
    image = (
        {"id": t.image.id}
        if t.image.id
        else {"publisher": t.image.publisher, "offer": t.image.offer, "sku": t.image.sku, "version": t.image.version}
    )
    managed: dict[str, Any] = {"storageAccountType": t.os_disk.type}
    if t.security_type == "ConfidentialVM":  # a CVM's OS disk says how its guest state is encrypted
        # (VirtualMachine_Create_WithSecurityTypeConfidentialVM.json, Compute 2023-09-01 examples)
        managed["securityProfile"] = {"securityEncryptionType": "VMGuestStateOnly"}
    os_disk = {
        "createOption": "FromImage",
        "deleteOption": "Delete",
        "diskSizeGB": t.os_disk.size_gb,
        "managedDisk": managed,
    }
    disks = [DataDisk(d.lun if d.lun is not None else i, d.size_gb, d.type) for i, d in enumerate(t.data_disks)]
    if member is not None and member.data_disks:
        disks = list(member.data_disks)  # the member's own layout: the workload expects its LUNs
    data = [
        {
            "lun": d.lun,
            "createOption": "Empty",
            "diskSizeGB": d.size_gb,
            "deleteOption": "Delete",
            "managedDisk": {"storageAccountType": d.type},
        }
        for d in disks
    ]
    return {"imageReference": image, "osDisk": os_disk, "dataDisks": data}


def _os(name: str, user: str, key: str, custom_data: str | None) -> dict[str, Any]:
    linux = {
        "disablePasswordAuthentication": True,
        "ssh": {"publicKeys": [{"path": f"/home/{user}/.ssh/authorized_keys", "keyData": key}]},
    }
    profile: dict[str, Any] = {
        "computerName": re.sub(r"[^A-Za-z0-9-]", "-", name)[:64],
        "adminUsername": user,
        "linuxConfiguration": linux,
    }
    if custom_data:
        profile["customData"] = custom_data
    return profile


def _network(name: str, subnet: str) -> dict[str, Any]:
    ip = {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}
    nic = {"name": "nic", "properties": {"primary": True, "deleteOption": "Delete", "ipConfigurations": [ip]}}
    return {"networkApiVersion": NETWORK_API_VERSION, "networkInterfaceConfigurations": [nic]}


def _priority(profile: Profile, spot: bool, max_price: float | None) -> dict[str, Any]:
    if not spot:
        return {"priority": "Regular"}
    price = profile.max_price if max_price is None else max_price
    return {"priority": "Spot", "evictionPolicy": "Delete", "billingProfile": {"maxPrice": price}}


def _tags(profile: Profile, member: Member | None, recovery_id: str, spot: bool) -> dict[str, str]:
    tags = {**profile.template.tags, **(member.tags if member else {}), **profile.member_tag}
    tags |= {REPLACES_TAG: member.name if member else "", RECOVERY_TAG: recovery_id}
    if not spot:
        tags[FALLBACK_TAG] = "regular"
    else:
        tags.pop(FALLBACK_TAG, None)
    return {k: v for k, v in tags.items() if v}


__all__ = ["DataDisk", "Disk", "Member", "replacement_name", "vm_body"]
