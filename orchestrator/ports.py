"""What activities need from the outside world: adapters implement these over the Azure SDKs, tests use small
simulators. Every method is one short call: nothing here waits for a long-running operation.

Raises: :class:`orchestrator.domain.errors.ArmFailure`, whose ``kind`` says what happened (throttled with a
``retry_after``, transient, no answer to a write, capacity, quota, ...). Anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.domain.classify import UserAction
from orchestrator.domain.models import Operation, VmFacts, VmRef


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

    def begin_start(self, vm: VmRef) -> Operation | None:
        """Ask ARM to start the VM; the operation to watch, or None if ARM finished it at once."""
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


# --- ranking inputs for redeploying Delete-policy evictions (filled by the redeploy work) -------------------------


@dataclass(frozen=True)
class Offering:
    size: str
    region: str
    zone: str | None = None


class Pricing(Protocol):
    def spot_prices(self, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], float]:
        """USD per hour of each (size, region) Spot meter (Retail Prices API)."""
        ...


class EvictionRates(Protocol):
    def eviction_rates(self, sizes: list[str], regions: list[str]) -> dict[tuple[str, str], str]:
        """The trailing-28-day eviction-rate bucket ("0-5" ... "20+") of each (size, region) (Resource Graph)."""
        ...


class PlacementScores(Protocol):
    def placement_scores(self, sizes: list[str], regions: list[str], count: int) -> dict[Offering, str]:
        """High / Medium / Low / DataNotFoundOrStale per offering (at most 8 regions x 5 sizes per call)."""
        ...


class Quota(Protocol):
    def headroom(self, subscription: str, region: str) -> dict[str, int]:
        """Free units per usage name (family cores, lowPriorityCores, virtualMachines) in a region."""
        ...


class Inventory(Protocol):
    def remember(self, vm: VmRef, facts: VmFacts) -> None:
        """Keep what a replacement needs to know of a fleet member, outside the VM (it survives the deletion)."""
        ...

    def recall(self, vm: VmRef) -> VmFacts | None:
        """What respot last knew of a VM that is now gone."""
        ...


# --- what a replacement's template reads (a fleet profile's ssh_public_key_secret) ---------------------------------


class Secrets(Protocol):
    def ssh_key(self, vault_url: str, secret_name: str) -> str:
        """The OpenSSH public key in a Key Vault secret's current version (vault: ``https://<name>.vault.azure.net``).

        Raises ArmFailure: CONFIG when respot may not read it (a 403: the 'Key Vault Secrets User' role is missing),
        it does not exist (404) or it is not an OpenSSH public key; THROTTLED with ``retry_after``; TRANSIENT.
        """
        ...
