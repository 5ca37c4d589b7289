"""The capacity strategy: a Delete-policy Spot scale set whose instances an eviction deleted gets its
``sku.capacity`` back, once per eviction wave (orchestrator.domain.capacity). A sub-orchestration of
``recover_vm``. Event sequence of the wave's owner, and of a recovery that joins the wave::

    recovery_policy, read_scale_set         Try & restore or autoscale: left to them, with the reason
    call_entity scaleset.claim              the first recovery of the wave owns it; the others end wave_joined
    timer until opened + GATHER             the rest of the wave's evictions come in and are counted
    read_scale_set, call_entity scaleset.get  capacity now, instances lost, what the sweep saw: the target
    set_capacity -> accepted                guard read (still respot's to restore, below the target), PATCH
    timer, check_operation -> done; read_scale_set -> capacity == target: recovered / capacity_restored
    signal_entity scaleset.close

A PATCH that fails for capacity waits on the restart schedule and asks again for the same target (an absolute
count: asking twice never over-provisions) until the deadline; ARM trouble waits on durable timers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from orchestrator.domain.capacity import SCALESET, ScaleSetFacts, gathered_until, scale_set_key, target
from orchestrator.domain.errors import Failure
from orchestrator.domain.models import InvalidInput, Outcome, Reason, Step, VmRef, iso, parse_iso
from orchestrator.domain.policy import TASKS_PER_EXECUTION, Policy
from orchestrator.domain.schedule import SHORT
from orchestrator.domain.story import Story
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps
from orchestrator.workflows.lro import watch
from orchestrator.workflows.strategy import Conclusion, Waits, load_progress


@dataclass
class Progress:
    started_at: str
    since: str
    story: dict[str, Any] = field(default_factory=dict)
    target: int | None = None  # fixed once, after the wave gathered
    before: int | None = None
    lost: int = 0
    rounds: int = 0
    executions: int = 1
    last_error: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Progress:
        progress = load_progress(cls, data, ("lost", "rounds", "executions"))
        if progress.target is not None and (isinstance(progress.target, bool) or not 0 <= progress.target <= 1000):
            raise InvalidInput("progress: target must be a capacity")
        return progress


def restore_capacity(context: Context, entity_id: EntityIds) -> Steps:
    data = context.get_input()
    try:
        if not isinstance(data, dict):
            raise InvalidInput("the input must be an object")
        vm, name = VmRef.from_dict(data.get("vm")), data.get("scale_set")
        if not isinstance(name, str) or not name:
            raise InvalidInput("scale_set must be a name")
        progress = (
            Progress.from_dict(data["progress"])
            if data.get("progress") is not None
            else Progress(iso(context.current_utc_datetime), iso(parse_iso(data.get("since"), "since")))
        )
    except (InvalidInput, TypeError, ValueError, KeyError) as exc:
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": str(exc)}
    flow = Flow(context, entity_id=entity_id)
    policy = Policy.from_dict((yield from flow.call_raw(names.RECOVERY_POLICY, None)))
    run = Restore(flow, vm, name, policy, progress)
    conclusion = yield from run.run()
    if conclusion is None:
        progress.story, progress.executions = run.story.to_dict(), progress.executions + 1
        context.continue_as_new({"vm": vm.to_dict(), "scale_set": name, "progress": asdict(progress)})
        return None
    if progress.target is not None:
        flow.signal_entity(SCALESET, run.key, "close", {"by": run.recovery})
    return run.output_of(conclusion, progress.last_error, progress.executions, capacity=run.capacity_out())


class Restore(Waits):
    def __init__(self, flow: Flow, vm: VmRef, name: str, policy: Policy, progress: Progress) -> None:
        self.flow, self.vm, self.name, self.policy, self.p = flow, vm, name.lower(), policy, progress
        self.story = Story.from_dict(progress.story)
        self.deadline = parse_iso(progress.started_at, "started_at") + policy.backoff.deadline
        self.payload = {"vm": vm.to_dict(), "scale_set": self.name}
        self.recovery = flow.key.split(":", 1)[0]
        self.key = scale_set_key(vm.subscription, vm.resource_group, self.name)

    def run(self) -> Steps:
        if self.p.target is None:
            facts = yield from self.read()
            if not isinstance(facts, ScaleSetFacts):
                return facts
            left = self.left_alone(facts)
            if left is not None:
                return left
            claimed = yield from self.claim()
            if claimed is not None:
                return claimed
        return (yield from self.repeat(self.step))

    def left_alone(self, facts: ScaleSetFacts) -> Conclusion | None:
        if facts.restore:
            detail = "Try & restore (spotRestorePolicy) is on: the platform restores this scale set's instances"
            return Conclusion(Outcome.IGNORED, Reason.TRY_AND_RESTORE, detail)
        if facts.autoscale:
            names_ = ", ".join(facts.autoscale)
            return Conclusion(Outcome.IGNORED, Reason.AUTOSCALED, f"autoscale setting {names_} owns its capacity")
        if not (facts.spot and facts.delete_policy):
            return Conclusion(Outcome.IGNORED, Reason.NOT_SPOT, "not a Delete-policy Spot scale set")
        return None

    def claim(self) -> Steps:
        """Join this eviction wave; the owner gathers it, then fixes the target."""
        payload = {"by": self.recovery, "at": iso(self.flow.now)}
        wave = yield from self.flow.call_entity(SCALESET, self.key, "claim", payload)
        if wave["owner"] != self.recovery:
            detail = f"{wave['owner']} restores the capacity for this eviction wave ({wave['lost']} instances so far)"
            return Conclusion(Outcome.IGNORED, Reason.WAVE_JOINED, detail)
        self.status("gathering", until=iso(gathered_until(wave)))
        yield from self.flow.sleep_until(gathered_until(wave))
        facts = yield from self.read()
        if not isinstance(facts, ScaleSetFacts):
            return facts
        again = {"by": self.recovery, "at": iso(self.flow.now)}
        wave = yield from self.flow.call_entity(SCALESET, self.key, "claim", again)
        self.p.before, self.p.lost = facts.capacity, int(wave["lost"])
        self.p.target = target(wave.get("seen"), facts.capacity, self.p.lost)
        self.flow.signal_entity(SCALESET, self.key, "fix", {"by": self.recovery})
        return None

    def step(self) -> Steps:
        if self.flow.now >= self.deadline:
            return self.give_up()
        wanted = int(self.p.target or 0)
        self.status("restoring", target=wanted)
        result = yield from self.flow.ask(
            names.SET_CAPACITY,
            {**self.payload, "capacity": wanted},
            self.story,
            deadline=self.deadline,
            budget=TASKS_PER_EXECUTION,
            action="set_capacity",
        )
        if result.step == Step.ACCEPTED and result.operation is not None:
            result = yield from watch(self.flow, result.operation, self.story, budget=None)
        if (result.step == Step.SKIPPED and result.reason == "at_capacity") or result.step == Step.DONE:
            return (yield from self.confirm(wanted))
        if result.step == Step.SKIPPED:
            now = ScaleSetFacts.from_dict(json.loads(result.value)) if isinstance(result.value, str) else None
            left = self.left_alone(now) if now is not None else None
            reason = left.reason if left is not None else Reason.NOT_SPOT
            return Conclusion(Outcome.STOPPED, reason, "the scale set changed: it is no longer respot's to restore")
        if result.step == Step.OUT_OF_SCOPE:
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        if result.step == Step.FAILED and result.failure is not None:
            self.p.last_error = result.failure.to_dict()
            self.record("set_capacity", result.failure.kind, result.failure.code, result.failure.message)
            if Failure(result.failure.kind) in (Failure.CONFIG, Failure.QUOTA):
                reason = Reason.QUOTA if result.failure.kind == Failure.QUOTA.value else Reason.CONFIG
                return Conclusion(Outcome.FAILED, reason, f"{result.failure.code}: {result.failure.message}"[:600])
            return (yield from self.backoff())
        return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))

    def confirm(self, wanted: int) -> Steps:
        facts = yield from self.read()
        if isinstance(facts, ScaleSetFacts) and facts.capacity >= wanted:
            self.record("set_capacity", "succeeded", "", f"capacity {self.p.before} -> {facts.capacity}")
            return Conclusion(Outcome.RECOVERED, Reason.CAPACITY_RESTORED, f"capacity {self.p.before} -> {wanted}")
        return (yield from self.backoff())

    def read(self) -> Steps:
        """The set's facts, or a Conclusion when it cannot be read (refused, gone)."""
        result = yield from self.flow.ask(
            names.READ_SCALE_SET,
            self.payload,
            self.story,
            deadline=self.deadline,
            budget=2 * TASKS_PER_EXECUTION,
            action="read",
        )
        if result.step == Step.OK and isinstance(result.value, str):
            return ScaleSetFacts.from_dict(json.loads(result.value))
        if result.step == Step.OUT_OF_SCOPE:
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        if result.step == Step.FAILED and result.failure is not None:
            if result.failure.kind == Failure.NOT_FOUND.value:
                return Conclusion(Outcome.STOPPED, Reason.DELETED_MEANWHILE, "the scale set is gone")
            return Conclusion(Outcome.FAILED, Reason.CONFIG, f"{result.failure.code}: {result.failure.message}")
        return self.give_up()

    def backoff(self) -> Steps:
        self.p.rounds += 1
        started = parse_iso(self.p.started_at, "started_at")
        when = self.policy.backoff.next_try(self.flow.now, self.p.rounds, self.flow.key, started)
        return self.give_up() if when is None else (yield from self.wait(when, "waiting"))

    def give_up(self) -> Conclusion:
        hours = self.policy.retry_deadline_hours
        return Conclusion(Outcome.GAVE_UP, Reason.DEADLINE, f"capacity not restored after {hours:g} h")

    def status(self, phase: str, **extra: Any) -> None:
        self.flow.context.set_custom_status(
            {"phase": phase, "scaleSet": self.name, "lastError": self.p.last_error, **extra}
        )

    def capacity_out(self) -> dict[str, Any]:
        return {"scaleSet": self.name, "before": self.p.before, "target": self.p.target, "lost": self.p.lost}
