"""recover_vm replayed by azure-functions-durable: identity, signals joining, the agent's notice, evidence for a
deletion, the settle window, and the story in the output. The restart strategy runs as its real sub-orchestration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from azure.durable_functions import EntityId

from orchestrator.domain import capacity, memory
from orchestrator.domain.errors import ArmFailure, Failure
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.limiter import LIMITER
from orchestrator.domain.models import Missing, Signal, Source, VmFacts, VmRef, VmStatus, iso
from orchestrator.workflows import names
from orchestrator.workflows.observe import observe_vm
from orchestrator.workflows.recover import recover_vm
from orchestrator.workflows.redeploy import redeploy_vm
from orchestrator.workflows.restart import restart_vm
from tests.unit.fakes import T0, World, vm_ref
from tests.unit.workflows.driver import Driver, Entities

VM = vm_ref()


def recover(context: Any) -> Any:
    return recover_vm(context, EntityId)


def redeploy(context: Any) -> Any:
    return redeploy_vm(context, EntityId)


CHILDREN = {names.RESTART_VM: restart_vm, names.OBSERVE_VM: observe_vm, names.REDEPLOY_VM: redeploy}


def memory_entities() -> Entities:
    ops = {
        memory.OFFERINGS: memory.offerings_op,
        memory.MEMBER: memory.member_op,
        memory.PLACEMENTS: memory.placements_op,
    }
    return Entities({**ops, capacity.SCALESET: capacity.scaleset_op})


def signal(source: Source = Source.EVENT_GRID, event_id: str = "e1", at: Any = T0, vm: VmRef = VM) -> dict[str, Any]:
    return Signal(vm, source, event_id, at).to_dict()


def driver(world: World, first: dict[str, Any], *, seq: int = 1, instance_id: str | None = None) -> Driver:
    data = {"signal": first, "seq": seq, "previous": None}
    iid = instance_id or recovery_id(VM, seq)
    return Driver(
        recover, data, iid, T0, world.activity, CHILDREN, on_tick=world.compute.tick, entities=memory_entities()
    )


def test_an_evicted_vm_is_restarted_and_the_output_tells_the_whole_story() -> None:
    world = World()
    world.compute.add(VM)
    d = driver(world, signal())
    out = d.run()
    assert (out["outcome"], out["reason"], out["strategy"]) == ("recovered", "evicted", f"{d.instance_id}:restart")
    assert out["lastError"] is None and out["decision"]["action"] == "restart"
    assert [s["source"] for s in out["signals"]] == ["event-grid"]
    assert out["attempts"][-1]["result"] == "succeeded" and out["attemptCount"] == 1
    concluded = out["concludedAt"]
    assert out["finishedAt"] >= iso(_parse(concluded) + timedelta(minutes=15))  # the settle window
    # The recovery takes its policy from observe_vm's answer (one read less per recovery in a wave).
    assert [name for name, _ in d.calls].count(names.RECOVERY_POLICY) == 2  # observe_vm's and restart_vm's
    said = [(name, op) for name, _, op, _ in d.entities.log if name in (memory.MEMBER, LIMITER)]
    assert said[0] == (memory.MEMBER, "get") and (LIMITER, "expect") not in said  # no member: no create expected


def test_a_look_that_fails_still_settles_on_the_policy_read_by_the_recovery_itself() -> None:
    def broken(context: Any) -> Any:  # an answer without a read (the driver has no failed sub-orchestrations)
        return {"story": {}, "policy": "not a policy"}
        yield  # a generator, as orchestrators are

    world = World()
    world.compute.add(VM)
    data = {"signal": signal(), "seq": 1, "previous": None}
    children = {**CHILDREN, names.OBSERVE_VM: broken}
    d = Driver(recover, data, recovery_id(VM, 1), T0, world.activity, children, on_tick=world.compute.tick)
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("failed", "unknown_error") and "looking at the VM" in out["detail"]
    assert [name for name, _ in d.calls] == [names.RECOVERY_POLICY]
    assert out["finishedAt"] >= iso(_parse(out["concludedAt"]) + timedelta(minutes=15))


def _parse(text: str) -> Any:
    from orchestrator.domain.models import parse_iso

    return parse_iso(text, "t")


def test_signals_joining_during_the_recovery_and_just_before_the_end_are_all_recorded() -> None:
    world = World()
    world.compute.add(VM)
    world.compute.start_seconds = 120
    d = driver(world, signal(Source.EVENT_GRID, "eg"))
    d.raise_event(T0 + timedelta(seconds=30), signal(Source.RESOURCE_HEALTH, "rh", T0))  # while restarting
    d.raise_event(T0 + timedelta(seconds=30), signal(Source.EVENT_GRID, "eg"))  # a redelivery
    d.raise_event(T0 + timedelta(minutes=10), signal(Source.ACTIVITY_LOG, "al", T0))  # settling: late but ours
    out = d.run()
    assert out["outcome"] == "recovered"
    assert [s["eventId"] for s in out["signals"]] == ["eg", "rh", "al"] and out["duplicateSignals"] == 1


def test_signals_arriving_with_the_start_or_while_an_activity_runs_are_each_recorded_once() -> None:
    world = World()
    world.compute.add(VM)
    d = driver(world, signal(Source.EVENT_GRID, "eg"))
    d.raise_event(T0, signal(Source.RESOURCE_HEALTH, "rh"))  # in the very first episode, before any wait
    d.raise_event(T0, signal(Source.EVENT_GRID, "eg"))
    d.raise_event(T0 + timedelta(seconds=1), signal(Source.ACTIVITY_LOG, "al"))  # with the policy's result
    d.raise_event(T0 + timedelta(seconds=1), signal(Source.ACTIVITY_LOG, "al2"))
    out = d.run()
    assert out["outcome"] == "recovered"
    assert sorted(s["eventId"] for s in out["signals"]) == ["al", "al2", "eg", "rh"] and out["duplicateSignals"] == 1


def test_a_signal_joining_just_before_the_strategy_ends_makes_it_look_again() -> None:
    world = World()
    world.compute.add(VM)
    world.compute.start_seconds = 120  # the start's operation ends at about T0 + 2 min
    d = driver(world, signal(Source.EVENT_GRID, "eg"))
    d.raise_event(T0 + timedelta(seconds=115), signal(Source.ACTIVITY_LOG, "al", T0))
    out = d.run()
    reads = [name for name, _ in d.calls if name == names.READ_VM]
    assert out["outcome"] == "recovered" and len(out["signals"]) == 2
    assert len(reads) >= 2  # classify, and the look after the joined signal (the start itself said running)


def test_the_agent_notice_waits_for_the_eviction_then_restarts_not_already_running() -> None:
    world = World()
    world.compute.add(VM, status=VmStatus.RUNNING)
    not_before = T0 + timedelta(seconds=30)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= not_before and world.compute.vms[VM.id].status == VmStatus.RUNNING and not world.compute.ops:
            world.compute.vms[VM.id].status = VmStatus.DEALLOCATED  # the platform evicts at NotBefore
        follow(now)

    data = {"signal": signal(Source.AGENT, "A1", not_before), "seq": 1, "previous": None}
    d = Driver(recover, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick)
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted")
    first_wait = d.timers[0]
    assert first_wait[1] >= not_before + timedelta(seconds=60)  # NotBefore plus the grace


def test_the_platform_signal_ends_the_wait_for_a_notice_early() -> None:
    world = World()
    world.compute.add(VM, status=VmStatus.RUNNING)
    d = driver(world, signal(Source.AGENT, "A1", T0 + timedelta(seconds=30)))
    d.raise_event(T0 + timedelta(seconds=35), signal(Source.EVENT_GRID, "eg", T0 + timedelta(seconds=30)))
    original = world.compute.tick

    def tick(now: Any) -> None:
        if now >= T0 + timedelta(seconds=30) and not world.compute.ops:
            world.compute.vms[VM.id].status = VmStatus.DEALLOCATED
        original(now)

    d.on_tick = tick
    out = d.run()
    assert out["outcome"] == "recovered" and [s["source"] for s in out["signals"]] == ["in-vm-agent", "event-grid"]
    classify_read = [i for i, (name, _) in enumerate(d.calls) if name == names.READ_VM][1]
    assert classify_read < 6  # it did not sit out NotBefore + 60 s of grace


def test_a_vm_that_never_existed_is_not_found_never_a_redeploy() -> None:
    world = World()
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("not_found", "vm_missing")


def test_a_missing_resource_group_is_not_found() -> None:
    world = World()
    world.compute.facts = lambda vm: VmFacts(exists=False, missing=Missing.RESOURCE_GROUP)  # type: ignore[method-assign]
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("not_found", "resource_group_missing")


def test_a_deleted_vm_respot_never_recorded_is_not_protected_and_the_detail_says_how_to_enrol() -> None:
    world = World().with_settings(log_workspace_id="ws")
    world.activity_log.evictions[VM.id] = T0
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("not_protected", "not_remembered")
    assert out["decision"]["reason"] == "deleted_by_eviction" and "evictSpotVM" in out["decision"]["detail"]
    assert "respot-fleet=" in out["detail"]


def test_a_gone_vms_two_log_checks_go_together_and_one_throttled_is_waited_out_alone() -> None:
    # Each is a hop through the activity queue on the way to the replacement's write: side by side, one hop.
    world = World().with_settings(log_workspace_id="ws")
    world.activity_log.evictions[VM.id] = T0
    world.activity_log.faults["user"] = [ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 30)]
    d = driver(world, signal())
    out = d.run()
    when: dict[str, list[Any]] = {}
    for moment, name in d.scheduled:
        when.setdefault(name, []).append(moment)
    assert when[names.USER_ACTION][0] == when[names.EVICTION_RECORD][0]
    assert len(when[names.EVICTION_RECORD]) == 1 and len(when[names.USER_ACTION]) == 2
    assert when[names.USER_ACTION][1] - when[names.USER_ACTION][0] >= timedelta(seconds=30)  # its Retry-After
    assert any(a["action"] == "user_check" and a["result"] == "throttled" for a in out["attempts"])
    assert out["decision"]["reason"] == "deleted_by_eviction"


def paced_observe(context: Any) -> Any:
    return observe_vm(context, EntityId)


def test_a_paced_look_reads_its_policy_beside_the_limiters_take_one_hop_before_the_read() -> None:
    world = World()
    world.compute.add(VM)
    shared = memory_entities()
    data = {"signal": signal(), "seq": 1, "previous": None}
    children = {**CHILDREN, names.OBSERVE_VM: paced_observe}
    d = Driver(
        recover, data, recovery_id(VM, 1), T0, world.activity, children, on_tick=world.compute.tick, entities=shared
    )
    out = d.run()
    assert out["outcome"] == "recovered"
    when = {name: moment for moment, name in reversed(d.scheduled)}  # each activity's first scheduling
    assert when[names.READ_VM] - when[names.RECOVERY_POLICY] == timedelta(seconds=1)  # the take's answer, no more
    assert [op for name, _, op, _ in shared.log if name == LIMITER][:1] == ["take"]


def test_a_paced_look_whose_limiter_cannot_answer_still_reads_its_policy_and_the_vm() -> None:
    world = World()
    world.compute.add(VM)

    def broken(state: Any, operation: str, payload: Any) -> Any:
        raise ValueError("take: the entity is broken")

    shared = memory_entities()
    shared.ops[LIMITER] = broken
    data = {"signal": signal(), "seq": 1, "previous": None}
    children = {**CHILDREN, names.OBSERVE_VM: paced_observe}
    d = Driver(
        recover, data, recovery_id(VM, 1), T0, world.activity, children, on_tick=world.compute.tick, entities=shared
    )
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted")


def test_a_delete_policy_vm_outside_every_fleet_is_not_protected_once_gone() -> None:
    world = World()
    world.compute.add(VM, status=VmStatus.RUNNING, eviction_policy="Delete")
    not_before = T0 + timedelta(seconds=30)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= not_before:
            world.compute.vms.pop(VM.id, None)
        follow(now)

    data = {"signal": signal(Source.AGENT, "A1", not_before), "seq": 1, "previous": None}
    d = Driver(recover, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick)
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("not_protected", "no_fleet")
    assert out["decision"]["reason"] == "deleted_by_eviction" and out["strategy"] == f"{d.instance_id}:redeploy"


def test_a_vm_outside_the_scope_makes_no_arm_call() -> None:
    world = World()
    other = VmRef("99999999-9999-9999-9999-999999999999", "theirs", "x")
    data = {"signal": signal(vm=other), "seq": 1, "previous": None}
    out = Driver(recover, data, recovery_id(other, 1), T0, world.activity, CHILDREN).run()
    assert (out["outcome"], out["reason"]) == ("ignored", "out_of_scope")
    assert world.compute.log == []


def test_an_instance_id_that_is_not_the_vms_recovery_is_rejected_without_any_activity() -> None:
    world = World()
    world.compute.add(VM)
    d = driver(world, signal(), instance_id="respot-attacker-0001")
    out = d.run()
    assert out["outcome"] == "rejected" and d.calls == [] and world.compute.log == []


def test_a_user_deallocation_after_the_eviction_is_left_alone() -> None:
    from orchestrator.domain.classify import UserAction

    world = World().with_settings(log_workspace_id="ws")
    world.compute.add(VM)
    world.activity_log.user_actions[VM.id] = UserAction.DEALLOCATE
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("ignored", "user_deallocated")
    assert world.compute.count("start") == 0


def test_a_sweeps_deallocated_vm_is_restarted_only_on_the_platforms_eviction_record() -> None:
    world = World().with_settings(log_workspace_id="ws")
    world.compute.add(VM)
    found = signal(Source.SWEEP, f"deallocated@{iso(T0)}")
    out = driver(world, found).run()
    assert (out["outcome"], out["reason"]) == ("ignored", "no_eviction_record") and world.compute.count("start") == 0
    world = World().with_settings(log_workspace_id="ws")
    world.compute.add(VM)
    world.activity_log.evictions[VM.id] = T0 - timedelta(minutes=2)
    out = driver(world, found).run()
    assert (out["outcome"], out["reason"]) == ("recovered", "evicted") and "evictSpotVM" in out["decision"]["detail"]


def test_an_alert_needs_no_eviction_record_and_a_sweeps_failed_start_neither() -> None:
    for first in (signal(), signal(Source.SWEEP, f"failed_start@{iso(T0)}")):
        world = World().with_settings(log_workspace_id="ws")
        world.compute.add(VM)
        out = driver(world, first).run()
        assert (out["outcome"], out["reason"]) == ("recovered", "evicted")


def test_a_vm_in_transition_is_looked_at_again_before_deciding() -> None:
    world = World()
    vm = world.compute.add(VM, status=VmStatus.UPDATING)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= T0 + timedelta(minutes=1):
            vm.status = VmStatus.DEALLOCATED if vm.status == VmStatus.UPDATING else vm.status
        follow(now)

    data = {"signal": signal(), "seq": 1, "previous": None}
    out = Driver(recover, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick).run()
    assert out["outcome"] == "recovered"


def test_a_read_refused_for_authorization_fails_the_recovery_with_the_reason_not_an_exception() -> None:
    from orchestrator.domain.errors import ArmFailure, Failure

    world = World()
    world.compute.add(VM)
    world.compute.fail_next("facts", ArmFailure(Failure.CONFIG, "AuthorizationFailed", "no role on the VM", 403))
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("failed", "config") and "AuthorizationFailed" in out["detail"]
    assert out["lastError"]["code"] == "AuthorizationFailed"


def _history(d: Driver) -> int:
    return max(e.history_events for e in d.executions)


def test_a_person_resizing_during_the_retries_stops_it_even_when_signals_keep_joining() -> None:
    world = World()
    vm = world.compute.add(VM)
    world.compute.capacity = False
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= T0 + timedelta(minutes=2):
            vm.size = "Standard_D4s_v5"  # the owner resizes it while respot backs off
        follow(now)

    d = Driver(
        recover_vm,
        {"signal": signal(), "seq": 1, "previous": None},
        recovery_id(VM, 1),
        T0,
        world.activity,
        CHILDREN,
        on_tick=tick,
    )
    d.raise_event(T0 + timedelta(minutes=5), signal(Source.ACTIVITY_LOG, "al"))
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("stopped", "resized_meanwhile")
    assert out["strategy"].endswith(":restart") and world.compute.vms[VM.id].status == VmStatus.DEALLOCATED


def test_giving_up_is_final_even_when_a_signal_joined_meanwhile() -> None:
    world = World().with_settings(retry_deadline_hours=0.2)
    world.compute.add(VM)
    world.compute.capacity = False
    d = driver(world, signal())
    d.raise_event(T0 + timedelta(minutes=5), signal(Source.ACTIVITY_LOG, "al"))
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("gave_up", "deadline") and out["strategy"].endswith(":restart")


def test_evicted_again_before_the_record_closed_is_restarted_again() -> None:
    world = World()
    world.compute.start_seconds = 40  # still starting at the first look (30 s): the second signal joins meanwhile
    vm = world.compute.add(VM)
    follow, state = world.compute.tick, {"running_since": None, "again": False}

    def tick(now: Any) -> None:
        follow(now)
        if vm.status == VmStatus.RUNNING and state["running_since"] is None:
            state["running_since"] = now
        since = state["running_since"]
        if since is not None and not state["again"]:
            state["again"] = True
            vm.status = VmStatus.DEALLOCATED  # evicted again as its start ended (the second signal says so)

    d = Driver(
        recover_vm,
        {"signal": signal(), "seq": 1, "previous": None},
        recovery_id(VM, 1),
        T0,
        world.activity,
        CHILDREN,
        on_tick=tick,
    )
    d.raise_event(T0 + timedelta(seconds=40), signal(Source.EVENT_GRID, "eg-again", T0 + timedelta(seconds=40)))
    out = d.run()
    assert out["outcome"] == "recovered" and out["strategy"].endswith(":restart-2")
    assert world.compute.count("start") == 2


def test_garbage_raised_as_signals_is_counted_never_fatal() -> None:
    world = World()
    world.compute.add(VM)
    d = driver(world, signal())
    for junk in (
        [1],
        "x",
        {"vm": VM.to_dict(), "source": "event-grid", "event_id": "o1", "occurred_at": "9999-12-31T23:59:59-01:00"},
        None,
    ):
        d.raise_event(T0 + timedelta(seconds=5), junk)
    d.raise_event(T0 + timedelta(seconds=5), signal(vm=vm_ref("other")))
    out = d.run()
    assert out["outcome"] == "recovered" and out["badSignals"] == 5 and len(out["signals"]) == 1


def test_a_vm_in_transition_for_too_long_is_left_alone_with_the_reason() -> None:
    world = World()
    world.compute.add(VM, status=VmStatus.UPDATING)
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("ignored", "in_transition")


def test_reads_throttled_for_hours_keep_the_recoverys_own_history_short() -> None:
    from orchestrator.domain.errors import ArmFailure, Failure

    world = World()
    world.compute.add(VM)
    for _ in range(120):  # about three hours of 429s with a Retry-After of 60 s
        world.compute.fail_next("facts", ArmFailure(Failure.THROTTLED, "TooManyRequests", "slow down", 429, 60))
    d = driver(world, signal())
    out = d.run()
    assert out["outcome"] == "recovered"
    throttled = next(r for r in out["attempts"] if r["result"] == "throttled")
    assert throttled["action"] == "read" and throttled["count"] >= 100
    assert _history(d) < 60
    observe = next(c for c in d.child_drivers if ":observe-" in c.instance_id)
    assert len(observe.executions) > 1 and _history(observe) < 100


def test_a_deleted_scale_set_instance_is_a_capacity_restore_of_its_set() -> None:
    from orchestrator.workflows.capacity import restore_capacity
    from tests.unit.fakes import FakeScaleSet

    def capacity_child(context: Any) -> Any:
        return restore_capacity(context, EntityId)

    world = World().with_settings(log_workspace_id="ws")
    inst = VmRef(VM.subscription, "rg", "pool_3", "pool", "3")
    world.activity_log.evictions[inst.id] = T0
    world.scale_sets.sets["pool"] = FakeScaleSet(capacity=4)
    data = {"signal": signal(vm=inst), "seq": 1, "previous": None}
    children = {**CHILDREN, names.RESTORE_CAPACITY: capacity_child}
    d = Driver(recover, data, recovery_id(inst, 1), T0, world.activity, children, entities=memory_entities())
    out = d.run()
    assert (out["outcome"], out["reason"], out["strategy"]) == (
        "recovered",
        "capacity_restored",
        f"{d.instance_id}:capacity",
    )
    assert world.scale_sets.log == [("pool", 5)] and out["replacement"]["target"] == 5


def test_a_deleted_flexible_member_restores_its_sets_capacity_from_the_inventorys_record() -> None:
    from orchestrator.domain.scope import vm_hash
    from orchestrator.domain.template import Member
    from orchestrator.workflows.capacity import restore_capacity
    from tests.unit.fakes import FakeScaleSet

    def capacity_child(context: Any) -> Any:
        return restore_capacity(context, EntityId)

    world = World().with_settings(log_workspace_id="ws")
    flex = vm_ref("flex_a1b2")
    world.activity_log.evictions[flex.id] = T0
    world.scale_sets.sets["flex"] = FakeScaleSet(capacity=2, mode="Flexible")
    shared = memory_entities()
    known = Member(flex.id, flex.name, "", "Standard_D2s_v5", "eastus", "1", scale_set="flex")
    shared.run(f"@{memory.MEMBER}@{vm_hash(flex)}", "remember", known.to_dict())
    data = {"signal": signal(vm=flex), "seq": 1, "previous": None}
    children = {**CHILDREN, names.RESTORE_CAPACITY: capacity_child}
    d = Driver(recover, data, recovery_id(flex, 1), T0, world.activity, children, entities=shared)
    out = d.run()
    assert (out["outcome"], out["reason"]) == ("recovered", "capacity_restored")
    assert world.scale_sets.log == [("flex", 3)]
