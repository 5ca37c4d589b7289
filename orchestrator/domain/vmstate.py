"""One VM status from the instance view's ProvisioningState/* and PowerState/* codes. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class VmStatus(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"  # powered off but still allocated (and billed): a person did that, not an eviction
    STOPPING = "stopping"
    DEALLOCATED = "deallocated"
    DEALLOCATING = "deallocating"
    CREATING = "creating"
    UPDATING = "updating"
    DELETING = "deleting"
    FAILED = "failed"
    UNKNOWN = "unknown"


def status_of(codes: Iterable[str]) -> VmStatus:
    """``["ProvisioningState/succeeded", "PowerState/running"]`` -> RUNNING.

    Provisioning outranks power while it is in flight or failed (a VM being deleted is DELETING whatever its power).
    """
    provisioning, power = "", ""
    for code in codes:
        low = code.lower()
        if low.startswith("provisioningstate/"):
            provisioning = low.split("/")[1]
        elif low.startswith("powerstate/"):
            power = low.split("/", 1)[1]
    if provisioning in ("deleting", "failed", "creating"):
        return VmStatus(provisioning)
    try:
        return VmStatus(power) if power else (VmStatus.UPDATING if provisioning == "updating" else VmStatus.UNKNOWN)
    except ValueError:
        return VmStatus.UNKNOWN


def is_recovered(codes: Iterable[str], *, health: str | None = None, require_health: bool = False) -> bool:
    """The warm-up gate: PowerState/running and ProvisioningState/succeeded, and, when required, a healthy
    Application Health extension (Azure's guidance for Spot restarts: wait for the app, not just the VM)."""
    low = {c.lower() for c in codes}
    running = "powerstate/running" in low and "provisioningstate/succeeded" in low
    return running and (not require_health or (health or "").lower() == "healthy")
