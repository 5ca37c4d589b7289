"""Classification, stop rules, VM status, the failure taxonomy, the schedule, and VM ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.classify import Action, VmFacts, classify, stop_reason
from orchestrator.domain.errors import Failure
from orchestrator.domain.errors import classify as failure_of
from orchestrator.domain.resources import InvalidResourceId, parse_vm_id
from orchestrator.domain.schedule import Backoff
from orchestrator.domain.vmstate import VmStatus, is_recovered, status_of

SPOT = {"exists": True, "priority": "Spot", "eviction_policy": "Deallocate", "size": "Standard_D2s_v5"}


def facts(**kw: object) -> VmFacts:
    return VmFacts(**{**SPOT, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("vm", "user", "action", "reason"),
    [
        (facts(status=VmStatus.DEALLOCATED), None, Action.RESTART, "evicted"),
        (facts(status=VmStatus.DEALLOCATING), None, Action.RESTART, "evicted"),
        (facts(status=VmStatus.DEALLOCATED), "deallocate", Action.IGNORE, "user_deallocated"),
        (facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "true"}), None, Action.IGNORE, "tagged_ignore"),
        (facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "false"}), None, Action.RESTART, "evicted"),
        (facts(status=VmStatus.RUNNING), None, Action.IGNORE, "already_running"),
        (facts(status=VmStatus.STOPPED), None, Action.IGNORE, "user_stopped"),
        (facts(status=VmStatus.DEALLOCATED, priority="Regular"), None, Action.IGNORE, "not_spot"),
        (VmFacts(exists=False), None, Action.REDEPLOY, "deleted_by_eviction"),
        (VmFacts(exists=False), "delete", Action.IGNORE, "user_deleted"),
        (facts(status=VmStatus.DEALLOCATED, eviction_policy="Delete"), None, Action.REDEPLOY, "deleted_by_eviction"),
        (facts(status=VmStatus.FAILED), None, Action.IGNORE, "in_transition"),
    ],
)
def test_classification_table(vm: VmFacts, user: str | None, action: Action, reason: str) -> None:
    decision = classify(vm, user_action=user)
    assert (decision.action, decision.reason) == (action, reason)


def test_tag_scope() -> None:
    vm = facts(status=VmStatus.DEALLOCATED, tags={"Team": "spot"})
    assert classify(vm, required_tags={"team": "spot"}).action == Action.RESTART
    assert classify(vm, required_tags={"team": "other"}).reason == "out_of_scope"


@pytest.mark.parametrize(
    ("now", "user", "reason"),
    [
        (facts(status=VmStatus.DEALLOCATED), None, None),
        (VmFacts(exists=False), None, "deleted_meanwhile"),
        (facts(status=VmStatus.RUNNING), None, "started_meanwhile"),
        (facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "1"}), None, "tagged_ignore"),
        (facts(status=VmStatus.DEALLOCATED, size="Standard_D4s_v5"), None, "resized_meanwhile"),
        (facts(status=VmStatus.DEALLOCATED), "deallocate", "user_deallocated"),
        (facts(status=VmStatus.STOPPED), None, "user_stopped"),
    ],
)
def test_stop_rules_before_each_retry(now: VmFacts, user: str | None, reason: str | None) -> None:
    assert stop_reason(facts(status=VmStatus.DEALLOCATED), now, user) == reason


def test_vm_status_and_the_warm_up_gate() -> None:
    assert status_of(["ProvisioningState/succeeded", "PowerState/running"]) == VmStatus.RUNNING
    assert status_of(["ProvisioningState/deleting", "PowerState/running"]) == VmStatus.DELETING
    assert status_of(["ProvisioningState/failed/AllocationFailed"]) == VmStatus.FAILED
    assert status_of(["ProvisioningState/updating"]) == VmStatus.UPDATING
    assert status_of([]) == VmStatus.UNKNOWN
    assert is_recovered(["ProvisioningState/succeeded", "PowerState/running"])
    assert not is_recovered(["ProvisioningState/updating", "PowerState/running"])


@pytest.mark.parametrize(
    ("code", "status", "message", "kind"),
    [
        ("AllocationFailed", 409, "", Failure.CAPACITY),
        ("ZonalAllocationFailed", 200, "", Failure.CAPACITY),
        ("OverconstrainedAllocationRequest", 409, "", Failure.CAPACITY),
        ("SkuNotAvailable", 409, "", Failure.CAPACITY),
        ("SpotPriceGreaterThanProvidedMaxPrice", 409, "", Failure.PRICE),
        ("OperationNotAllowed", 409, "exceeding approved LowPriorityCores quota", Failure.QUOTA),
        ("OperationNotAllowed", 409, "another operation is in progress", Failure.CONFLICT),
        ("OperationNotAllowed", 429, "too many requests", Failure.THROTTLED),
        ("MaxPriceValueInvalid", 400, "", Failure.CONFIG),
        ("ResourceNotFound", 404, "", Failure.NOT_FOUND),
        ("InternalExecutionError", 500, "", Failure.TRANSIENT),
        (None, None, "connection reset", Failure.TRANSIENT),
    ],
)
def test_failure_taxonomy(code: str | None, status: int | None, message: str, kind: Failure) -> None:
    assert failure_of(code, status, message) == kind


def test_backoff_doubles_caps_and_jitters_deterministically() -> None:
    b = Backoff()
    delays = [b.delay(n, "instance").total_seconds() for n in range(1, 8)]
    assert 54 <= delays[0] <= 66 and 108 <= delays[1] <= 132
    assert all(810 <= d <= 990 for d in delays[4:])  # capped at 15 min, +-10 %
    assert delays == [b.delay(n, "instance").total_seconds() for n in range(1, 8)]  # same on replay
    assert delays != [b.delay(n, "other").total_seconds() for n in range(1, 8)]


def test_backoff_deadline() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    b = Backoff(deadline=timedelta(hours=1))
    assert b.next_try(start + timedelta(minutes=10), 1, "k", start) is not None
    assert b.next_try(start + timedelta(minutes=59, seconds=30), 1, "k", start) is None


def test_vm_ids_normalise_and_refuse_everything_else() -> None:
    ref = parse_vm_id(
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/Vm1/"
    )
    assert (
        ref.id
        == "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1"
    )
    assert (
        ref.instance_id_for_recovery
        == parse_vm_id(ref.id.upper().replace("/SUBSCRIPTIONS", "/subscriptions")).instance_id_for_recovery
    )
    for bad in (None, 42, "x" * 500, "/subscriptions/x"):
        with pytest.raises(InvalidResourceId):
            parse_vm_id(bad)


def test_the_health_gate() -> None:
    up = ["ProvisioningState/succeeded", "PowerState/running"]
    assert is_recovered(up, health=None) and is_recovered(up, health="unhealthy")  # not required
    assert not is_recovered(up, health=None, require_health=True)
    assert not is_recovered(up, health="unhealthy", require_health=True)
    assert is_recovered(up, health="healthy", require_health=True)
