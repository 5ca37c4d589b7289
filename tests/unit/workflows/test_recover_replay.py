"""recover_vm replayed by azure-functions-durable: identity, signals joining, the agent's notice, evidence for a
deletion, the settle window, and the story in the output. The restart strategy runs as its real sub-orchestration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrator.domain.identity import recovery_id
from orchestrator.domain.models import Missing, Signal, Source, VmFacts, VmRef, VmStatus, iso
from orchestrator.workflows import names
from orchestrator.workflows.recover import recover_vm
from orchestrator.workflows.restart import restart_vm
from tests.unit.fakes import T0, World, vm_ref
from tests.unit.workflows.driver import Driver

VM = vm_ref()
CHILDREN = {names.RESTART_VM: restart_vm}


def signal(source: Source = Source.EVENT_GRID, event_id: str = "e1", at: Any = T0, vm: VmRef = VM) -> dict[str, Any]:
    return Signal(vm, source, event_id, at).to_dict()


def driver(world: World, first: dict[str, Any], *, seq: int = 1, instance_id: str | None = None) -> Driver:
    data = {"signal": first, "seq": seq, "previous": None}
    iid = instance_id or recovery_id(VM, seq)
    return Driver(recover_vm, data, iid, T0, world.activity, CHILDREN, on_tick=world.compute.tick)


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
    assert len(reads) >= 3  # classify, the strategy's warm-up gate, and the look after the joined signal


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
    d = Driver(recover_vm, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick)
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


def test_a_deleted_vm_with_the_platforms_eviction_record_is_a_redeploy() -> None:
    world = World().with_settings(log_workspace_id="ws")
    world.activity_log.evictions[VM.id] = T0
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("redeploy_pending", "deleted_by_eviction")
    assert "evictSpotVM" in out["detail"]


def test_a_delete_policy_vm_respot_saw_before_the_notice_is_a_redeploy_once_gone() -> None:
    world = World()
    world.compute.add(VM, status=VmStatus.RUNNING, eviction_policy="Delete")
    not_before = T0 + timedelta(seconds=30)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= not_before:
            world.compute.vms.pop(VM.id, None)
        follow(now)

    data = {"signal": signal(Source.AGENT, "A1", not_before), "seq": 1, "previous": None}
    out = Driver(recover_vm, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick).run()
    assert (out["outcome"], out["reason"]) == ("redeploy_pending", "deleted_by_eviction")


def test_a_vm_outside_the_scope_makes_no_arm_call() -> None:
    world = World()
    other = VmRef("99999999-9999-9999-9999-999999999999", "theirs", "x")
    data = {"signal": signal(vm=other), "seq": 1, "previous": None}
    out = Driver(recover_vm, data, recovery_id(other, 1), T0, world.activity, CHILDREN).run()
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


def test_a_vm_in_transition_is_looked_at_again_before_deciding() -> None:
    world = World()
    vm = world.compute.add(VM, status=VmStatus.UPDATING)
    follow = world.compute.tick

    def tick(now: Any) -> None:
        if now >= T0 + timedelta(minutes=1):
            vm.status = VmStatus.DEALLOCATED if vm.status == VmStatus.UPDATING else vm.status
        follow(now)

    data = {"signal": signal(), "seq": 1, "previous": None}
    out = Driver(recover_vm, data, recovery_id(VM, 1), T0, world.activity, CHILDREN, on_tick=tick).run()
    assert out["outcome"] == "recovered"


def test_a_read_refused_for_authorization_fails_the_recovery_with_the_reason_not_an_exception() -> None:
    from orchestrator.domain.errors import ArmFailure, Failure

    world = World()
    world.compute.add(VM)
    world.compute.fail_next("facts", ArmFailure(Failure.CONFIG, "AuthorizationFailed", "no role on the VM", 403))
    out = driver(world, signal()).run()
    assert (out["outcome"], out["reason"]) == ("failed", "config") and "AuthorizationFailed" in out["detail"]
    assert out["lastError"]["code"] == "AuthorizationFailed"
