"""VM references: parse and normalise ARM resource ids, refusing anything that is not exactly a VM.

A crafted id cannot steer respot elsewhere: only the two shapes below are accepted, every segment is checked
against ARM's naming rules, and the result is rebuilt from the parts (lower-cased, as ARM ids compare).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RG = r"[-\w._()]{1,90}"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_VM = re.compile(
    rf"^/subscriptions/(?P<sub>{GUID})/resourceGroups/(?P<rg>{_RG})/providers/Microsoft\.Compute/virtualMachines/(?P<name>{_NAME})$",
    re.IGNORECASE,
)
_INSTANCE = re.compile(
    rf"^/subscriptions/(?P<sub>{GUID})/resourceGroups/(?P<rg>{_RG})/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<ss>{_NAME})/virtualMachines/(?P<iid>\d{{1,9}})$",
    re.IGNORECASE,
)


class InvalidResourceId(ValueError):
    pass


@dataclass(frozen=True)
class VmRef:
    """A standalone VM (``scale_set`` None) or a scale-set instance. Fields are lower-case."""

    subscription: str
    resource_group: str
    name: str
    scale_set: str | None = None
    instance_id: str | None = None

    @property
    def id(self) -> str:
        base = f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/providers/microsoft.compute"
        if self.scale_set is not None:
            return f"{base}/virtualmachinescalesets/{self.scale_set}/virtualmachines/{self.instance_id}"
        return f"{base}/virtualmachines/{self.name}"

    @property
    def instance_id_for_recovery(self) -> str:
        """The deterministic orchestration id of this VM's recovery: every signal about it maps here."""
        return "respot-" + hashlib.sha256(self.id.encode()).hexdigest()[:24]

    def to_dict(self) -> dict[str, str | None]:
        return {
            "subscription": self.subscription,
            "resource_group": self.resource_group,
            "name": self.name,
            "scale_set": self.scale_set,
            "instance_id": self.instance_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> VmRef:
        return cls(
            str(data["subscription"]),
            str(data["resource_group"]),
            str(data["name"]),
            data.get("scale_set"),
            data.get("instance_id"),
        )


def parse_vm_id(raw: object) -> VmRef:
    """Raises :class:`InvalidResourceId` for anything but a VM or scale-set instance id."""
    if not isinstance(raw, str) or len(raw) > 400:
        raise InvalidResourceId("not a resource id string")
    text = raw.strip().rstrip("/")
    if (m := _VM.match(text)) is not None:
        return VmRef(m["sub"].lower(), m["rg"].lower(), m["name"].lower())
    if (m := _INSTANCE.match(text)) is not None:
        name = f"{m['ss']}_{m['iid']}".lower()
        return VmRef(m["sub"].lower(), m["rg"].lower(), name, m["ss"].lower(), m["iid"])
    raise InvalidResourceId(f"not a VM or scale-set instance id: {text[:200]!r}")
