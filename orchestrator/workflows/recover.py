"""One eviction of one VM: its signals, the decision, a named strategy, and the whole story in the output.

Started by /api/alerts as ``respot-<vm hash>-<n>`` (orchestrator.domain.identity); every later signal of the same
eviction is raised to it as a ``signal`` event and recorded. Event sequence of a restart::

    recovery_policy                              the operator's policy, from settings
    [agent notice: read_vm, then timer until NotBefore + grace, ending early if the platform's signal joins]
    read_vm, [user_action], [eviction_record]    -> classify: restart (evicted)
    sub-orchestration restart_vm  ...            signals joining meanwhile are recorded (task_any)
    [a signal joined after the read: read_vm again before concluding]
    timer until concludedAt + settle window      late signals of this eviction are still recorded
    -> output: outcome, reason, signals, attempts, previous recovery

The input is not trusted (the durable management API can start any orchestration): the instance id must be the
recovery id of the VM and sequence number given, every activity checks scope and reads policy from settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.classify import Action, Decision, UserAction, classify
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.models import (
    InvalidInput,
    Outcome,
    Reason,
    Signal,
    Step,
    VmFacts,
    VmRef,
    iso,
    parse_iso,
)
from orchestrator.domain.policy import MAX_NOTICE_WAIT, Policy
from orchestrator.domain.schedule import SHORT
from orchestrator.domain.story import SignalEntry, Story
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, Flow, Steps

MAX_PASSES = 3  # decisions per recovery: the first, and re-reads after signals that joined before the end
MAX_DEFERS = 8  # looks at a VM in transition (creating, updating, deleting) before concluding
PREVIOUS_KEYS = ("instanceId", "outcome", "concludedAt")
_OUTCOME_OF = {Action.IGNORE: Outcome.IGNORED, Action.NOT_FOUND: Outcome.NOT_FOUND, Action.DEFER: Outcome.IGNORED}


@dataclass(frozen=True)
class Start:
    vm: VmRef
    signal: Signal
    seq: int
    previous: dict[str, Any] | None

    @classmethod
    def parse(cls, data: Any) -> Start:
        if not isinstance(data, dict):
            raise InvalidInput("the input must be an object")
        seq, previous = data.get("seq"), data.get("previous")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 10**9:
            raise InvalidInput("seq must be a positive integer")
        signal = Signal.from_dict(data.get("signal"))
        return cls(signal.vm, signal, seq, _link(previous))


def recover_vm(context: Context) -> Steps:
    try:
        start = Start.parse(context.get_input())
        if context.instance_id != recovery_id(start.vm, start.seq):
            raise InvalidInput(f"instance id {str(context.instance_id)[:80]} is not this VM's recovery {start.seq}")
    except InvalidInput as exc:
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": str(exc)}
    recovery = Recovery(context, start)
    yield from recovery.run()
    return recovery.output()


class Recovery:
    def __init__(self, context: Context, start: Start) -> None:
        self.flow = Flow(context, on_signal=self.take)  # every wait also listens for joining signals
        self.start, self.policy = start, Policy()
        self.vm = start.vm.to_dict()
        self.story, self.bad_signals = Story(), 0
        self.began = self.flow.now
        self.since = min(start.signal.occurred_at, self.began)  # when the eviction happened (a notice: before)
        self.opened_after = _time((start.previous or {}).get("concludedAt"))
        self.seen_before: VmFacts | None = None
        self.decision: Decision | None = None
        self.outcome, self.reason, self.detail = Outcome.IGNORED, Reason.IN_TRANSITION, ""
        self.last_error: dict[str, Any] | None = None
        self.strategy: str | None = None
        self.executions = 0
        self.concluded_at: datetime | None = None
        self.phase = "received"
        self.platform_signal = False
        self.story.add_signal(_entry(start.signal, self.began))

    def run(self) -> Steps:
        self.publish("received")
        self.policy = Policy.from_dict((yield from self.flow.call_raw(names.RECOVERY_POLICY, None)))
        if self.start.signal.is_notice and self.start.signal.occurred_at > self.flow.now:
            yield from self.await_eviction()
        yield from self.decide_and_act()
        self.concluded_at = self.flow.now
        self.publish("settling")
        yield from self.listen(self.concluded_at + self.policy.settle)
        self.publish("done")

    # --- the agent's notice: the eviction is due at NotBefore ------------------------------------------------

    def await_eviction(self) -> Steps:
        read = yield from self.flow.read(self.vm, self.story, self.deadline)
        self.seen_before = read.facts
        due = min(self.start.signal.occurred_at + self.policy.notice_grace, self.flow.now + MAX_NOTICE_WAIT)
        self.publish("awaiting_eviction", due=iso(due))
        yield from self.listen(due, stop=lambda: self.platform_signal)  # the platform's own report ends the wait

    # --- decide, act, and look again if a signal joined before the end ----------------------------------------

    def decide_and_act(self) -> Steps:
        defers = concluded = 0
        while concluded < MAX_PASSES:
            read_at = self.flow.now
            facts = yield from self.look()
            if facts is None:
                return
            decision = yield from self.classify(facts)
            if decision.action == Action.DEFER and defers < MAX_DEFERS:
                defers += 1
                self.publish("deferring", decision=decision.to_dict())
                yield from self.listen(self.flow.now + timedelta(seconds=SHORT * 2))
                continue
            acting = decision.action == Action.RESTART
            if concluded and not acting:
                return  # a look after a joined signal found nothing new to do: the conclusion stands
            concluded += 1
            if acting:
                yield from self.run_strategy("restart", facts, concluded)
            else:
                self.conclude_from(decision)
            if not self.joined_since(read_at):
                return

    def look(self) -> Steps:
        result = yield from self.flow.read(self.vm, self.story, self.deadline)
        if result.step == Step.OK and result.facts is not None:
            return result.facts
        if result.step == Step.OUT_OF_SCOPE:
            self.conclude(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        elif result.step == Step.FAILED and result.failure is not None:  # e.g. AuthorizationFailed: say so
            self.last_error = result.failure.to_dict()
            self.conclude(Outcome.FAILED, Reason.CONFIG, f"{result.failure.code}: {result.failure.message}")
        else:
            self.conclude(Outcome.GAVE_UP, Reason.DEADLINE, f"ARM answered {result.step.value} until the deadline")
        return None

    def classify(self, facts: VmFacts) -> Steps:
        user = None
        if self.policy.user_checks:
            answer = yield from self.flow.call(names.USER_ACTION, {"vm": self.vm, "since": iso(self.since)})
            user = UserAction(answer.value) if answer.step == Step.OK and answer.value else None
        evidence = None
        if not facts.exists:
            evidence = yield from self.evidence()
        decision = classify(facts, user_action=user, evidence=evidence)
        self.decision = self.decision or decision
        self.publish("classified", decision=decision.to_dict())
        return decision

    def evidence(self) -> Steps:
        """Why a missing VM was deleted by an eviction, or None (a 404 alone proves nothing)."""
        seen = self.seen_before
        if seen is not None and seen.exists and seen.is_spot and seen.delete_policy:
            return "respot read a Delete-policy Spot VM before the eviction and it is gone"
        if self.policy.eviction_records:
            since = iso(self.since - timedelta(hours=1))
            answer = yield from self.flow.call(names.EVICTION_RECORD, {"vm": self.vm, "since": since})
            if answer.step == Step.OK and answer.value:
                return f"the Activity Log records evictSpotVM at {answer.value}"
        return None

    def run_strategy(self, name: str, facts: VmFacts, run: int) -> Steps:
        self.strategy = f"{self.flow.key}:{name}" + (f"-{run}" if run > 1 else "")
        payload = {"vm": self.vm, "since": iso(self.since), "size": facts.size}
        self.flow.tasks += 1
        child = self.flow.context.call_sub_orchestrator(names.STRATEGIES[name], payload, self.strategy)
        self.publish("recovering")
        try:
            out = yield from self.flow.wait_for(child)
        except Exception as exc:  # noqa: BLE001 - the strategy failed (a bug): the recovery records it and concludes
            out = exc
        self.strategy_done(out)

    def strategy_done(self, out: Any) -> None:
        if not isinstance(out, dict) or "outcome" not in out:  # the strategy itself failed: a bug, recorded
            self.conclude(Outcome.FAILED, Reason.UNKNOWN_ERROR, f"the strategy failed: {str(out)[:300]}")
            return
        self.story.merge_attempts(Story.from_dict(out.get("story")))
        self.last_error = out.get("lastError")
        self.executions += int(out.get("executions") or 0)
        self.conclude(Outcome(out["outcome"]), Reason(out["reason"]), str(out.get("detail") or ""))

    def conclude_from(self, decision: Decision) -> None:
        if decision.action == Action.REDEPLOY:
            self.conclude(Outcome.REDEPLOY_PENDING, decision.reason, decision.detail)
        else:
            self.conclude(_OUTCOME_OF.get(decision.action, Outcome.IGNORED), decision.reason, decision.detail)

    def conclude(self, outcome: Outcome, reason: Reason, detail: str) -> None:
        self.outcome, self.reason, self.detail = outcome, reason, detail
        if outcome == Outcome.RECOVERED:
            self.last_error = None

    # --- signals --------------------------------------------------------------------------------------------

    def listen(self, until: datetime, stop: Callable[[], bool] | None = None) -> Steps:
        """Record joining signals until ``until`` (or until ``stop()`` says enough after a signal)."""
        if until <= self.flow.now:
            return
        self.flow.tasks += 1
        timer = self.flow.context.create_timer(until)
        yield from self.flow.wait_for(timer, interrupt=stop)
        if not timer.is_completed:
            timer.cancel()

    def take(self, payload: Any) -> None:
        try:
            signal = Signal.from_dict(payload)
        except InvalidInput:
            self.bad_signals += 1
            return
        if signal.vm.id != self.start.vm.id:
            self.bad_signals += 1
            return
        self.platform_signal = self.platform_signal or not signal.is_notice
        self.story.add_signal(_entry(signal, self.flow.now))
        self.publish(self.phase)

    def joined_since(self, when: datetime) -> bool:
        return any(parse_iso(s.received_at, "received_at") > when for s in self.story.signals[1:])

    # --- what operators and /api/alerts read ------------------------------------------------------------------

    @property
    def deadline(self) -> datetime:
        return self.began + self.policy.backoff.deadline

    def publish(self, phase: str, **extra: Any) -> None:
        self.phase = phase
        status = {
            "phase": phase,
            "vm": self.start.vm.id,
            "seq": self.start.seq,
            "openedAfter": iso(self.opened_after) if self.opened_after else None,
            "concludedAt": iso(self.concluded_at) if self.concluded_at else None,
            "signals": self.story.signal_keys,
            "strategy": self.strategy,
            **({"outcome": self.outcome.value, "reason": self.reason.value} if self.concluded_at else {}),
            **extra,
        }
        self.flow.context.set_custom_status(status)

    def output(self) -> dict[str, Any]:
        story = self.story
        return {
            "recovery": self.flow.key,
            "seq": self.start.seq,
            "vm": self.start.vm.id,
            "outcome": self.outcome.value,
            "reason": self.reason.value,
            "detail": self.detail,
            "decision": self.decision.to_dict() if self.decision else None,
            "strategy": self.strategy,
            "signals": story.signals_out(),
            "signalsOmitted": story.signals_omitted,
            "duplicateSignals": story.duplicates,
            "badSignals": self.bad_signals,
            "attempts": story.attempts_out(),
            "attemptCount": story.attempts,
            "attemptsOmitted": story.runs_omitted,
            "executions": self.executions,
            "lastError": None if self.outcome == Outcome.RECOVERED else self.last_error,
            "startedAt": iso(self.began),
            "openedAfter": iso(self.opened_after) if self.opened_after else None,
            "concludedAt": iso(self.concluded_at) if self.concluded_at else None,
            "finishedAt": iso(self.flow.now),
            "previous": self.start.previous,
        }


def _link(previous: Any) -> dict[str, Any] | None:
    """The previous recovery, as intake found it: three short values, echoed into the output."""
    if not isinstance(previous, dict):
        return None
    return {k: str(previous[k])[:100] if previous.get(k) is not None else None for k in PREVIOUS_KEYS}


def _entry(signal: Signal, received: datetime) -> SignalEntry:
    return SignalEntry(signal.source.value, signal.event_id, iso(signal.occurred_at), iso(received))


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(value, "time") if value else None
    except InvalidInput:
        return None
