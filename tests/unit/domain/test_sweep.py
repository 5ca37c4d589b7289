"""The sweep's decisions: which listed VMs it hands to a recovery, the time rule that makes a repeated sweep of an
unchanged VM the same signal, and the roster that says which fleet members are gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain import models
from orchestrator.domain.identity import RecoveryRecord, Route, recovery_id, route
from orchestrator.domain.models import (
    SWEEP_LOOKBACK,
    InvalidInput,
    Signal,
    Source,
    VmFacts,
    VmRef,
    VmStatus,
    iso,
)
from orchestrator.domain.scope import Scope
from orchestrator.domain.sweep import (
    FORGET_FOR,
    Candidate,
    Clock,
    Finding,
    Left,
    Passed,
    due,
    look,
    missing,
    roster_op,
    settled,
    sweep_id,
    unswept,
    watched,
)
from orchestrator.domain.vmstate import status_of

SUB = "11111111-2222-3333-4444-555555555555"
VM = VmRef(SUB, "rg", "vm1")
T0 = datetime(2026, 3, 1, 12, 3, 20, tzinfo=UTC)
SCOPE = Scope(frozenset({SUB}))
LATER = Clock(T0 + timedelta(days=1))  # a sweep a day after the state changed, without a log delay


def facts(status: VmStatus = VmStatus.DEALLOCATED, **extra: object) -> VmFacts:
    fields: dict[str, object] = {"priority": "Spot", "eviction_policy": "Deallocate", "changed_at": iso(T0)}
    return VmFacts(exists=True, status=status, **{**fields, **extra})  # type: ignore[arg-type]


def test_a_deallocated_spot_vm_is_a_candidate_whose_time_is_its_last_change() -> None:
    seen = look(VM, facts(), activity_log=True, clock=LATER)
    assert isinstance(seen, Candidate) and (seen.finding, seen.occurred_at) == (Finding.DEALLOCATED, T0)
    assert seen.signal == Signal(VM, Source.SWEEP, f"deallocated@{iso(T0)}", T0)


def test_a_failed_start_for_capacity_is_a_candidate_even_without_an_activity_log() -> None:
    seen = look(VM, facts(provisioning_failed="ZonalAllocationFailed"), activity_log=False, clock=LATER)
    assert isinstance(seen, Candidate) and seen.finding == Finding.FAILED_START
    assert "ZonalAllocationFailed" in seen.detail


@pytest.mark.parametrize(
    ("vm", "log", "reason"),
    [
        (facts(), False, Left.NO_ACTIVITY_LOG),  # who deallocated it cannot be known: never undone blindly
        (facts(changed_at=None), True, Left.NO_STATE_TIME),  # no stable time: it would be a new signal every sweep
        (facts(provisioning_failed="OperationNotAllowed"), True, Left.NOT_CAPACITY),  # quota: waiting cannot help
    ],
)
def test_a_vm_the_sweep_cannot_act_on_safely_is_left_with_the_reason(vm: VmFacts, log: bool, reason: Left) -> None:
    seen = look(VM, vm, activity_log=log, clock=LATER)
    assert isinstance(seen, Passed) and seen.reason == reason and seen.vm == VM.id


@pytest.mark.parametrize(
    "vm",
    [
        facts(VmStatus.RUNNING),
        facts(VmStatus.DEALLOCATING),  # in flux: the next sweep sees where it lands
        facts(VmStatus.STOPPED),  # powered off but allocated: a person did that
        facts(eviction_policy="Delete"),  # on its way out: the roster notices when it is gone
    ],
)
def test_nothing_else_is_a_candidate(vm: VmFacts) -> None:
    assert look(VM, vm, activity_log=True, clock=LATER) is None


def test_only_spot_vms_in_scope_without_the_ignore_tag_are_watched() -> None:
    assert watched(VM, facts(), SCOPE)
    assert not watched(VM, facts(priority="Regular"), SCOPE)
    assert not watched(VM, facts(tags={"respot:ignore": "true"}), SCOPE)
    assert not watched(VmRef("99999999-2222-3333-4444-555555555555", "rg", "vm1"), facts(), SCOPE)
    assert not watched(VM, facts(), Scope(frozenset({SUB}), frozenset({"other-rg"})))


def test_ten_sweeps_of_an_unchanged_vm_start_one_recovery() -> None:
    signal = look(VM, facts(), activity_log=True, clock=LATER).signal  # type: ignore[union-attr]
    assert route(signal, []).route == Route.START
    # It concluded (a person deallocated the VM) after the state change: the same state is its own signal again.
    done = RecoveryRecord(recovery_id(VM, 1), 1, False, None, T0 + timedelta(minutes=2), frozenset({signal.key}))
    for _ in range(9):
        again = look(VM, facts(), activity_log=True, clock=LATER).signal  # type: ignore[union-attr]
        assert route(again, [done]).route == Route.DUPLICATE


def test_the_same_state_is_late_for_a_recovery_an_alert_started_and_a_new_change_opens_the_next() -> None:
    alerted = RecoveryRecord(recovery_id(VM, 1), 1, False, None, T0 + timedelta(minutes=20), frozenset({"eg:1"}))
    same = look(VM, facts(), activity_log=True, clock=LATER).signal  # type: ignore[union-attr]
    assert route(same, [alerted]).route == Route.LATE
    evicted_again = look(VM, facts(changed_at=iso(T0 + timedelta(hours=3))), activity_log=True, clock=LATER).signal  # type: ignore[union-attr]
    assert (route(evicted_again, [alerted]).route, route(evicted_again, [alerted]).seq) == (Route.START, 2)


def test_a_recovery_looks_for_what_a_person_did_from_before_the_sweeps_time() -> None:
    signal = look(VM, facts(), activity_log=True, clock=LATER).signal  # type: ignore[union-attr]
    assert signal.since == T0 - SWEEP_LOOKBACK  # the deallocation began before the time its end was recorded
    assert Signal(VM, Source.EVENT_GRID, "e", T0).since == T0


def test_a_member_on_the_roster_that_is_not_listed_now_is_missing_since_it_was_last_seen() -> None:
    other = VmRef(SUB, "rg", "vm2")
    roster = {VM.id: {"fleet": "web", "seen": iso(T0)}, other.id: {"fleet": "web", "seen": iso(T0)}}
    [gone] = missing(roster, {other.id}, SCOPE, frozenset())
    assert (gone.vm, gone.finding, gone.occurred_at, gone.fleet) == (VM, Finding.MISSING, T0, "web")
    assert gone.signal.event_id == f"missing@{iso(T0)}"  # the next sweep, if it still had it, sends the same
    assert missing(roster, {other.id}, Scope(frozenset({SUB}), frozenset({"elsewhere"})), frozenset()) == []


def test_the_roster_is_set_whole_and_refuses_what_is_not_a_roster() -> None:
    members = {VM.id: {"fleet": "web", "seen": iso(T0)}}
    state, _ = roster_op(None, "set", {"members": members})
    assert roster_op(state, "get", None) == (members, members)
    with pytest.raises(InvalidInput):
        roster_op(state, "set", {"members": {VM.id: {"fleet": "web", "seen": "yesterday"}}})
    with pytest.raises(InvalidInput):
        roster_op(state, "forget", {})


def test_one_record_per_scheduled_minute() -> None:
    assert sweep_id(datetime(2026, 12, 1, 12, 5, 0, 400, tzinfo=UTC)) == "respot-sweep-20261201T1205Z"


def test_a_vm_still_being_created_or_whose_create_failed_is_not_put_on_the_roster() -> None:
    vms = {status: (VmRef(SUB, "rg", status.value), facts(status)) for status in VmStatus}
    on_roster = settled(list(vms.values()))
    left_off = {VmStatus.CREATING, VmStatus.FAILED}
    assert {s for s, (ref, _) in vms.items() if ref.id not in on_roster} == left_off


def test_a_member_being_deleted_goes_on_the_roster_so_the_next_sweep_misses_it() -> None:
    """A Delete-policy eviction lists the member as Deleting, even one created since the last sweep; a VM respot
    deletes itself is marked forgotten instead (the review found the first-seen-Deleting rule hid such an eviction)."""
    codes = ["ProvisioningState/deleting", "PowerState/running"]
    deleting = facts(status_of(codes), codes=codes, eviction_policy="Delete")
    assert deleting.status == VmStatus.DELETING and settled([(VM, deleting)]) == {VM.id}


def test_a_running_member_whose_extension_failed_stays_on_the_roster_and_a_failed_create_does_not() -> None:
    codes = {
        "extension": ["ProvisioningState/failed/VMExtensionProvisioningError", "PowerState/running"],
        "create": ["ProvisioningState/failed/AllocationFailed"],
        "timed-out": ["ProvisioningState/failed/OSProvisioningTimedOut", "PowerState/starting"],
    }
    vms = [(VmRef(SUB, "rg", name), facts(status_of(c), codes=c)) for name, c in codes.items()]
    assert all(f.status == VmStatus.FAILED for _, f in vms)
    assert {ref.name for ref, _ in vms if ref.id in settled(vms)} == {"extension"}


def test_a_failed_create_shown_deallocated_is_not_put_on_the_roster() -> None:
    """ARM may show a create that failed for capacity beside PowerState/deallocated, as a failed start (the emulator
    does). A sweep between that failure and respot's delete of the VM must not roster it: the next sweep would
    miss it and start a recovery for a VM respot deleted itself (the chaos soak found one, ignored/user_deleted)."""
    codes = ["ProvisioningState/failed/AllocationFailed", "PowerState/deallocated"]
    failed = facts(status_of(codes), codes=codes, provisioning_failed="AllocationFailed", eviction_policy="Delete")
    assert failed.status == VmStatus.DEALLOCATED
    assert settled([(VM, failed)]) == set()


def test_an_instance_is_missed_only_when_its_set_was_swept_and_kept_while_its_set_was_not() -> None:
    pool = VmRef(SUB, "rg", "pool_0", "pool", "0")
    gone_set = VmRef(SUB, "rg", "gone_0", "gone", "0")
    roster = {r.id: {"fleet": "", "seen": iso(T0)} for r in (pool, gone_set)}
    [lost] = missing(roster, set(), SCOPE, frozenset({str(pool.scale_set_id)}))
    assert lost.vm == pool and "scale set 'pool'" in lost.detail
    assert missing(roster, set(), SCOPE, frozenset()) == []  # no set's instances listed: nothing concluded
    # pool's instances were not listed (the read failed), gone was not listed at all (deleted): pool's are kept.
    assert set(unswept(roster, frozenset(), frozenset({str(pool.scale_set_id)}))) == {pool.id}
    assert set(unswept(roster, frozenset(), None)) == {pool.id, gone_set.id}  # the set list itself failed


def test_a_state_older_than_the_maximum_age_is_stale_and_one_younger_than_the_log_delay_is_held() -> None:
    old = look(VM, facts(), activity_log=True, clock=Clock(T0 + models.SWEEP_MAX_AGE + timedelta(seconds=1)))
    assert isinstance(old, Passed) and old.reason == Left.STALE
    delay = timedelta(minutes=20)
    young = look(VM, facts(), activity_log=True, clock=Clock(T0 + timedelta(minutes=19), delay))
    assert isinstance(young, Passed) and young.reason == Left.HELD and iso(T0 + delay) in young.detail
    assert isinstance(look(VM, facts(), activity_log=True, clock=Clock(T0 + delay, delay)), Candidate)


def test_a_missing_member_is_due_once_it_has_been_missed_for_the_log_delay() -> None:
    delay = timedelta(minutes=20)
    roster = {VM.id: {"fleet": "web", "seen": iso(T0)}}
    [gone] = missing(roster, set(), SCOPE, frozenset())
    ready, kept, held = due(roster, [gone], Clock(T0 + timedelta(minutes=5), delay))
    assert ready == [] and kept == {VM.id: {"fleet": "web", "seen": iso(T0), "gone": iso(T0 + timedelta(minutes=5))}}
    assert [p.reason for p in held] == [Left.HELD]
    assert roster_op({}, "set", {"members": kept})[0] == kept  # the roster entity keeps when it was first missed
    ready, kept, _ = due(kept, [gone], Clock(T0 + timedelta(minutes=25), delay))
    assert ready == [gone] and kept == {}


def test_a_member_respot_deletes_is_forgotten_even_when_a_sweep_listed_it_before_the_delete() -> None:
    """The move (or a failed create's delete) tells the roster; a sweep that listed the VM before the delete, or
    while it ran, sets it again, and it stays forgotten: the next sweep misses nothing, so no recovery blames a
    person for respot's own delete (the e2e return-to-Spot move found one)."""
    at = T0 + timedelta(minutes=1)
    listed = {VM.id: {"fleet": "web", "seen": iso(T0), "created": iso(T0 - timedelta(hours=2))}}
    state, _ = roster_op(None, "set", {"members": listed})
    state, _ = roster_op(state, "forget", {"id": VM.id.upper(), "at": iso(at)})
    assert state[VM.id] == {**listed[VM.id], "forgotten": iso(at)}
    state, _ = roster_op(state, "set", {"members": listed})  # that sweep's set came after the forget
    assert state[VM.id]["forgotten"] == iso(at)
    assert missing(state, set(), SCOPE, frozenset()) == []  # gone now: not missed
    later = {"other": {"fleet": "web", "seen": iso(T0 + timedelta(minutes=10))}}
    state, _ = roster_op(state, "set", {"members": later})
    assert state[VM.id]["forgotten"] == iso(at) and missing(state, {"other"}, SCOPE, frozenset()) == []


def test_a_vm_created_again_under_a_forgotten_name_is_a_member_and_a_mark_lasts_a_day() -> None:
    at = T0 + timedelta(minutes=1)
    state, _ = roster_op(None, "forget", {"id": VM.id, "at": iso(at)})
    assert state == {VM.id: {"fleet": "", "seen": iso(at), "forgotten": iso(at)}}  # never on it: marked anyway
    again = {VM.id: {"fleet": "web", "seen": iso(T0 + timedelta(hours=1)), "created": iso(at + timedelta(minutes=5))}}
    assert roster_op(state, "set", {"members": again})[0] == again
    unknown = {VM.id: {"fleet": "web", "seen": iso(T0 + timedelta(hours=1))}}  # no timeCreated: still forgotten
    assert roster_op(state, "set", {"members": unknown})[0][VM.id]["forgotten"] == iso(at)
    past = {"other": {"fleet": "web", "seen": iso(at + FORGET_FOR + timedelta(minutes=5))}}
    assert roster_op(state, "set", {"members": past})[0] == past


def test_forget_refuses_what_is_not_a_vm_id_and_a_time() -> None:
    for bad in (None, {}, {"id": VM.id}, {"id": "", "at": iso(T0)}, {"id": VM.id, "at": "soon"}, {"id": 7}):
        with pytest.raises(InvalidInput):
            roster_op({}, "forget", bad)


def test_a_delete_that_did_not_happen_is_unforgotten_and_marks_expire_by_the_sweeps_own_time() -> None:
    at = T0 + timedelta(minutes=1)
    member = {VM.id: {"fleet": "web", "seen": iso(T0), "created": iso(T0 - timedelta(days=3))}}
    state, _ = roster_op(None, "set", {"members": member, "at": iso(T0)})
    state, _ = roster_op(state, "forget", {"id": VM.id, "at": iso(at)})
    state, _ = roster_op(state, "unforget", {"id": VM.id})  # the move kept it: its eviction must be missed again
    assert state == member and [c.vm for c in missing(state, set(), SCOPE, frozenset())] == [VM]
    assert roster_op(state, "unforget", {"id": "/subscriptions/x/vm/none"})[0] == state
    state, _ = roster_op(state, "forget", {"id": VM.id, "at": iso(at)})
    nobody: dict[str, dict[str, str]] = {}  # a subscription that lists no member: the sweep's own time expires marks
    assert roster_op(state, "set", {"members": nobody, "at": iso(at + timedelta(hours=1))})[0] == {
        VM.id: {**member[VM.id], "forgotten": iso(at)}
    }
    assert roster_op(state, "set", {"members": nobody, "at": iso(at + FORGET_FOR + timedelta(minutes=1))})[0] == {}


def test_marks_past_the_rosters_size_go_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.domain import sweep

    monkeypatch.setattr(sweep, "MAX_ROSTER", 3)
    state: dict[str, dict[str, str]] = {}
    for i in range(3):
        state, _ = roster_op(state, "forget", {"id": f"vm{i}", "at": iso(T0 + timedelta(minutes=i))})
    listed = {"a": {"fleet": "web", "seen": iso(T0 + timedelta(hours=1))}}
    assert set(roster_op(state, "set", {"members": listed})[0]) == {"a", "vm2", "vm1"}  # vm0, the oldest, goes
    assert roster_op(state, "forget", {"id": "vm9", "at": iso(T0)})[0] == state  # full: nothing pushed out
