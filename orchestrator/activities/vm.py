"""Activities: dict in, one port call, dict out. Expected ARM outcomes come back as data the workflow branches
on (``{"ok": False, "failure": {"kind": "capacity", ...}}``); anything unexpected raises, and the orchestration
sees it as a failed task."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.resources import VmRef
from orchestrator.ports import ActivityLog, Compute

# Failures a workflow decides about. Others (auth, bugs) raise: retrying or waiting would not help.
EXPECTED = {
    Failure.CAPACITY,
    Failure.PRICE,
    Failure.QUOTA,
    Failure.CONFLICT,
    Failure.NOT_FOUND,
    Failure.THROTTLED,
    Failure.TRANSIENT,
    Failure.CONFIG,
}


def _vm(payload: dict[str, Any]) -> VmRef:
    return VmRef.from_dict(payload["vm"])


def get_vm_facts(payload: dict[str, Any], compute: Compute) -> dict[str, Any]:
    return compute.facts(_vm(payload)).to_dict()


def start_vm(payload: dict[str, Any], compute: Compute) -> dict[str, Any]:
    return _outcome(lambda: compute.start(_vm(payload)))


def set_max_price(payload: dict[str, Any], compute: Compute) -> dict[str, Any]:
    return _outcome(lambda: compute.set_max_price(_vm(payload), float(payload["price"])))


def last_user_action(payload: dict[str, Any], activity: ActivityLog) -> dict[str, Any]:
    return {"action": activity.last_user_action(_vm(payload), str(payload["since"]))}


def _outcome(call: Any) -> dict[str, Any]:
    try:
        call()
    except ArmFailure as failure:
        if failure.kind not in EXPECTED:
            raise
        return {"ok": False, "failure": failure.to_dict()}
    return {"ok": True}
