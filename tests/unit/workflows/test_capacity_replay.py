"""The capacity strategy replayed by azure-functions-durable, with the real scaleset entity operations: one PATCH
per eviction wave, Try & restore and autoscale left alone, a person's scale-in never undone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions import EntityId

from orchestrator.domain import capacity
from orchestrator.domain.models import VmRef, iso
from orchestrator.workflows.capacity import restore_capacity
from tests.unit.fakes import SUB, T0, FakeScaleSet, World
from tests.unit.workflows.driver import Driver, Entities

SET = "pool"
KEY = capacity.scale_set_key(SUB, "rg", SET)


def instance(n: int) -> VmRef:
    return VmRef(SUB, "rg", f"{SET}_{n}", SET, str(n))


def restore(context: Any) -> Any:
    return restore_capacity(context, EntityId)


def entities(seen: int | None = 10) -> Entities:
    shared = Entities({capacity.SCALESET: capacity.scaleset_op})
    if seen is not None:
        shared.run(f"@{capacity.SCALESET}@{KEY}", "seen", {"capacity": seen, "at": iso(T0 - timedelta(minutes=3))})
    return shared


def drive(
    w: World, n: int, shared: Entities, on_tick: Any = None, start: datetime = T0
) -> tuple[dict[str, Any], Driver]:
    data = {"vm": instance(n).to_dict(), "scale_set": SET, "since": iso(start)}
    recovery = f"respot-{n:016x}-0001"
    d = Driver(
        restore, data, f"{recovery}:capacity", start, w.activity, on_tick=on_tick or w.compute.tick, entities=shared
    )
    return d.run(), d


def test_a_wave_of_evictions_gets_its_capacity_back_in_one_patch() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=7)  # three Delete-policy instances gone with their eviction
    shared = entities(seen=10)
    joined = []

    def tick(now: datetime) -> None:  # the wave's other recoveries claim while the owner gathers
        w.compute.tick(now)
        if not joined and now >= T0 + timedelta(seconds=10):  # after the first recovery claimed it
            for n in (2, 3):
                joined.append(shared.run(f"@{capacity.SCALESET}@{KEY}", "claim", {"by": f"r{n}", "at": iso(now)})[1])

    out, _ = drive(w, 1, shared, on_tick=tick)
    assert (out["outcome"], out["reason"]) == ("recovered", "capacity_restored")
    assert w.scale_sets.log == [(SET, 10)] and w.scale_sets.sets[SET].capacity == 10
    assert out["capacity"] == {"scaleSet": SET, "before": 7, "target": 10, "lost": 3}
    assert all(j["owner"] == "respot-0000000000000001-0001" for j in joined)


def test_a_recovery_that_joins_an_open_wave_writes_nothing_and_names_the_owner() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=7)
    shared = entities()
    shared.run(f"@{capacity.SCALESET}@{KEY}", "claim", {"by": "respot-owner-0001", "at": iso(T0)})
    out, _ = drive(w, 2, shared, start=T0 + timedelta(seconds=5))
    assert (out["outcome"], out["reason"]) == ("ignored", "wave_joined")
    assert "respot-owner-0001" in out["detail"] and w.scale_sets.log == []


def test_try_and_restore_is_left_to_the_platform_with_the_reason() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=7, restore=True)
    out, _ = drive(w, 1, entities())
    assert (out["outcome"], out["reason"]) == ("ignored", "try_and_restore")
    assert w.scale_sets.log == []


def test_an_autoscaled_set_is_left_to_autoscale_naming_the_setting() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=7, autoscale=("pool-autoscale",))
    out, _ = drive(w, 1, entities())
    assert (out["outcome"], out["reason"]) == ("ignored", "autoscaled")
    assert "pool-autoscale" in out["detail"] and w.scale_sets.log == []


def test_a_persons_scale_in_since_the_sweep_is_never_undone() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=4)  # the sweep saw 10; a person scaled to 5; one eviction
    out, _ = drive(w, 1, entities(seen=10))
    assert out["outcome"] == "recovered" and w.scale_sets.log == [(SET, 5)]


def test_a_patch_that_fails_for_capacity_waits_and_asks_again_for_the_same_count() -> None:
    w = World()
    w.scale_sets.sets[SET] = FakeScaleSet(capacity=9)
    w.scale_sets.patch_code = "AllocationFailed"
    w2 = w.with_settings(retry_deadline_hours=1)
    shared = entities(seen=10)

    def tick(now: datetime) -> None:
        w2.compute.tick(now)
        if now >= T0 + timedelta(minutes=5):
            w2.scale_sets.patch_code = None  # capacity comes back

    out, d = drive(w2, 1, shared, on_tick=tick)
    assert (out["outcome"], out["reason"]) == ("recovered", "capacity_restored")
    assert {c for _, c in w2.scale_sets.log} == {10} and len(w2.scale_sets.log) >= 2
    assert max((f - m).total_seconds() for m, f in d.timers) >= 60  # the backoff, never a tight loop


def test_scaleset_entity_keeps_the_sweeps_capacity_while_a_wave_is_open() -> None:
    state, _ = capacity.scaleset_op(None, "seen", {"capacity": 10, "at": iso(T0)})
    state, wave = capacity.scaleset_op(state, "claim", {"by": "a", "at": iso(T0)})
    state, _ = capacity.scaleset_op(state, "seen", {"capacity": 7, "at": iso(T0 + timedelta(minutes=1))})
    assert state["seen"] == 10 and wave["owner"] == "a" and wave["lost"] == 1
    state, again = capacity.scaleset_op(state, "claim", {"by": "a", "at": iso(T0 + timedelta(minutes=1))})
    assert again["lost"] == 1  # the same recovery counts once
    state, _ = capacity.scaleset_op(state, "close", {"by": "a"})
    _, fresh = capacity.scaleset_op(state, "claim", {"by": "b", "at": iso(T0 + timedelta(minutes=2))})
    assert fresh["owner"] == "b" and fresh["lost"] == 1


def test_the_target_is_what_the_sweep_saw_at_most_what_the_eviction_took() -> None:
    assert capacity.target(10, 7, 3) == 10
    assert capacity.target(10, 4, 1) == 5
    assert capacity.target(None, 7, 3) == 10
    assert capacity.target(3, 7, 1) == 7  # never below what it is now


def test_a_claim_after_the_owner_fixed_its_target_opens_a_wave_of_its_own() -> None:
    state, _ = capacity.scaleset_op(None, "claim", {"by": "a", "at": iso(T0)})
    state, _ = capacity.scaleset_op(state, "fix", {"by": "a"})
    state, late = capacity.scaleset_op(state, "claim", {"by": "b", "at": iso(T0 + timedelta(minutes=2))})
    assert late["owner"] == "b" and late["lost"] == 1  # b's instance is not in a's target: b restores it
    _, again = capacity.scaleset_op(state, "claim", {"by": "a", "at": iso(T0 + timedelta(minutes=2))})
    assert again["owner"] == "b"  # a joins b's wave now


def test_a_sweep_between_the_eviction_and_its_alert_does_not_lower_what_it_was() -> None:
    state, _ = capacity.scaleset_op(None, "seen", {"capacity": 3, "at": iso(T0)})
    state, _ = capacity.scaleset_op(state, "seen", {"capacity": 1, "at": iso(T0 + timedelta(minutes=5))})
    _, wave = capacity.scaleset_op(state, "claim", {"by": "a", "at": iso(T0 + timedelta(minutes=6))})
    assert wave["seen"] == 3  # the alert came a minute after the sweep read the evicted capacity
    for minutes in range(10, 70, 5):  # a person's scale-in holds once it outlived SEEN_HOLD
        state, _ = capacity.scaleset_op(state, "seen", {"capacity": 1, "at": iso(T0 + timedelta(minutes=minutes))})
    assert state["seen"] == 1 and len(state["readings"]) == 12
