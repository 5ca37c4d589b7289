"""Classification, stop rules, VM status, the failure taxonomy and the schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.classify import Action, UserAction, classify, stop_reason
from orchestrator.domain.errors import Failure, missing_of
from orchestrator.domain.errors import classify as failure_of
from orchestrator.domain.models import Missing, Reason, VmFacts, VmStatus
from orchestrator.domain.schedule import Backoff, poll_delay, throttle_delay, transient_delay
from orchestrator.domain.vmstate import failed_provisioning, is_recovered, status_of

SPOT = {"exists": True, "priority": "Spot", "eviction_policy": "Deallocate", "size": "Standard_D2s_v5"}
EVIDENCE = "the Activity Log records evictSpotVM"


def facts(**kw: object) -> VmFacts:
    return VmFacts(**{**SPOT, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("vm", "user", "evidence", "action", "reason"),
    [
        (facts(status=VmStatus.DEALLOCATED), None, None, Action.RESTART, Reason.EVICTED),
        (facts(status=VmStatus.DEALLOCATING), None, None, Action.RESTART, Reason.EVICTED),
        (
            facts(status=VmStatus.DEALLOCATED, provisioning_failed="AllocationFailed"),
            None,
            None,
            Action.RESTART,
            Reason.EVICTED,
        ),
        (facts(status=VmStatus.DEALLOCATED), UserAction.DEALLOCATE, None, Action.IGNORE, Reason.USER_DEALLOCATED),
        (
            facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "true"}),
            None,
            None,
            Action.IGNORE,
            Reason.TAGGED_IGNORE,
        ),
        (
            facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "false"}),
            None,
            None,
            Action.RESTART,
            Reason.EVICTED,
        ),
        (facts(status=VmStatus.RUNNING), None, None, Action.IGNORE, Reason.ALREADY_RUNNING),
        (facts(status=VmStatus.STOPPED), None, None, Action.IGNORE, Reason.USER_STOPPED),
        (facts(status=VmStatus.DEALLOCATED, priority="Regular"), None, None, Action.IGNORE, Reason.NOT_SPOT),
        (VmFacts(exists=False, missing=Missing.VM), None, None, Action.NOT_FOUND, Reason.VM_MISSING),
        (VmFacts(exists=False, missing=Missing.VM), None, EVIDENCE, Action.REDEPLOY, Reason.DELETED_BY_EVICTION),
        (VmFacts(exists=False, missing=Missing.VM), UserAction.DELETE, EVIDENCE, Action.IGNORE, Reason.USER_DELETED),
        (
            VmFacts(exists=False, missing=Missing.RESOURCE_GROUP),
            None,
            EVIDENCE,
            Action.NOT_FOUND,
            Reason.RESOURCE_GROUP_MISSING,
        ),
        (
            VmFacts(exists=False, missing=Missing.SUBSCRIPTION),
            None,
            None,
            Action.NOT_FOUND,
            Reason.SUBSCRIPTION_MISSING,
        ),
        (
            facts(status=VmStatus.DEALLOCATED, eviction_policy="Delete"),
            None,
            None,
            Action.REDEPLOY,
            Reason.DELETED_BY_EVICTION,
        ),
        (facts(status=VmStatus.FAILED), None, None, Action.DEFER, Reason.IN_TRANSITION),
        (facts(status=VmStatus.CREATING), None, None, Action.DEFER, Reason.IN_TRANSITION),
    ],
)
def test_classification_table(
    vm: VmFacts, user: UserAction | None, evidence: str | None, action: Action, reason: Reason
) -> None:
    decision = classify(vm, user_action=user, evidence=evidence)
    assert (decision.action, decision.reason) == (action, reason)


def test_a_404_alone_is_never_a_redeploy() -> None:
    assert classify(VmFacts(exists=False)).action == Action.NOT_FOUND


@pytest.mark.parametrize(
    ("now", "user", "reason"),
    [
        (facts(status=VmStatus.DEALLOCATED), None, None),
        (VmFacts(exists=False), None, Reason.DELETED_MEANWHILE),
        (facts(status=VmStatus.RUNNING), None, Reason.STARTED_MEANWHILE),
        (facts(status=VmStatus.DEALLOCATED, tags={"respot:ignore": "1"}), None, Reason.TAGGED_IGNORE),
        (facts(status=VmStatus.DEALLOCATED, size="Standard_D4s_v5"), None, Reason.RESIZED_MEANWHILE),
        (facts(status=VmStatus.DEALLOCATED), UserAction.DEALLOCATE, Reason.USER_DEALLOCATED),
        (facts(status=VmStatus.STOPPED), None, Reason.USER_STOPPED),
    ],
)
def test_stop_rules_before_each_retry(now: VmFacts, user: UserAction | None, reason: Reason | None) -> None:
    assert stop_reason(facts(status=VmStatus.DEALLOCATED), now, user) == reason


def test_vm_status_and_the_warm_up_gate() -> None:
    assert status_of(["ProvisioningState/succeeded", "PowerState/running"]) == VmStatus.RUNNING
    assert status_of(["ProvisioningState/deleting", "PowerState/running"]) == VmStatus.DELETING
    assert status_of(["ProvisioningState/failed/AllocationFailed"]) == VmStatus.FAILED
    assert status_of(["ProvisioningState/updating"]) == VmStatus.UPDATING
    assert status_of([]) == VmStatus.UNKNOWN
    assert is_recovered(["ProvisioningState/succeeded", "PowerState/running"])
    assert not is_recovered(["ProvisioningState/updating", "PowerState/running"])


def test_after_a_failed_start_azure_shows_failed_provisioning_and_a_deallocated_vm_that_can_start_again() -> None:
    codes = ["ProvisioningState/failed/AllocationFailed", "PowerState/deallocated"]
    assert status_of(codes) == VmStatus.DEALLOCATED
    assert failed_provisioning(codes) == "AllocationFailed"
    assert failed_provisioning(["ProvisioningState/succeeded", "PowerState/deallocated"]) is None
    assert classify(facts(status=status_of(codes), provisioning_failed="AllocationFailed")).action == Action.RESTART


@pytest.mark.parametrize(
    ("code", "status", "message", "kind"),
    [
        ("AllocationFailed", 409, "", Failure.CAPACITY),
        ("ZonalAllocationFailed", None, "", Failure.CAPACITY),
        ("OverconstrainedAllocationRequest", 409, "", Failure.CAPACITY),
        ("SkuNotAvailable", 409, "", Failure.CAPACITY),
        ("SpotPriceGreaterThanProvidedMaxPrice", 409, "", Failure.PRICE),
        ("OperationNotAllowed", 409, "exceeding approved LowPriorityCores quota", Failure.QUOTA),
        ("OperationNotAllowed", 409, "another operation is in progress", Failure.CONFLICT),
        ("OperationNotAllowed", 429, "too many requests", Failure.THROTTLED),
        ("TooManyRequests", 429, "", Failure.THROTTLED),
        ("MaxPriceValueInvalid", 400, "", Failure.CONFIG),
        ("ResourceNotFound", 404, "", Failure.NOT_FOUND),
        ("ResourceGroupNotFound", 404, "", Failure.NOT_FOUND),
        ("InternalExecutionError", 500, "", Failure.TRANSIENT),
        ("InternalExecutionError", None, "", Failure.TRANSIENT),
        ("SomethingNew", None, "an operation's body", Failure.UNKNOWN),
        ("SomethingNew", 503, "", Failure.TRANSIENT),
        ("SomethingNew", 409, "", Failure.CONFLICT),
        ("SomethingNew", 400, "", Failure.CONFIG),
    ],
)
def test_failure_taxonomy(code: str | None, status: int | None, message: str, kind: Failure) -> None:
    assert failure_of(code, status, message) == kind


def test_what_a_404_says_is_missing() -> None:
    assert missing_of("ResourceGroupNotFound") == Missing.RESOURCE_GROUP
    assert missing_of("SubscriptionNotFound") == Missing.SUBSCRIPTION
    assert missing_of("ResourceNotFound") == missing_of(None) == Missing.VM


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


def test_arm_asked_waits_are_lower_bounds() -> None:
    assert poll_delay(0, None).total_seconds() == 30 and poll_delay(0, 40).total_seconds() == 40
    assert poll_delay(1, None).total_seconds() == 15  # then closer: an operation that ran long is near its end
    assert poll_delay(99, None).total_seconds() == 30
    for times in range(1, 6):
        wait = throttle_delay(1200, "k", times).total_seconds()
        assert 1200 <= wait <= 1320  # at least Retry-After, never shorter, at most 10 % longer
    assert throttle_delay(None, "k", 1).total_seconds() >= 5
    assert transient_delay(1, "k").total_seconds() < transient_delay(4, "k").total_seconds() <= 330


def test_the_health_gate() -> None:
    up = ["ProvisioningState/succeeded", "PowerState/running"]
    assert is_recovered(up, health=None) and is_recovered(up, health="unhealthy")  # not required
    assert not is_recovered(up, health=None, require_health=True)
    assert not is_recovered(up, health="unhealthy", require_health=True)
    assert is_recovered(up, health="healthy", require_health=True)


def test_a_deallocated_vm_a_sweep_found_is_restarted_only_with_the_eviction_record_and_no_later_power_off() -> None:
    vm = facts(status=VmStatus.DEALLOCATED)
    assert classify(vm, eviction_required=True).reason == Reason.NO_EVICTION_RECORD
    assert classify(vm, evidence=EVIDENCE, eviction_required=True).action == Action.RESTART
    power_off = classify(vm, user_action=UserAction.POWER_OFF, evidence=EVIDENCE, eviction_required=True)
    assert (power_off.action, power_off.reason) == (Action.IGNORE, Reason.USER_STOPPED)
    owner = classify(vm, user_action=UserAction.DEALLOCATE, evidence=EVIDENCE, eviction_required=True)
    assert owner.reason == Reason.USER_DEALLOCATED
    assert classify(vm).action == Action.RESTART  # an alert's recovery: unchanged
