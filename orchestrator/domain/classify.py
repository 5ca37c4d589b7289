"""Signal + VM facts -> a decision (restart | redeploy | defer | ignore | not_found) with a reason. Pure.

| the VM now                                         | decision  | reason                 |
|----------------------------------------------------|-----------|------------------------|
| tagged respot:ignore                               | ignore    | tagged_ignore          |
| its subscription or resource group does not exist  | not_found | *_missing              |
| gone, a person deleted it                          | ignore    | user_deleted           |
| gone, with evidence of a Delete-policy eviction    | redeploy  | deleted_by_eviction    |
| gone, no evidence (a made-up or mistyped id)       | not_found | vm_missing             |
| not Spot                                           | ignore    | not_spot               |
| running / starting                                 | ignore    | already_running        |
| stopped (powered off, still allocated)             | ignore    | user_stopped           |
| deallocated, a person deallocated it since         | ignore    | user_deallocated       |
| deallocated, found by a sweep, no evictSpotVM record (or a person powered it off after it) | ignore | no_eviction_record (user_stopped) |
| deallocated / deallocating, Delete policy          | redeploy  | deleted_by_eviction    |
| deallocated / deallocating (also after a failed start) | restart | evicted             |
| creating, updating, deleting, failed, unknown      | defer     | in_transition          |

"Deleted by eviction" needs evidence: a 404 alone is also what a made-up id, a typo or a person's deletion gives.
Evidence is a Delete-policy Spot VM that respot itself read before it vanished, or the platform's eviction record
(Activity Log ``evictSpotVM``) for it.

A VM the sweep found deallocated (``eviction_required``) needs evidence too: the ``evictSpotVM`` record, with no
person's deallocation or power-off after it. A deallocated VM looks the same whoever deallocated it, and a later
operation on it (a tag change) gives the sweep a new time: without the record respot would undo a person's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.domain.models import IGNORE_TAG, Missing, Reason, VmFacts, VmStatus


class Action(StrEnum):
    RESTART = "restart"
    REDEPLOY = "redeploy"
    DEFER = "defer"  # in flux: look again shortly
    IGNORE = "ignore"
    NOT_FOUND = "not_found"


class UserAction(StrEnum):
    """What a person did to the VM after the eviction (from the Activity Log)."""

    DEALLOCATE = "deallocate"
    DELETE = "delete"
    POWER_OFF = "powerOff"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action.value, "reason": self.reason.value, "detail": self.detail}


_MISSING = {
    Missing.RESOURCE_GROUP: (Reason.RESOURCE_GROUP_MISSING, "the resource group does not exist"),
    Missing.SUBSCRIPTION: (Reason.SUBSCRIPTION_MISSING, "the subscription does not exist or is not visible"),
}


def classify(
    facts: VmFacts,
    *,
    user_action: UserAction | None = None,
    evidence: str | None = None,
    eviction_required: bool = False,
) -> Decision:
    """``evidence``: why respot believes the VM was evicted (None: no such evidence). ``eviction_required``: a
    deallocated VM is restarted only with evidence (a sweep's finding), and ``user_action`` is then what a person did
    after the eviction record."""
    if facts.exists and facts.ignored_by_tag:
        return Decision(Action.IGNORE, Reason.TAGGED_IGNORE, f"the VM is tagged {IGNORE_TAG}")
    if not facts.exists:
        return _missing(facts, user_action, evidence)
    if not facts.is_spot:
        return Decision(Action.IGNORE, Reason.NOT_SPOT, f"priority {facts.priority}")
    decision = _by_status(facts, user_action)
    if eviction_required and decision.action == Action.RESTART:
        return _proven(decision, user_action, evidence)
    return decision


def _proven(restart: Decision, user_action: UserAction | None, evidence: str | None) -> Decision:
    if user_action == UserAction.POWER_OFF:
        return Decision(Action.IGNORE, Reason.USER_STOPPED, "a person powered the VM off after the eviction")
    if not evidence:
        detail = "deallocated, and the Activity Log has no evictSpotVM record for it: a person's choice is not undone"
        return Decision(Action.IGNORE, Reason.NO_EVICTION_RECORD, detail)
    return Decision(restart.action, restart.reason, evidence)


def _missing(facts: VmFacts, user_action: UserAction | None, evidence: str | None) -> Decision:
    if facts.missing in _MISSING:
        reason, detail = _MISSING[facts.missing]
        return Decision(Action.NOT_FOUND, reason, detail)
    if user_action == UserAction.DELETE:
        return Decision(Action.IGNORE, Reason.USER_DELETED, "a person deleted the VM")
    if evidence:
        return Decision(Action.REDEPLOY, Reason.DELETED_BY_EVICTION, evidence)
    return Decision(Action.NOT_FOUND, Reason.VM_MISSING, "the VM does not exist and nothing shows it was evicted")


def _by_status(facts: VmFacts, user_action: UserAction | None) -> Decision:
    status = facts.status
    if status in (VmStatus.RUNNING, VmStatus.STARTING):
        return Decision(Action.IGNORE, Reason.ALREADY_RUNNING, f"the VM is {status.value}")
    if status in (VmStatus.STOPPED, VmStatus.STOPPING):
        return Decision(Action.IGNORE, Reason.USER_STOPPED, "powered off but allocated: not an eviction")
    if status in (VmStatus.DEALLOCATED, VmStatus.DEALLOCATING):
        if user_action == UserAction.DEALLOCATE:
            return Decision(Action.IGNORE, Reason.USER_DEALLOCATED, "a person deallocated the VM after the eviction")
        if facts.delete_policy:
            return Decision(Action.REDEPLOY, Reason.DELETED_BY_EVICTION, "a Delete-policy Spot VM being removed")
        detail = f"after a failed start ({facts.provisioning_failed})" if facts.provisioning_failed else ""
        return Decision(Action.RESTART, Reason.EVICTED, detail or "deallocated by a Spot eviction")
    return Decision(Action.DEFER, Reason.IN_TRANSITION, f"the VM is {status.value}")


def stop_reason(before: VmFacts, now: VmFacts, user_action: UserAction | None) -> Reason | None:
    """Before each retry: has anything happened that means respot must stop? (None: carry on.)"""
    if not now.exists:
        return Reason.DELETED_MEANWHILE
    if now.status in (VmStatus.RUNNING, VmStatus.STARTING):
        return Reason.STARTED_MEANWHILE
    if now.ignored_by_tag:
        return Reason.TAGGED_IGNORE
    if before.size and now.size and before.size.lower() != now.size.lower():
        return Reason.RESIZED_MEANWHILE
    if user_action == UserAction.DEALLOCATE:
        return Reason.USER_DEALLOCATED
    if user_action == UserAction.DELETE:
        return Reason.USER_DELETED
    if now.status in (VmStatus.STOPPED, VmStatus.STOPPING):
        return Reason.USER_STOPPED
    return None
