"""One VM status from the instance view's ProvisioningState/* and PowerState/* codes. Pure.

Azure reports the last operation's provisioning state beside the power state. After a failed start it shows
``ProvisioningState/failed/AllocationFailed`` with ``PowerState/deallocated``: the VM is deallocated and can be
started again (the failure is the start's, not the VM's), so power decides there. Provisioning outranks power only
while an operation is in flight (creating, deleting) or when a VM that never ran failed to be created.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.domain.models import VmStatus


def _codes(codes: Iterable[str]) -> tuple[str, str, str | None]:
    provisioning, power, failed_code = "", "", None
    for code in codes:
        low = code.lower()
        if low.startswith("provisioningstate/"):
            parts = code.split("/")
            provisioning = parts[1].lower()
            failed_code = parts[2] if provisioning == "failed" and len(parts) > 2 else failed_code
        elif low.startswith("powerstate/"):
            power = low.split("/", 1)[1]
    return provisioning, power, failed_code


def status_of(codes: Iterable[str]) -> VmStatus:
    """``["ProvisioningState/succeeded", "PowerState/running"]`` -> RUNNING."""
    provisioning, power, _ = _codes(codes)
    if provisioning in ("deleting", "creating"):
        return VmStatus(provisioning)
    if provisioning == "failed" and power not in ("deallocated", "stopped"):
        return VmStatus.FAILED
    try:
        return VmStatus(power) if power else (VmStatus.UPDATING if provisioning == "updating" else VmStatus.UNKNOWN)
    except ValueError:
        return VmStatus.UNKNOWN


def failed_provisioning(codes: Iterable[str]) -> str | None:
    """The code of ``ProvisioningState/failed/<code>`` ("Unknown" without one), or None if provisioning did not fail."""
    provisioning, _, code = _codes(codes)
    return (code or "Unknown") if provisioning == "failed" else None


def is_recovered(codes: Iterable[str], *, health: str | None = None, require_health: bool = False) -> bool:
    """The warm-up gate: PowerState/running and ProvisioningState/succeeded, and, when required, a healthy
    Application Health extension (Azure's guidance for Spot restarts: wait for the app, not just the VM)."""
    low = {c.lower() for c in codes}
    running = "powerstate/running" in low and "provisioningstate/succeeded" in low
    return running and (not require_health or (health or "").lower() == "healthy")
