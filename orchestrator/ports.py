"""What the workflows need from the outside world; adapters implement these, tests use small fakes."""

from __future__ import annotations

from typing import Protocol

from orchestrator.domain.classify import VmFacts
from orchestrator.domain.resources import VmRef


class Compute(Protocol):
    def facts(self, vm: VmRef) -> VmFacts:
        """The VM (or scale-set instance) with its instance view; ``exists=False`` when it is gone."""
        ...

    def start(self, vm: VmRef) -> None:
        """Start it and wait for the operation. Raises ArmFailure."""
        ...

    def set_max_price(self, vm: VmRef, price: float) -> None:
        """Change billingProfile.maxPrice (only while deallocated). Raises ArmFailure."""
        ...


class ActivityLog(Protocol):
    def last_user_action(self, vm: VmRef, since: str) -> str | None:
        """'deallocate', 'delete' or 'powerOff' if a person did that to the VM after ``since``, else None."""
        ...
