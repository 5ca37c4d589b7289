"""What activities need from the outside world: adapters implement these over the Azure SDKs, tests use small
simulators. Every method is one short call: nothing here waits for a long-running operation.

Raises: :class:`orchestrator.domain.errors.ArmFailure`, whose ``kind`` says what happened (throttled with a
``retry_after``, transient, no answer to a write, capacity, quota, ...). Anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orchestrator.domain.capacity import ScaleSetFacts
from orchestrator.domain.classify import UserAction
from orchestrator.domain.models import Operation, VmFacts, VmRef
from orchestrator.domain.placement import Scores, Sku


@dataclass(frozen=True)
class OperationState:
    """One look at a long-running operation: ``status`` is InProgress, Succeeded, Failed or Canceled."""

    status: str
    retry_after: float | None = None
    code: str | None = None
    message: str = ""


class Compute(Protocol):
    def facts(self, vm: VmRef) -> VmFacts:
        """The VM (or scale-set instance) with its instance view; ``exists=False`` and ``missing`` when it is gone."""
        ...

    def list_vms(self, subscription: str, *, status: bool = False, max_age: float = 0.0) -> list[tuple[VmRef, VmFacts]]:
        """Every standalone VM of the subscription, from its model; with ``status`` its instance view too (status,
        ``changed_at``), from one more list: never a read per VM. With ``max_age``, a list of the models read at
        most that many seconds ago may answer instead."""
        ...

    def list_instances(self, subscription: str, resource_group: str, scale_set: str) -> list[tuple[VmRef, VmFacts]]:
        """The instances of a Uniform scale set with their instance views, from one list (the set's model, priority
        and eviction policy, is the caller's to add)."""
        ...

    def begin_start(self, vm: VmRef) -> Operation | None:
        """Ask ARM to start the VM; the operation to watch, or None if ARM finished it at once."""
        ...

    def begin_create(self, vm: VmRef, body: dict[str, Any]) -> Operation | None:
        """Create a VM from ``body``, only if none of that name exists (``If-None-Match: *``); raises ArmFailure with
        ``status`` 412 if one does, which stays untouched."""
        ...

    def begin_delete(self, vm: VmRef) -> Operation | None:
        """DELETE the VM (its NIC and disks go with it when their deleteOption says so)."""
        ...

    def begin_set_max_price(self, vm: VmRef, price: float) -> Operation | None:
        """Change billingProfile.maxPrice of a standalone VM (Azure allows it only while deallocated)."""
        ...

    def operation(self, operation: Operation) -> OperationState:
        """Read an operation's status (its Azure-AsyncOperation URL)."""
        ...


class ActivityLog(Protocol):
    def last_user_action(self, vm: VmRef, since: datetime) -> UserAction | None:
        """What a person did to the VM after ``since`` (deallocate, delete, power off), if anything."""
        ...

    def eviction_record(self, vm: VmRef, since: datetime) -> datetime | None:
        """When the platform's ``evictSpotVM`` for the VM (or its scale set) was recorded after ``since``."""
        ...


# --- what ranking reads, for redeploying Delete-policy evictions ---------------------------------------------------


class MarketData(Protocol):
    def skus(self, subscription: str, region: str) -> dict[str, Sku]:
        """The region's VM sizes (resource SKUs), lower-case name -> Sku, with restrictions and zones (may be kept
        for a while: they change on the scale of days)."""
        ...

    def quota(self, subscription: str, region: str) -> dict[str, int]:
        """Free units per usage name (family cores, ``cores``, ``lowPriorityCores``) in a region (may be seconds
        old: a wave's rankings share one reading)."""
        ...

    def spot_prices(self, region: str) -> dict[str, float]:
        """USD per hour of each size's Linux Spot meter in a region (Retail Prices API)."""
        ...

    def eviction_rates(self, subscription: str, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], str]:
        """The eviction-rate bucket ("0-5" ... "20+") of each (size lower, region) (Resource Graph SpotResources)."""
        ...

    def placement_scores(self, subscription: str, sizes: list[str], regions: list[str]) -> Scores:
        """High / Medium / Low per offering key, whether they are stale (a throttled call kept the last), and when
        they are asked again."""
        ...


class ScaleSets(Protocol):
    def facts(self, subscription: str, resource_group: str, name: str) -> ScaleSetFacts:
        """Capacity, mode, Spot and eviction policy, Try & restore, and the autoscale settings that target it."""
        ...

    def begin_set_capacity(self, subscription: str, resource_group: str, name: str, capacity: int) -> Operation | None:
        """PATCH sku.capacity; the operation to watch."""
        ...

    def list_scale_sets(self, subscription: str) -> list[tuple[str, str, ScaleSetFacts, dict[str, str]]]:
        """(resource group, name, facts without autoscale, tags) of every scale set of the subscription."""
        ...


# --- what a replacement's template reads (a fleet profile's ssh_public_key_secret) ---------------------------------


class Secrets(Protocol):
    def ssh_key(self, vault_url: str, secret_name: str) -> str:
        """The OpenSSH public key in a Key Vault secret's current version (vault: ``https://<name>.vault.azure.net``).

        Raises ArmFailure: CONFIG when respot may not read it (a 403: the 'Key Vault Secrets User' role is missing),
        it does not exist (404) or it is not an OpenSSH public key; THROTTLED with ``retry_after``; TRANSIENT.
        """
        ...
