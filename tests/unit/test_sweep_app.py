"""One sweep against small simulators of the durable client and of ARM: what it admits, what its roster keeps when
something does not answer, and its record."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.app.sweep import Ports, run
from orchestrator.domain.fleet import Fleets
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.models import VmRef, iso
from orchestrator.workflows import names
from tests.unit.fakes import SUB, FakeCompute, FakeScaleSets, settings
from tests.unit.test_intake import DurableError, FakeDurableClient, Runtime, Status

NOW = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
VM = VmRef(SUB, "rg", "vm1")
GONE = VmRef(SUB, "rg", "web-9")
MINUTE = timedelta(minutes=1)


@dataclass
class Entity:
    exists: bool
    state: Any

    @property
    def entity_exists(self) -> bool:
        return self.exists

    @property
    def entity_state(self) -> Any:
        return self.state


@dataclass
class SweepClient(FakeDurableClient):
    """The intake simulator, with entities: ``signals`` sent, ``states`` read (``unreadable``: the read fails)."""

    states: dict[str, Any] = field(default_factory=dict)
    signals: list[tuple[str, str, Any]] = field(default_factory=list)
    unreadable: bool = False

    async def start_new(self, name: str, instance_id: str, payload: Any) -> str:
        if name == names.SWEEP_RECORD:
            self.instances[instance_id] = Status(instance_id, Runtime.Completed, output=payload)
            return instance_id
        return await super().start_new(name, instance_id, payload)

    async def signal_entity(self, entity: Any, operation: str, payload: Any) -> None:
        self.signals.append((f"{entity.name}/{entity.key}", operation, payload))

    async def read_entity_state(self, entity: Any) -> Entity:
        if self.unreadable:
            raise DurableError("the task hub is not available")
        key = f"{entity.name}/{entity.key}"
        return Entity(key in self.states, self.states.get(key))


def sweep(client: SweepClient, compute: FakeCompute, **values: Any) -> dict[str, Any] | None:
    ports = Ports(settings(**values), Fleets(), compute, FakeScaleSets())
    return asyncio.run(run(client, NOW, ports))  # type: ignore[arg-type]


def world() -> tuple[SweepClient, FakeCompute]:
    compute = FakeCompute(now=NOW)
    compute.add(VM, changed_at="2026-03-01T11:41:00Z")  # deallocated by an eviction whose alert was lost
    gone = {"fleet": "web", "seen": iso(NOW - 5 * MINUTE), "gone": iso(NOW - 20 * MINUTE)}  # missed 20 minutes ago
    client = SweepClient(states={f"roster/{SUB}": {GONE.id: gone}})
    return client, compute


def test_a_sweep_starts_a_recovery_for_a_deallocated_vm_and_for_a_member_gone_since_the_last() -> None:
    client, compute = world()
    out = sweep(client, compute, log_workspace_id="w")
    assert out is not None and out["counts"] == {"lookedAt": 1, "found": 2, "passed": 0, "start": 2}
    assert {(e["vm"], e["finding"]) for e in out["found"]} == {(VM.id, "deallocated"), (GONE.id, "missing")}
    assert {recovery_id(VM, 1), recovery_id(GONE, 1)} <= set(client.instances)
    [(_, _, roster)] = [s for s in client.signals if s[0] == f"roster/{SUB}"]
    assert roster == {"members": {}, "at": iso(NOW)}  # the gone member was handed over; vm1 is no fleet member


def test_an_unreadable_roster_is_left_as_it_was_and_the_record_says_so() -> None:
    client, compute = world()
    client.unreadable = True
    out = sweep(client, compute, log_workspace_id="w")
    assert out is not None and [e["finding"] for e in out["found"]] == ["deallocated"]
    assert not [s for s in client.signals if s[0].startswith("roster/")]  # nothing overwrites what it could not read
    assert any("roster" in e for e in out["errors"])


def test_a_missing_member_the_backend_did_not_take_stays_on_the_roster() -> None:
    client, compute = world()
    client.refuse_starts = True
    out = sweep(client, compute, log_workspace_id="w")
    assert out is not None and {e["route"] for e in out["found"]} == {"backend_unavailable"}
    [(_, _, roster)] = [s for s in client.signals if s[0] == f"roster/{SUB}"]
    assert set(roster["members"]) == {GONE.id}  # the next sweep tries again


def test_without_an_activity_log_a_deallocated_vm_is_left_with_the_reason() -> None:
    client, compute = world()
    out = sweep(client, compute)
    assert out is not None and [p["reason"] for p in out["passed"]] == ["no_activity_log"]
    assert recovery_id(VM, 1) not in client.instances


def test_a_second_run_of_the_same_occurrence_does_nothing() -> None:
    client, compute = world()
    assert sweep(client, compute, log_workspace_id="w") is not None
    starts = client.starts
    assert sweep(client, compute, log_workspace_id="w") is None and client.starts == starts


def test_what_changed_less_than_the_log_delay_ago_is_held_and_a_member_missed_stays_on_the_roster_until_then() -> None:
    client, compute = world()
    compute.add(VM, changed_at=iso(NOW - 19 * MINUTE))  # the Activity Log may not have what led here yet
    just_seen = {"fleet": "web", "seen": iso(NOW - 5 * MINUTE)}
    client.states[f"roster/{SUB}"] = {GONE.id: just_seen}
    out = sweep(client, compute, log_workspace_id="w")
    assert out is not None and out["found"] == [] and client.starts == 0
    assert {(p["vm"], p["reason"]) for p in out["passed"]} == {
        (VM.id, "held_for_activity_log"),
        (GONE.id, "held_for_activity_log"),
    }
    [(_, _, roster)] = [s for s in client.signals if s[0] == f"roster/{SUB}"]
    assert roster["members"] == {GONE.id: {**just_seen, "gone": iso(NOW)}}  # kept, with when it was first missed


def test_with_no_log_delay_a_fresh_state_is_acted_on_at_once() -> None:
    client, compute = world()
    compute.add(VM, changed_at=iso(NOW - MINUTE))
    out = sweep(client, compute, log_workspace_id="w", activity_log_delay_minutes=0)
    assert out is not None and {e["vm"] for e in out["found"]} == {VM.id, GONE.id}


def test_the_sweeps_time_is_the_occurrence_due_now_not_the_previous_run() -> None:
    from azure.functions.timer import TimerRequest

    from orchestrator.app.sweep import fired_at

    previous, due = "2026-03-01T12:00:00.0000123+00:00", "2026-03-01T12:05:00+00:00"
    status = {"Last": previous, "Next": due, "LastUpdated": previous}  # as Azure hands it: from before this run
    assert fired_at(TimerRequest(schedule_status=status)) == NOW
    missed = fired_at(TimerRequest(past_due=True, schedule_status=status))  # Next is the occurrence missed
    assert abs(missed - datetime.now(UTC)) < timedelta(minutes=1)
    assert abs(fired_at(TimerRequest()) - datetime.now(UTC)) < timedelta(minutes=1)  # no schedule monitoring
