"""Signal + VM facts -> a decision (restart | redeploy | ignore) with a reason. Pure: no side effects.

The table (Deallocate policy restarts in place; Delete policy redeploys; a person's choices are left alone):

| the VM now                                   | decision | reason              |
|----------------------------------------------|----------|---------------------|
| tagged respot:ignore                         | ignore   | tagged_ignore       |
| outside the tag scope                        | ignore   | out_of_scope        |
| gone, a user deleted it                      | ignore   | user_deleted        |
| gone (Delete policy eviction)                | redeploy | deleted_by_eviction |
| not Spot                                     | ignore   | not_spot            |
| running / starting                           | ignore   | already_running     |
| stopped (powered off, still allocated)       | ignore   | user_stopped        |
| deallocated, a user deallocated it since     | ignore   | user_deallocated    |
| deallocated / deallocating, Deallocate policy| restart  | evicted             |
| anything else (creating, failed, deleting)   | ignore   | in_transition       |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.domain.vmstate import VmStatus

IGNORE_TAG = "respot:ignore"


class Action(StrEnum):
    RESTART = "restart"
    REDEPLOY = "redeploy"
    IGNORE = "ignore"


@dataclass(frozen=True)
class VmFacts:
    exists: bool
    status: VmStatus = VmStatus.UNKNOWN
    priority: str | None = None
    eviction_policy: str | None = None
    max_price: float | None = None
    size: str | None = None
    location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    health: str | None = None  # Application Health extension: healthy | unhealthy | unknown | None (not installed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmFacts:
        return cls(**{**data, "status": VmStatus(data.get("status", "unknown"))})

    @property
    def is_spot(self) -> bool:
        return (self.priority or "").lower() in ("spot", "low")

    @property
    def ignored_by_tag(self) -> bool:
        return any(k.lower() == IGNORE_TAG and str(v).lower() not in ("false", "0", "no") for k, v in self.tags.items())


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action.value, "reason": self.reason, "detail": self.detail}


def in_tag_scope(facts: VmFacts, required: dict[str, str]) -> bool:
    tags = {k.lower(): v for k, v in facts.tags.items()}
    return all(tags.get(k.lower()) == v for k, v in required.items())


def classify(
    facts: VmFacts, *, user_action: str | None = None, required_tags: dict[str, str] | None = None
) -> Decision:
    """``user_action``: the last thing a person did to the VM since the eviction (deallocate, delete, powerOff)."""
    if facts.exists and facts.ignored_by_tag:
        return Decision(Action.IGNORE, "tagged_ignore", f"the VM is tagged {IGNORE_TAG}")
    if facts.exists and required_tags and not in_tag_scope(facts, required_tags):
        return Decision(Action.IGNORE, "out_of_scope", f"the VM lacks the tags {required_tags}")
    if not facts.exists:
        if user_action == "delete":
            return Decision(Action.IGNORE, "user_deleted", "a user deleted the VM")
        return Decision(Action.REDEPLOY, "deleted_by_eviction", "the VM is gone: Delete eviction policy")
    if not facts.is_spot:
        return Decision(Action.IGNORE, "not_spot", f"priority {facts.priority}")
    return _by_status(facts, user_action)


def _by_status(facts: VmFacts, user_action: str | None) -> Decision:
    status = facts.status
    if status in (VmStatus.RUNNING, VmStatus.STARTING):
        return Decision(Action.IGNORE, "already_running", f"the VM is {status.value}")
    if status in (VmStatus.STOPPED, VmStatus.STOPPING):
        return Decision(Action.IGNORE, "user_stopped", "powered off but allocated: not an eviction")
    if status in (VmStatus.DEALLOCATED, VmStatus.DEALLOCATING):
        if user_action == "deallocate":
            return Decision(Action.IGNORE, "user_deallocated", "a user deallocated the VM after the eviction")
        if (facts.eviction_policy or "Deallocate").lower() == "delete":
            return Decision(Action.REDEPLOY, "deleted_by_eviction", "Delete policy VM still being removed")
        return Decision(Action.RESTART, "evicted", "deallocated by a Spot eviction")
    return Decision(Action.IGNORE, "in_transition", f"the VM is {status.value}")


def stop_reason(before: VmFacts, now: VmFacts, user_action: str | None) -> str | None:
    """Before each retry: has anything happened that means respot must stop? (None: carry on.)"""
    if not now.exists:
        return "deleted_meanwhile"
    if now.status in (VmStatus.RUNNING, VmStatus.STARTING):
        return "started_meanwhile"
    if now.ignored_by_tag:
        return "tagged_ignore"
    if before.size and now.size and before.size.lower() != now.size.lower():
        return "resized_meanwhile"
    if user_action == "deallocate":
        return "user_deallocated"
    if now.status in (VmStatus.STOPPED, VmStatus.STOPPING):
        return "user_stopped"
    return None
