"""The restart strategy: start a deallocated Spot VM again, on a schedule, until capacity returns.

A sub-orchestration of ``recover_vm``. Event sequence of one try that finds no capacity, then one that works::

    recovery_policy                      the operator's policy, from settings
    [user_action]                        a person deallocated or deleted it since the eviction? stop
    try_start -> accepted                guard read (still deallocated, unchanged, in scope), then POST start
    timer +10 s, check_operation -> failed ZonalAllocationFailed (capacity)
    timer ~1 min (backoff)               custom status: waiting, attempt 1, nextTry
    [user_action], try_start -> accepted
    timer +30 s, check_operation -> running; timer +15 s, check_operation -> done: recovered
    (with a health extension required: read_vm -> PowerState/running + healthy, else warming: read again)
    ... after TASKS_PER_EXECUTION durable tasks: continue_as_new with the progress, so the history stays short

A 429 waits at least its Retry-After on a durable timer; 5xx and dropped connections back off; a start sent without
an answer is settled by the next guard read (never sent twice); an operation failing with a code respot does not
know is retried MAX_UNKNOWN_FAILURES times. None of these fails the recovery: only quota, a configuration error,
the deadline or a person's action end it early.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.classify import UserAction
from orchestrator.domain.errors import Failure
from orchestrator.domain.models import (
    FailureInfo,
    InvalidInput,
    Operation,
    Outcome,
    Reason,
    Step,
    StepResult,
    VmFacts,
    VmRef,
    VmStatus,
    iso,
    parse_iso,
)
from orchestrator.domain.policy import MAX_UNKNOWN_FAILURES, TASKS_PER_EXECUTION, Policy
from orchestrator.domain.schedule import SHORT
from orchestrator.domain.story import Story
from orchestrator.domain.vmstate import is_recovered
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps
from orchestrator.workflows.lro import watch
from orchestrator.workflows.strategy import Conclusion, Waits, load_progress

_GIVE_UP = {Failure.QUOTA: Reason.QUOTA, Failure.CONFIG: Reason.CONFIG}
_STOP_AT_ONCE = {UserAction.DEALLOCATE: Reason.USER_DEALLOCATED, UserAction.DELETE: Reason.USER_DELETED}


@dataclass
class Progress:
    """What a restart carries across continue-as-new."""

    started_at: str
    since: str  # the eviction: a person's action after it means respot must stop
    size: str | None = None  # the size at the eviction: a resize meanwhile is a person's decision
    story: dict[str, Any] = field(default_factory=dict)
    ours: bool = False  # respot's start was sent (and may have taken): a starting or running VM is ours
    capacity_failures: int = 0  # drives the backoff
    unknown_failures: int = 0
    raised: bool = False  # maxPrice was raised once (raise policy)
    executions: int = 1
    last_error: dict[str, Any] | None = None
    watching: dict[str, Any] | None = None  # an operation being watched when the execution's budget ran out

    @classmethod
    def from_dict(cls, data: Any) -> Progress:
        """Raises InvalidInput unless ``data`` is a progress as this module writes it."""
        progress = load_progress(cls, data, ("capacity_failures", "unknown_failures", "executions"))
        if progress.watching is not None:
            Operation.from_dict(progress.watching)
        return progress


def restart_vm(context: Context, entity_id: EntityIds | None = None) -> Steps:
    data = context.get_input()
    try:
        if not isinstance(data, dict):
            raise InvalidInput("the input must be an object")
        vm = VmRef.from_dict(data.get("vm"))
        progress = _progress(data, context.current_utc_datetime)
    except (InvalidInput, TypeError, ValueError, KeyError) as exc:
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": str(exc)}
    flow = Flow(context, entity_id=entity_id)  # with entity ids: paced by the limiter
    policy = Policy.from_dict((yield from flow.call_raw(names.RECOVERY_POLICY, None)))
    run = Restart(flow, vm, policy, progress)
    conclusion = yield from run.until_budget()
    if conclusion is None:
        progress.story, progress.executions = run.story.to_dict(), progress.executions + 1
        run.status("continuing")
        context.continue_as_new({"vm": vm.to_dict(), "progress": asdict(progress)})
        return None
    return run.output(conclusion)


def _progress(data: dict[str, Any], now: datetime) -> Progress:
    if data.get("progress") is not None:
        return Progress.from_dict(data["progress"])
    since = parse_iso(data.get("since"), "since")
    size = data.get("size") if isinstance(data.get("size"), str) else None
    return Progress(started_at=iso(now), since=iso(since), size=size)


class Restart(Waits):
    def __init__(self, flow: Flow, vm: VmRef, policy: Policy, progress: Progress) -> None:
        self.flow, self.vm, self.policy, self.p = flow, vm, policy, progress
        self.story = Story.from_dict(progress.story)
        self.deadline = parse_iso(progress.started_at, "started_at") + policy.backoff.deadline
        self.vm_dict = vm.to_dict()

    def until_budget(self) -> Steps:
        """Tries until a conclusion, or None when this execution has used its share of durable tasks."""
        if self.p.watching is not None:  # the last execution ended while an operation ran: watch it on
            operation, self.p.watching = Operation.from_dict(self.p.watching), None
            conclusion = yield from self.watch_start(operation)
            if conclusion is not None:
                return conclusion
        return (yield from self.repeat(self.step))

    def step(self) -> Steps:
        if self.flow.now >= self.deadline:
            return self.give_up()
        if self.policy.user_checks and not self.p.ours:
            answer = yield from self.flow.call(names.USER_ACTION, {"vm": self.vm_dict, "since": self.p.since})
            action = UserAction(answer.value) if answer.step == Step.OK and answer.value in set(UserAction) else None
            if action in _STOP_AT_ONCE:
                return Conclusion(Outcome.STOPPED, _STOP_AT_ONCE[action], f"a person did {action} after the eviction")
            if answer.step != Step.OK:  # respot cannot tell what a person did: never start blind on trouble
                return (yield from self.user_check_failed(answer))
        self.status("starting")
        result = yield from self.flow.call(names.TRY_START, {"vm": self.vm_dict, "size": self.p.size})
        return (yield from self.handle(result))

    def user_check_failed(self, answer: StepResult) -> Steps:
        """Throttled or 5xx: wait and ask again. Refused (a wrong workspace, no role): say so, and go on without
        the check, as if no workspace were configured (it is in the story and lastError for the operator)."""
        delay = self.flow.arm_trouble(answer, self.story, "user_check")
        if delay is not None:
            return (yield from self.wait(self.flow.now + delay, "waiting"))
        self.flow.note(answer, self.story, "user_check")
        self.p.last_error = answer.failure.to_dict() if answer.failure else {"kind": answer.step.value}
        result = yield from self.flow.call(names.TRY_START, {"vm": self.vm_dict, "size": self.p.size})
        return (yield from self.handle(result))

    def handle(self, result: StepResult) -> Steps:
        if result.step in (Step.ACCEPTED, Step.DONE):
            self.p.ours = True
            if result.operation is not None:
                return (yield from self.watch_start(result.operation))
            return (yield from self.after_start(result))
        if result.step == Step.SKIPPED:
            return (yield from self.skipped(result))
        if result.step == Step.FAILED and result.failure is not None:
            return (yield from self.failed(result.failure, "start"))
        if result.step == Step.UNKNOWN:  # sent, no answer: the next guard read tells whether it took
            self.p.ours = True
            self.record("start", "no_answer", result.reason, "the start was sent and no answer came")
            return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))
        if result.step == Step.OUT_OF_SCOPE:
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        delay = self.flow.arm_trouble(result, self.story, "start")
        return (yield from self.wait(self.flow.now + (delay or timedelta(seconds=SHORT)), "waiting"))

    def watch_start(self, operation: Operation) -> Steps:
        self.status("watching")
        ended = yield from watch(self.flow, operation, self.story, budget=TASKS_PER_EXECUTION)
        if ended.step == Step.RUNNING:  # the budget ran out mid-watch: the next execution watches on
            self.p.watching = (ended.operation or operation).to_dict()
            return None
        return (yield from self.after_start(ended))

    def after_start(self, ended: StepResult) -> Steps:
        if ended.step == Step.DONE:
            self.record("start", "succeeded", "", "")
            if not self.policy.require_health:  # the start's own word: running (a read would say only that)
                self.p.last_error = None
                return Conclusion(Outcome.RECOVERED, Reason.EVICTED, "running again: its start succeeded")
            read = yield from self.flow.ask(
                names.READ_VM,
                {"vm": self.vm_dict},
                self.story,
                deadline=self.deadline,
                budget=TASKS_PER_EXECUTION,
                action="read",
            )
            if read.step == Step.OK and read.facts is not None:
                return (yield from self.running(read.facts))
        elif ended.step == Step.FAILED and ended.failure is not None:
            self.p.ours = False
            return (yield from self.failed(ended.failure, "start"))
        return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))

    def running(self, facts: VmFacts) -> Steps:
        """After respot's start: the warm-up gate, or a VM evicted again (then the next try starts it again)."""
        if is_recovered(facts.codes, health=facts.health, require_health=self.policy.require_health):
            self.p.last_error = None
            return Conclusion(Outcome.RECOVERED, Reason.EVICTED, "running again")
        if facts.status in (VmStatus.RUNNING, VmStatus.STARTING):
            waiting = "a healthy Application Health extension" if facts.status == VmStatus.RUNNING else "it to run"
            self.p.last_error = {"kind": "not_ready", "code": facts.health or facts.status.value, "message": waiting}
            return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "warming"))
        self.p.ours = False
        return None

    def skipped(self, result: StepResult) -> Steps:
        reason, facts = Reason(result.reason), result.facts or VmFacts(exists=False)
        if reason == Reason.STARTED_MEANWHILE and self.p.ours:
            return (yield from self.running(facts))
        if reason == Reason.IN_TRANSITION:  # deallocating, or an operation in flight
            return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))
        return Conclusion(Outcome.STOPPED, reason, f"the VM is {facts.status.value}" if facts.exists else "")

    def failed(self, failure: FailureInfo, action: str) -> Steps:
        kind = Failure(failure.kind)
        self.record(action, kind.value, failure.code, failure.message)
        self.p.last_error = failure.to_dict()
        raise_it = kind == Failure.PRICE and self.policy.price_policy == "raise" and not self.p.raised
        if raise_it and (yield from self.raise_price()):
            return None  # try again at once, at the new maxPrice
        if kind in _GIVE_UP:
            return Conclusion(Outcome.FAILED, _GIVE_UP[kind], failure.message)
        if kind == Failure.NOT_FOUND:
            return Conclusion(Outcome.STOPPED, Reason.DELETED_MEANWHILE, failure.message)
        if kind == Failure.UNKNOWN:
            self.p.unknown_failures += 1
            if self.p.unknown_failures >= MAX_UNKNOWN_FAILURES:
                return Conclusion(Outcome.FAILED, Reason.UNKNOWN_ERROR, f"{failure.code}: {failure.message}")
        if kind in (Failure.CONFLICT, Failure.TRANSIENT, Failure.THROTTLED):
            return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))
        return (yield from self.backoff())

    def raise_price(self) -> Steps:
        self.p.raised = True
        result = yield from self.flow.call(names.RAISE_MAX_PRICE, {"vm": self.vm_dict})
        if result.step == Step.ACCEPTED and result.operation is not None:
            result = yield from watch(self.flow, result.operation, self.story, budget=None)
        done = result.step == Step.DONE
        self.record("set_max_price", "succeeded" if done else result.step.value, "", result.reason)
        return done

    def backoff(self) -> Steps:
        self.p.capacity_failures += 1
        started = parse_iso(self.p.started_at, "started_at")
        when = self.policy.backoff.next_try(self.flow.now, self.p.capacity_failures, self.flow.key, started)
        if when is None:
            return self.give_up()
        return (yield from self.wait(when, "waiting"))

    def give_up(self) -> Conclusion:
        hours = self.policy.retry_deadline_hours
        return Conclusion(Outcome.GAVE_UP, Reason.DEADLINE, f"not running after {hours:g} h of tries")

    def status(self, phase: str, **extra: Any) -> None:
        self.flow.context.set_custom_status(
            {"phase": phase, "attempt": self.story.attempts, "lastError": self.p.last_error, **extra}
        )

    def output(self, conclusion: Conclusion) -> dict[str, Any]:
        return self.output_of(conclusion, self.p.last_error, self.p.executions)
