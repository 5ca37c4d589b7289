"""The identity of a recovery: which recovery a signal belongs to (start, join, duplicate, late)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.domain.identity import RecoveryRecord, Route, recovery_id, recovery_prefix, route, seq_of
from orchestrator.domain.models import Signal, Source, VmRef

SUB = "11111111-2222-3333-4444-555555555555"
VM = VmRef(SUB, "rg", "vm1")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sig(at: datetime, source: Source = Source.EVENT_GRID, event_id: str = "e") -> Signal:
    return Signal(VM, source, event_id, at)


def record(
    seq: int,
    *,
    active: bool,
    opened: datetime | None = None,
    concluded: datetime | None = None,
    keys: frozenset[str] = frozenset(),
) -> RecoveryRecord:
    return RecoveryRecord(
        recovery_id(VM, seq), seq, active, opened, concluded, keys, "recovered" if concluded else None
    )


def test_ids_are_per_vm_and_sequence() -> None:
    other = VmRef(SUB, "rg", "vm2")
    assert recovery_id(VM, 1).startswith(recovery_prefix(VM)) and recovery_id(VM, 1) != recovery_id(other, 1)
    assert recovery_id(VM, 12).endswith("-0012") and seq_of(recovery_id(VM, 12), VM) == 12
    assert seq_of(recovery_id(other, 1), VM) is None and seq_of(recovery_prefix(VM) + "x", VM) is None


def test_the_first_signal_starts_recovery_1() -> None:
    routing = route(sig(T0), [])
    assert (routing.route, routing.seq, routing.instance_id) == (Route.START, 1, recovery_id(VM, 1))


def test_signals_of_the_same_eviction_join_the_working_recovery() -> None:
    working = record(1, active=True)
    assert route(sig(T0, Source.ACTIVITY_LOG, "a"), [working]).route == Route.JOIN


def test_a_redelivery_already_recorded_is_a_duplicate() -> None:
    working = record(1, active=True, keys=frozenset({"event-grid:e"}))
    assert route(sig(T0), [working]).route == Route.DUPLICATE


def test_a_lagging_signal_joins_while_the_recovery_settles_and_is_late_once_it_finished() -> None:
    settling = record(1, active=True, concluded=T0 + timedelta(minutes=3))
    assert route(sig(T0, Source.ACTIVITY_LOG, "a"), [settling]).route == Route.JOIN
    finished = record(1, active=False, concluded=T0 + timedelta(minutes=3))
    late = route(sig(T0, Source.ACTIVITY_LOG, "a"), [finished])
    assert (late.route, late.instance_id) == (Route.LATE, recovery_id(VM, 1))


def test_an_eviction_after_the_last_conclusion_starts_the_next_recovery_linked_to_it() -> None:
    finished = record(1, active=False, concluded=T0 + timedelta(minutes=3))
    routing = route(sig(T0 + timedelta(hours=1)), [finished])
    assert (routing.route, routing.seq, routing.previous) == (Route.START, 2, finished)
    still_settling = record(1, active=True, concluded=T0 + timedelta(minutes=3))
    assert route(sig(T0 + timedelta(minutes=5)), [still_settling]).route == Route.START


def test_a_late_signal_of_an_older_eviction_goes_to_that_recovery_not_the_newest() -> None:
    first = record(1, active=True, concluded=T0 + timedelta(minutes=3))
    second = record(2, active=True, opened=T0 + timedelta(minutes=3))
    routing = route(sig(T0 + timedelta(minutes=1), Source.ACTIVITY_LOG, "a"), [first, second])
    assert (routing.route, routing.seq) == (Route.JOIN, 1)
    assert route(sig(T0 + timedelta(minutes=4), Source.ACTIVITY_LOG, "b"), [first, second]).seq == 2


def test_records_are_read_from_custom_status_or_output_and_rejected_inputs_are_not_recoveries() -> None:
    status = {"seq": 1, "concludedAt": "2026-03-01T12:03:00Z", "signals": ["event-grid:e"], "outcome": "recovered"}
    got = RecoveryRecord.from_status(VM, recovery_id(VM, 1), "Running", status, None)
    assert got is not None and got.active and got.concluded_at == T0 + timedelta(minutes=3)
    assert got.signal_keys == {"event-grid:e"}
    output = {"concludedAt": "2026-03-01T12:03:00Z", "signals": [{"source": "event-grid", "eventId": "e"}]}
    done = RecoveryRecord.from_status(VM, recovery_id(VM, 1), "Completed", output, None)
    assert done is not None and not done.active and done.signal_keys == {"event-grid:e"}
    failed = RecoveryRecord.from_status(VM, recovery_id(VM, 1), "Failed", "boom", T0)
    assert failed is not None and failed.concluded_at == T0  # its window ends where it stopped
    assert RecoveryRecord.from_status(VM, "respot-elsewhere-0001", "Completed", {}, None) is None
    rejected = {"outcome": "rejected", "concludedAt": None}
    assert RecoveryRecord.from_status(VM, recovery_id(VM, 3), "Completed", rejected, T0) is None


def test_a_recovery_full_of_signals_takes_no_more() -> None:
    full = record(1, active=True, keys=frozenset(f"event-grid:{i}" for i in range(20)))
    assert route(sig(T0, event_id="new"), [full]).route == Route.SATURATED
    assert route(sig(T0, event_id="3"), [full]).route == Route.DUPLICATE


def test_a_redelivery_is_a_duplicate_even_when_its_time_is_after_the_conclusion() -> None:
    finished = record(1, active=False, concluded=T0 - timedelta(seconds=30), keys=frozenset({"event-grid:e"}))
    assert route(sig(T0), [finished]).route == Route.DUPLICATE  # a clock ahead of ours, the same event


def test_a_recovery_covers_its_own_signals_times_even_past_its_conclusion() -> None:
    # An agent's notice is dated NotBefore; a recovery that concluded before it still owns that moment.
    noticed = RecoveryRecord(
        recovery_id(VM, 1), 1, True, None, T0, frozenset({"in-vm-agent:n"}), "ignored", T0 + timedelta(seconds=30)
    )
    assert route(sig(T0 + timedelta(seconds=20), Source.EVENT_GRID, "eg"), [noticed]).route == Route.JOIN
    assert route(sig(T0 + timedelta(seconds=31), Source.EVENT_GRID, "eg"), [noticed]).route == Route.START


def test_a_recovery_that_has_not_published_yet_opened_where_the_one_before_concluded() -> None:
    first = record(1, active=True, concluded=T0 + timedelta(minutes=3))
    pending = RecoveryRecord(recovery_id(VM, 2), 2, True)  # just started: no custom status yet
    late_for_first = route(sig(T0 + timedelta(minutes=1), Source.ACTIVITY_LOG, "a"), [first, pending])
    assert (late_for_first.route, late_for_first.seq) == (Route.JOIN, 1)
    assert route(sig(T0 + timedelta(minutes=5), Source.ACTIVITY_LOG, "b"), [first, pending]).seq == 2


def test_ids_intake_never_made_are_not_recoveries() -> None:
    for tail in ("\u00b2", "\u0663", "1", "1234567", "0001x"):
        assert seq_of(recovery_prefix(VM) + tail, VM) is None
