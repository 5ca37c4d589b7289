"""The emulator's resources: plain dataclasses, rendered to ARM JSON by ``views``.

A Uniform scale-set instance is a :class:`Vm` with ``scale_set`` and ``instance_id`` set, so allocation, eviction
and power transitions are written once for both. A Flexible scale set's VMs are standalone VMs whose
``member_of`` names the set (``properties.virtualMachineScaleSet``). Managed disks and NICs are resources of
their own that a VM holds while it exists; an :class:`AutoscaleSetting` is a Microsoft.Insights resource that
targets a scale set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Json = dict[str, Any]


class Power(StrEnum):
    """The PowerState/<code> values of the instance view."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"

    @property
    def display(self) -> str:
        return {
            "starting": "VM starting",
            "running": "VM running",
            "stopping": "VM stopping",
            "stopped": "VM stopped",
            "deallocating": "VM deallocating",
            "deallocated": "VM deallocated",
        }[self.value]


class Provisioning(StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


@dataclass
class Vm:
    subscription: str
    resource_group: str
    name: str
    location: str
    size: str
    priority: str  # Regular | Spot | Low (legacy)
    eviction_policy: str | None
    max_price: float | None
    zones: list[str]
    tags: dict[str, str]
    properties: Json  # the stored model (storage/os/network profiles) echoed back on GET
    time_created: datetime
    vm_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    provisioning: Provisioning = Provisioning.CREATING
    power: Power = Power.STARTING
    status_time: datetime | None = None
    slot: str | None = None  # capacity zone held while allocated ("" for a regional pool)
    busy_op: str | None = None  # name of the operation in flight (one at a time, as CRP enforces)
    nics: list[str] = field(default_factory=list)
    disks: list[str] = field(default_factory=list)
    scale_set: str | None = None  # name of the Uniform scale set this is an instance of
    instance_id: str | None = None
    member_of: str | None = None  # key of the Flexible scale set this standalone VM belongs to
    evicted_at: datetime | None = None  # last platform eviction
    eviction_due: datetime | None = None  # a Preempt notice is out; eviction happens at this time
    failure: Json | None = None  # error of the last failed provisioning, shown in the instance view
    health: str | None = None  # Application Health extension state (healthy | unhealthy | unknown), if installed

    @property
    def is_spot(self) -> bool:
        return self.priority in ("Spot", "Low")

    @property
    def allocated(self) -> bool:
        return self.slot is not None

    @property
    def id(self) -> str:
        base = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/Microsoft.Compute"
        if self.scale_set is not None:
            return f"{base}/virtualMachineScaleSets/{self.scale_set}/virtualMachines/{self.instance_id}"
        return f"{base}/virtualMachines/{self.name}"

    @property
    def key(self) -> str:
        return self.id.lower()


class Orchestration(StrEnum):
    """properties.orchestrationMode (virtual-machine-scale-sets-orchestration-modes.md)."""

    UNIFORM = "Uniform"
    FLEXIBLE = "Flexible"


@dataclass
class ScaleSet:
    subscription: str
    resource_group: str
    name: str
    location: str
    size: str
    capacity: int
    priority: str
    eviction_policy: str | None
    max_price: float | None
    zones: list[str]
    tags: dict[str, str]
    profile: Json  # virtualMachineProfile as stored ({} for a Flexible set without one)
    properties: Json  # the other stored properties (upgradePolicy, ...)
    time_created: datetime
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    provisioning: Provisioning = Provisioning.SUCCEEDED
    next_instance: int = 0
    orchestration: Orchestration = Orchestration.UNIFORM
    # The instance count the platform keeps for Try & restore: what the user last asked for (PUT, PATCH, deleting
    # an instance); an eviction does not change it (use-spot.md: "maintain the target instance count").
    target: int = 0
    restores: list[Restore] = field(default_factory=list)  # evicted instances Try & restore still tries to bring back

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.name}"
        )

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def is_spot(self) -> bool:
        return self.priority in ("Spot", "Low")


@dataclass
class Restore:
    """One evicted instance Try & restore is trying to bring back until ``deadline`` (restoreTimeout)."""

    evicted_at: datetime
    deadline: datetime
    vm_key: str | None = None  # Deallocate policy: the instance to start again; Delete policy: None (a new one)


@dataclass
class Operation:
    """An ARM async operation, polled through Azure-AsyncOperation and Location."""

    op_id: str
    subscription: str
    location: str
    name: str  # e.g. "start", "create"
    resource_id: str
    start_time: datetime
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    end_time: datetime | None = None
    error: Json | None = None
    expected_end: datetime | None = None  # when the scheduled work finishes it (for Retry-After)
    reported_at: datetime | None = None  # when a poller was first told it had ended
    # Body the Location URL returns on success (None: 200 with no body, as for POST actions).
    result_of: str | None = None  # resource key to render on success (PUT/PATCH)
    note: Json | None = None  # properties its Activity Log records carry (a platform restore says so)


@dataclass
class ActivityRecord:
    """One Activity Log event (Administrative category), as alerts and the AzureActivity table see it."""

    event_data_id: str
    correlation_id: str
    operation_name: str  # e.g. Microsoft.Compute/virtualMachines/start/action
    status: str  # Started | Accepted | Succeeded | Failed
    caller: str
    resource_id: str
    subscription: str
    resource_group: str
    timestamp: datetime
    level: str = "Informational"
    category: str = "Administrative"
    sub_status: str = ""
    properties: Json = field(default_factory=dict)


@dataclass
class ScheduledEvent:
    event_id: str
    event_type: str  # Preempt
    resources: list[str]
    not_before: datetime
    vm_key: str
    reason: str = "capacity"
    source: str = "Platform"
    approved: bool = False


@dataclass
class Disk:
    """A managed disk (Microsoft.Compute/disks): an OS or data disk made by a VM create, or one attached to it."""

    id: str
    name: str
    vm_key: str | None  # the VM holding it (managedBy), None once detached
    delete_with_vm: bool  # deleteOption Delete (OS and data disks default to Detach, computeRPCommon.json)
    location: str = ""
    size_gb: int = 30
    sku: str = "Premium_LRS"
    zones: list[str] = field(default_factory=list)
    lun: int | None = None  # None: the OS disk
    create_option: str = "FromImage"
    time_created: datetime | None = None


@dataclass
class Nic:
    id: str
    name: str
    location: str
    subnet_id: str
    vm_key: str | None
    delete_with_vm: bool
    ip_configuration: str = "ipconfig1"


@dataclass
class AutoscaleSetting:
    """Microsoft.Insights/autoscalesettings (autoscale_API.json 2022-10-01): ``properties`` as stored, with
    ``name`` and ``enabled`` filled in as Azure returns them."""

    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str]
    properties: Json
    time_created: datetime
    last_scale: datetime | None = None
    generation: int = 0  # bumped on every write: an engine loop of an older generation stops

    @property
    def id(self) -> str:
        # The casing of the official examples: ".../providers/microsoft.insights/autoscalesettings/MySetting".
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/microsoft.insights/autoscalesettings/{self.name}"
        )

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def target_uri(self) -> str:
        return str(self.properties.get("targetResourceUri") or "")

    @property
    def target(self) -> str:
        return self.target_uri.lower()

    @property
    def enabled(self) -> bool:
        return self.properties.get("enabled") is not False


@dataclass
class AllocationFault:
    """An injected failure for the next ``remaining`` allocations that match (control API ``faults``).

    Any code may be given; one Azure does not document (``"SomethingNew"``) still fails the operation with it.
    """

    code: str
    remaining: int = 1
    region: str | None = None
    size: str | None = None
    vm_id: str | None = None  # only this VM or scale-set instance (resource id, any case)
    message: str | None = None

    def matches(self, vm: Vm) -> bool:
        return (
            (self.region is None or self.region == vm.location)
            and (self.size is None or self.size.lower() == vm.size.lower())
            and (self.vm_id is None or self.vm_id.lower() == vm.key)
        )


@dataclass
class SecretVersion:
    """One version of a Key Vault secret; Key Vault stores the value as given and never interprets it."""

    version: str  # 32 hex digits, as Key Vault's
    value: str
    created: datetime
    updated: datetime
    enabled: bool = True
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Secret:
    name: str  # as first written; Key Vault object names are case-insensitive
    versions: list[SecretVersion] = field(default_factory=list)  # oldest first: the last is the current version


@dataclass
class Vault:
    """A key vault's data plane. ``roles`` None: every caller may read and write (as any token may do anything
    on the ARM side here); else principal -> Azure built-in role name, and anyone else is refused (Azure RBAC)."""

    name: str  # lower case, as its DNS name
    tenant: str
    location: str
    subscription: str
    resource_group: str
    roles: dict[str, str] | None = None
    secrets: dict[str, Secret] = field(default_factory=dict)  # lower-cased name -> secret
