"""The restart strategy replayed by azure-functions-durable, answered by the real activities over a fake Compute.

Every wait is a durable timer (the Driver records them); ARM trouble never fails the orchestration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.durable_functions import EntityId

from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.limiter import ARM_THROTTLED, LIMITER, limiter_op
from orchestrator.domain.models import VmStatus, iso, parse_iso
from orchestrator.workflows import names
from orchestrator.workflows.pacing import COSTS
from orchestrator.workflows.restart import restart_vm
from tests.unit.fakes import T0, World, vm_ref
from tests.unit.workflows.driver import Driver, Entities

VM = vm_ref()


def drive(world: World, **extra: Any) -> tuple[dict[str, Any], Driver]:
    data = {"vm": VM.to_dict(), "since": iso(T0), "size": "Standard_D2s_v5", **extra}
    driver = Driver(restart_vm, data, "respot-x-0001:restart", T0, world.activity, on_tick=world.compute.tick)
    return driver.run(), driver


def evicted_world(**settings: Any) -> World:
    world = World().with_settings(**settings) if settings else World()
    world.compute.add(VM)
    return world


def throttled(retry_after: float) -> ArmFailure:
    return ArmFailure(Failure.THROTTLED, "TooManyRequests", "throttled", 429, retry_after)


def test_a_capacity_failure_waits_on_the_backoff_then_the_vm_comes_back() -> None:
    world = evicted_world()
    world.compute.capacity = False
    out, driver = drive_with_capacity_after(world, minutes=5)
    assert out["outcome"] == "recovered" and out["lastError"] is None
    runs = out["story"]["runs"]
    assert runs[0]["result"] == "capacity" and runs[0]["code"] == "ZonalAllocationFailed" and runs[0]["count"] >= 2
    assert runs[-1]["result"] == "succeeded"
    assert world.compute.count("start") == runs[0]["count"] + 1
    assert all(fire > created for created, fire in driver.timers)


def drive_with_capacity_after(world: World, minutes: float) -> tuple[dict[str, Any], Driver]:
    """Capacity returns ``minutes`` after the start: the fake's clock follows the Driver's."""
    returns_at = T0 + timedelta(minutes=minutes)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        follow(now)
        if now >= returns_at:
            world.compute.capacity = True

    data = {"vm": VM.to_dict(), "since": iso(T0), "size": "Standard_D2s_v5"}
    driver = Driver(restart_vm, data, "respot-x-0001:restart", T0, world.activity, on_tick=tick)
    return driver.run(), driver


def test_no_activity_waits_for_the_start_operation_the_orchestration_polls_it() -> None:
    world = evicted_world()
    out, driver = drive(world)
    assert out["outcome"] == "recovered"
    names_called = [name for name, _ in driver.calls]
    assert names_called.count(names.TRY_START) == 1 and names_called.count(names.CHECK_OPERATION) >= 1
    assert world.compute.count("start") == 1  # one POST; the LRO was watched from the orchestration


def test_a_429_with_retry_after_1200_on_the_start_is_a_durable_timer_of_at_least_1200_s() -> None:
    world = evicted_world()
    world.compute.fail_next("start", throttled(1200))
    out, driver = drive(world)
    assert out["outcome"] == "recovered" and out["lastError"] is None
    waits = [(fire - created).total_seconds() for created, fire in driver.timers]
    assert max(waits) >= 1200
    first = out["story"]["runs"][0]
    assert (first["action"], first["result"], first["code"]) == ("start", "throttled", "TooManyRequests")
    assert world.compute.count("start") == 2


def test_an_operation_failing_with_an_unknown_code_is_retried_not_a_configuration_error() -> None:
    world = evicted_world()
    world.compute.fail_next("operation", "SomethingNew")
    out, _ = drive(world)
    assert out["outcome"] == "recovered"
    assert out["story"]["runs"][0]["result"] == "unknown" and out["story"]["runs"][0]["code"] == "SomethingNew"


def test_an_unknown_code_that_keeps_coming_back_fails_after_a_bounded_count_with_the_code() -> None:
    world = evicted_world()
    for _ in range(10):
        world.compute.fail_next("operation", "SomethingNew")
    out, _ = drive(world)
    assert (out["outcome"], out["reason"]) == ("failed", "unknown_error")
    assert "SomethingNew" in out["detail"] and out["story"]["runs"][0]["count"] == 5


def test_a_read_that_fails_is_waited_out_not_a_failed_recovery() -> None:
    world = evicted_world()
    world.compute.fail_next("facts", ArmFailure(Failure.TRANSIENT, "InternalServerError", "boom", 500))
    world.compute.fail_next("facts", throttled(30))
    out, _driver = drive(world)
    assert out["outcome"] == "recovered"
    assert [r["result"] for r in out["story"]["runs"]][:2] == ["transient", "throttled"]


def test_a_start_sent_without_an_answer_is_not_sent_again_once_it_took() -> None:
    world = evicted_world()
    world.compute.fail_next("start", ("applied", ArmFailure(Failure.NO_ANSWER, "NoAnswer", "connection dropped")))
    out, _ = drive(world)
    assert out["outcome"] == "recovered" and out["reason"] == "evicted"
    assert world.compute.count("start") == 1  # the guard read saw it starting: respot's own, not "someone else"


def test_someone_else_starting_it_stops_the_retries() -> None:
    world = evicted_world()
    world.compute.capacity = False
    original = world.compute.tick

    def tick(now: Any) -> None:
        original(now)
        if now >= T0 + timedelta(minutes=3):
            world.compute.vms[VM.id].status = VmStatus.RUNNING

    data = {"vm": VM.to_dict(), "since": iso(T0), "size": "Standard_D2s_v5"}
    out = Driver(restart_vm, data, "respot-x-0001:restart", T0, world.activity, on_tick=tick).run()
    assert (out["outcome"], out["reason"]) == ("stopped", "started_meanwhile")


def test_quota_gives_up_at_once_and_says_why() -> None:
    world = evicted_world()
    world.compute.fail_next(
        "start", ArmFailure(Failure.QUOTA, "OperationNotAllowed", "exceeding approved lowPriorityCores quota", 409)
    )
    out, _ = drive(world)
    assert (out["outcome"], out["reason"]) == ("failed", "quota") and "quota" in out["detail"]


def test_continue_as_new_keeps_the_whole_attempt_list_and_each_history_stays_short() -> None:
    world = evicted_world(retry_first_seconds=60, retry_cap_seconds=900)
    world.compute.capacity = False
    out, driver = drive_with_capacity_after(world, minutes=24 * 60 - 30)
    assert out["outcome"] == "recovered"
    assert len(driver.executions) >= 5 and out["executions"] == len(driver.executions)
    capacity = out["story"]["runs"][0]
    assert capacity["result"] == "capacity" and capacity["count"] > 90  # a day of tries: one entry, counted
    assert out["story"]["attempts"] == capacity["count"] + 1
    assert max(e.history_events for e in driver.executions) < 100
    import json

    assert len(json.dumps(out)) < 4000  # a few KB, however long it took


def test_the_deadline_ends_it_with_the_last_error() -> None:
    world = evicted_world(retry_deadline_hours=1)
    world.compute.capacity = False
    out, _ = drive(world)
    assert (out["outcome"], out["reason"]) == ("gave_up", "deadline")
    assert out["lastError"]["code"] == "ZonalAllocationFailed"


def test_the_price_raise_policy_lifts_max_price_once_then_starts() -> None:
    world = evicted_world(price_policy="raise", max_price_ceiling=0.2)
    world.compute.fail_next(
        "start", ArmFailure(Failure.PRICE, "SpotPriceGreaterThanProvidedMaxPrice", "price above max", 409)
    )
    out, _ = drive(world)
    assert out["outcome"] == "recovered"
    assert world.compute.vms[VM.id].max_price == 0.2
    assert [r["action"] for r in out["story"]["runs"]] == ["start", "set_max_price", "start"]


def test_an_input_that_is_not_a_vm_is_rejected_without_any_activity() -> None:
    world = evicted_world()
    driver = Driver(restart_vm, {"vm": {"subscription": "x"}}, "id", T0, world.activity)
    out = driver.run()
    assert out["outcome"] == "rejected" and driver.calls == []


def test_crafted_inputs_are_rejected_without_any_activity() -> None:
    world = evicted_world()
    good = {"vm": VM.to_dict(), "since": iso(T0)}
    progress = {"started_at": iso(T0), "since": iso(T0)}
    for data in (
        [1],
        {**good, "progress": {**progress, "story": "abc"}},
        {**good, "progress": {**progress, "story": {"runs": [{"x": 1}]}}},
        {**good, "progress": {**progress, "started_at": "9999-12-31T23:00:00Z"}},
        {**good, "progress": {**progress, "capacity_failures": "many"}},
        {**good, "since": "0001-01-01T00:00:00+01:00"},
    ):
        driver = Driver(restart_vm, data, "x:restart", T0, world.activity)
        assert driver.run()["outcome"] == "rejected" and driver.calls == [], data


def test_an_operation_that_outlasts_an_execution_is_watched_on_by_the_next() -> None:
    world = evicted_world()
    world.compute.start_seconds = 3 * 3600  # a start that takes three hours: many more polls than one budget
    out, driver = drive(world)
    assert out["outcome"] == "recovered" and world.compute.count("start") == 1
    assert len(driver.executions) > 1 and max(e.history_events for e in driver.executions) < 100


def test_a_user_check_that_is_refused_is_written_down_and_does_not_stop_the_recovery() -> None:
    world = evicted_world(log_workspace_id="ws")
    world.activity_log.last_user_action = lambda vm, since: (_ for _ in ()).throw(  # type: ignore[method-assign]
        ArmFailure(Failure.CONFIG, "AuthorizationFailed", "no role on the workspace", 403)
    )
    out, _ = drive(world)
    assert out["outcome"] == "recovered"
    assert any(r["action"] == "user_check" and r["code"] == "AuthorizationFailed" for r in out["story"]["runs"])


# --- pacing: every ARM step goes through the subscription's limiter entity --------------------------------------


def paced(context: Any) -> Any:
    return restart_vm(context, EntityId)


def drive_paced(world: World, shared: Entities) -> tuple[dict[str, Any], Driver]:
    data = {"vm": VM.to_dict(), "since": iso(T0), "size": "Standard_D2s_v5"}
    driver = Driver(
        paced, data, "respot-x-0001:restart", T0, world.activity, on_tick=world.compute.tick, entities=shared
    )
    return driver.run(), driver


def test_with_the_budget_spent_the_start_waits_on_a_durable_timer_for_the_limiters_turn() -> None:
    world, shared = evicted_world(), Entities()
    key = (LIMITER, VM.subscription.lower())
    shared.state[key] = {"writes": [-600.0, T0.timestamp()]}  # a wave ahead of it: 60 s of writes queued
    out, driver = drive_paced(world, shared)
    assert out["outcome"] == "recovered"
    takes = [(op, p["cost"]) for name, _, op, p in shared.log if name == LIMITER and op == "take"]
    assert takes[0] == ("take", COSTS[names.TRY_START])
    assert ("take", COSTS[names.CHECK_OPERATION]) in takes  # the LRO's status reads are paced too
    assert world.compute.started_at[0] >= T0 + timedelta(seconds=60)  # its write waited for the queue ahead of it
    assert any((fire - created).total_seconds() >= 55 for created, fire in driver.timers)  # on a durable timer


def test_a_start_told_to_ask_again_asks_again_and_never_takes_that_for_its_turn() -> None:
    """While creates are expected the limiter may give a start no turn yet, only a time to ask again. On a busy host
    that time may have passed when the answer is read: the start asks again then, it does not go unpaced."""
    world = evicted_world()

    def deferring(state: Any, operation: str, payload: Any) -> Any:
        deferred = payload.get("deferred", 0) if operation == "take" else None
        if deferred is not None and "writes" in payload["cost"] and deferred < 2:
            again = T0 if not deferred else parse_iso(payload["at"], "at") + timedelta(seconds=30)
            return state, {"at": iso(again), "again": True}  # the first one already past
        return limiter_op(state, operation, payload)

    shared = Entities(ops={LIMITER: deferring})
    out, _ = drive_paced(world, shared)
    assert out["outcome"] == "recovered" and world.compute.count("start") == 1
    writes = [p for name, _, op, p in shared.log if name == LIMITER and op == "take" and "writes" in p["cost"]]
    assert [p.get("deferred", 0) for p in writes] == [0, 1, 2]  # asked again twice, then given its turn
    assert world.compute.started_at[0] >= T0 + timedelta(seconds=30)


def test_arms_429_empties_the_bucket_for_every_recovery_and_readings_travel_with_the_next_take() -> None:
    world, shared = evicted_world(), Entities()
    world.compute.fail_next("start", ArmFailure(Failure.THROTTLED, ARM_THROTTLED, "throttled", 429, 40))
    world.compute.remaining = {"writes": 7}
    out, _ = drive_paced(world, shared)
    assert out["outcome"] == "recovered"
    ops = [(op, p) for name, _, op, p in shared.log if name == LIMITER]
    throttled_ops = [p for op, p in ops if op == "throttled"]
    assert throttled_ops and throttled_ops[0]["bucket"] == "writes" and throttled_ops[0]["retry_after"] == 40
    assert any(p.get("seen") == {"writes": 7} for op, p in ops if op == "take")


def test_a_compute_429_is_waited_out_by_its_step_alone() -> None:
    world, shared = evicted_world(), Entities()
    world.compute.fail_next("start", throttled(40))  # OperationNotAllowed / TooManyRequests: one operation group
    out, _ = drive_paced(world, shared)
    assert out["outcome"] == "recovered"
    assert not [op for name, _, op, _ in shared.log if name == LIMITER and op == "throttled"]


def test_a_limiter_that_cannot_answer_never_fails_the_recovery() -> None:
    world = evicted_world()

    def broken(state: Any, operation: str, payload: Any) -> Any:
        raise ValueError("take: the entity is broken")

    out, _ = drive_paced(world, Entities(ops={LIMITER: broken}))
    assert out["outcome"] == "recovered" and world.compute.count("start") == 1


def test_steps_that_spend_what_they_reserved_hand_nothing_back() -> None:
    world, shared = evicted_world(), Entities()
    out, _ = drive_paced(world, shared)
    assert out["outcome"] == "recovered"
    takes = [p for name, _, op, p in shared.log if name == LIMITER and op == "take"]
    assert len(takes) >= 2 and not [p for p in takes if "refund" in p]  # the fake's requests match the costs


def test_a_start_that_found_nothing_to_start_hands_its_write_back_with_the_next_take() -> None:
    world, shared = evicted_world(), Entities()
    world.compute.vms[VM.id].status = VmStatus.DEALLOCATING  # the eviction is still under way: no POST yet
    follow = world.compute.tick

    def tick(now: Any) -> None:
        follow(now)
        if now >= T0 + timedelta(seconds=5) and world.compute.vms[VM.id].status == VmStatus.DEALLOCATING:
            world.compute.vms[VM.id].status = VmStatus.DEALLOCATED

    data = {"vm": VM.to_dict(), "since": iso(T0), "size": "Standard_D2s_v5"}
    out = Driver(paced, data, "respot-x-0001:restart", T0, world.activity, on_tick=tick, entities=shared).run()
    assert out["outcome"] == "recovered" and world.compute.count("start") == 1
    takes = [p for name, _, op, p in shared.log if name == LIMITER and op == "take"]
    assert takes[0]["cost"] == COSTS[names.TRY_START] and "refund" not in takes[0]
    assert takes[1]["refund"] == {"writes": 1}  # the guard read found it deallocating: the POST was never sent
