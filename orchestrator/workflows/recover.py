"""One eviction of one VM: its signals, the decision, a named strategy, and the whole story in the output.

Started by /api/alerts as ``respot-<vm hash>-<n>`` (orchestrator.domain.identity); every later signal of the same
eviction is raised to it as a ``signal`` event and recorded. Event sequence of a restart::

    recovery_policy                              the operator's policy, from settings
    [agent notice: observe_vm, then a timer until NotBefore + grace, cut short when the platform's signal joins]
    [member entity get]                          a fleet member's record (with entities): a create to expect
    sub-orchestration observe_vm                 facts, [user action], [eviction record]: ARM trouble waited there
    -> classify: restart (evicted)
    sub-orchestration restart_vm                 it re-reads the VM before every try; its end stands, except:
    [signals joined during a look that decided nothing, or during a restart that recovered: observe_vm again; evicted
     again means restart again (``:restart-2``); at most MAX_PASSES looks]
    timer until concludedAt + settle window      late signals of this eviction are still recorded
    -> output: outcome, reason, signals, attempts, previous recovery

Every wait also listens for joining signals (see orchestrator.workflows.flow), so the history holds a handful of
events plus two per signal (intake stops at MAX_SIGNALS). The input is not trusted (the durable management API can
start any orchestration): the instance id must be the recovery id of the VM and sequence given, the link to the
previous recovery cannot reach past this one's start, and every activity checks scope and reads policy itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.classify import Action, Decision, UserAction, classify
from orchestrator.domain.identity import recovery_id
from orchestrator.domain.models import (
    SWEEP_MAX_AGE,
    InvalidInput,
    Outcome,
    Reason,
    Signal,
    Source,
    Step,
    StepResult,
    VmFacts,
    VmRef,
    iso,
    parse_iso,
)
from orchestrator.domain.policy import MAX_NOTICE_WAIT, Policy
from orchestrator.domain.schedule import SHORT
from orchestrator.domain.scope import vm_hash
from orchestrator.domain.story import SignalEntry, Story
from orchestrator.domain.template import Member
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps

MAX_PASSES = 3  # looks at the VM per recovery, when signals keep joining after a look
MAX_DEFERS = 8  # looks at a VM in transition (creating, updating, deleting) before concluding
PREVIOUS_KEYS = ("instanceId", "outcome", "concludedAt")
_OUTCOME_OF = {
    Action.IGNORE: Outcome.IGNORED,
    Action.NOT_FOUND: Outcome.NOT_FOUND,
    Action.DEFER: Outcome.IGNORED,
}


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
        seq = data.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 10**6:
            raise InvalidInput("seq must be a positive integer below a million")
        signal = Signal.from_dict(data.get("signal"))
        return cls(signal.vm, signal, seq, _link(data.get("previous")))


def recover_vm(context: Context, entity_id: EntityIds | None = None) -> Steps:
    try:
        start = Start.parse(context.get_input())
        if context.instance_id != recovery_id(start.vm, start.seq):
            raise InvalidInput(f"instance id {str(context.instance_id)[:80]} is not this VM's recovery {start.seq}")
    except InvalidInput as exc:
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": str(exc)}
    recovery = Recovery(context, start, entity_id)
    yield from recovery.run()
    return recovery.output()


class Recovery:
    def __init__(self, context: Context, start: Start, entity_id: EntityIds | None = None) -> None:
        self.flow = Flow(context, on_signal=self.take, entity_id=entity_id)  # every wait listens for signals
        self.start = start
        self.policy: Policy | None = None  # observe_vm's reading of the settings (see :meth:`the_policy`)
        self.vm = start.vm.to_dict()
        self.story, self.bad_signals, self.looks = Story(), 0, 0
        self.began = self.flow.now
        self.since = min(start.signal.since, self.began)  # when the eviction happened (a notice, a sweep: before)
        opened = _time((start.previous or {}).get("concludedAt"))
        self.opened_after = min(opened, self.began) if opened else None  # never past its own start
        # A sweep's deallocated VM: the eviction must be on record, after the previous recovery (whose eviction
        # that one was) and within SWEEP_MAX_AGE; ``since`` becomes the record's time once it is found.
        self.window = max(self.began - SWEEP_MAX_AGE, self.opened_after or self.began - SWEEP_MAX_AGE)
        self.last_signal_at = start.signal.occurred_at
        self.seen_before: VmFacts | None = None
        self.known_member: Member | None = None  # the member entity's record, read before the first look
        self.decision: Decision | None = None
        self.outcome, self.reason, self.detail = Outcome.IGNORED, Reason.IN_TRANSITION, ""
        self.last_error: dict[str, Any] | None = None
        self.strategy: str | None = None
        self.executions = 0
        self.concluded_at: datetime | None = None
        self.phase, self.extra = "received", dict[str, Any]()
        self.platform_signal = False
        self.replacement: dict[str, Any] | None = None
        self.ranking: dict[str, Any] | None = None
        self.walk: list[dict[str, Any]] | None = None
        self.story.add_signal(_entry(start.signal, self.began))

    def run(self) -> Steps:
        self.publish("received")
        if self.start.signal.is_notice and self.start.signal.occurred_at > self.flow.now:
            yield from self.await_eviction()
        yield from self.recall_member()
        yield from self.decide_and_act()
        self.concluded_at = self.flow.now
        self.publish("settling")
        policy = yield from self.the_policy()
        yield from self.listen(self.concluded_at + policy.settle)
        self.publish("done")

    # --- the agent's notice: the eviction is due at NotBefore ------------------------------------------------

    def await_eviction(self) -> Steps:
        observed = yield from self.observe()
        if observed is not None:
            self.seen_before = StepResult.from_dict(observed["read"]).facts
        policy = yield from self.the_policy()
        due = min(self.start.signal.occurred_at + policy.notice_grace, self.flow.now + MAX_NOTICE_WAIT)
        self.publish("awaiting_eviction", due=iso(due))
        yield from self.listen(due, stop=lambda: self.platform_signal)  # the platform's own report ends the wait

    # --- decide, act, and look again if a signal joined after a look that found nothing to do ---------------

    def decide_and_act(self) -> Steps:
        defers = runs = 0
        while True:
            looked_at = self.flow.now
            decision, facts = yield from self.look()
            if decision is None or facts is None:
                return  # concluded by what the look met (out of scope, refused, deadline)
            if decision.action == Action.DEFER and defers < MAX_DEFERS:
                defers += 1
                self.publish("deferring", decision=decision.to_dict())
                yield from self.listen(self.flow.now + timedelta(seconds=SHORT * 2))
                continue
            if decision.action == Action.RESTART:
                runs += 1
                yield from self.run_strategy("restart", facts, runs)
                if self.outcome != Outcome.RECOVERED:
                    return  # stopped, failed, gave up: the strategy re-read the VM before every try, its end stands
            elif decision.action == Action.REDEPLOY and not runs:
                runs += 1
                yield from self.redeploy(decision)
                return  # a replacement is a new VM: a later eviction of it is its own recovery
            elif runs:
                return  # a look after a recovery found nothing new to do: recovered stands
            else:
                self.conclude(_OUTCOME_OF[decision.action], decision.reason, decision.detail)
            if self.looks >= MAX_PASSES or not self.joined_since(looked_at):
                return

    def look(self) -> Steps:
        """observe_vm, then classify: (decision, facts), or (None, None) when the look itself concluded."""
        observed = yield from self.observe()
        if observed is None:
            return None, None
        read = StepResult.from_dict(observed["read"])
        if read.step != Step.OK or read.facts is None:
            self.conclude_on(read)
            return None, None
        user = UserAction(observed["user"]) if observed.get("user") in set(UserAction) else None
        record, required = observed.get("record"), self.eviction_required
        evidence = self.evidence(read.facts, record, required)
        decision = classify(read.facts, user_action=user, evidence=evidence, eviction_required=required)
        if required and decision.action == Action.RESTART:
            self.since = _time(record) or self.since  # a person's action after the eviction stops the restart
        self.decision = self.decision or decision
        self.publish("classified", decision=decision.to_dict())
        return decision, read.facts

    def observe(self) -> Steps:
        """The observe_vm sub-orchestration's answer, or None (and a conclusion) if it failed: a bug."""
        self.looks += 1
        payload = {"vm": self.vm, "since": iso(self.since)}
        if self.eviction_required:
            payload["evidence"] = iso(self.window)
        child = self.flow.context.call_sub_orchestrator(
            names.OBSERVE_VM, payload, f"{self.flow.key}:observe-{self.looks}"
        )
        try:
            observed = yield from self.flow.wait_for(child)
            self.story.merge_attempts(Story.from_dict(observed.get("story")))
            StepResult.from_dict(observed["read"])
            if self.policy is None and isinstance(observed.get("policy"), dict):
                self.policy = Policy.from_dict(observed["policy"])
        except Exception as exc:  # noqa: BLE001 - a failed sub-orchestration is recorded, never a failed recovery
            self.conclude(Outcome.FAILED, Reason.UNKNOWN_ERROR, f"looking at the VM failed: {str(exc)[:300]}")
            return None
        return observed

    def the_policy(self) -> Steps:
        """The recovery policy, from the settings: as the first look (observe_vm) read it, which saves the wave a
        hop through the activity queue per recovery, or read here when no look answered with it."""
        if self.policy is None:
            self.policy = Policy.from_dict((yield from self.flow.call_raw(names.RECOVERY_POLICY, None)))
        return self.policy

    def conclude_on(self, read: StepResult) -> None:
        if read.step == Step.OUT_OF_SCOPE:
            self.conclude(Outcome.IGNORED, Reason.OUT_OF_SCOPE, read.reason)
        elif read.step == Step.FAILED and read.failure is not None:  # e.g. AuthorizationFailed: say so
            self.last_error = read.failure.to_dict()
            self.conclude(Outcome.FAILED, Reason.CONFIG, f"{read.failure.code}: {read.failure.message}")
        else:
            self.conclude(Outcome.GAVE_UP, Reason.DEADLINE, f"ARM answered {read.step.value} until the deadline")

    @property
    def eviction_required(self) -> bool:
        """Only a sweep's deallocated findings so far: no alert, event or notice says the platform evicted it."""
        return self.start.signal.wants_eviction_record and all(s.source == Source.SWEEP for s in self.story.signals)

    def evidence(self, facts: VmFacts, record: Any, required: bool = False) -> str | None:
        """Why a missing VM was deleted by an eviction, or (``required``) why a deallocated one was evicted; None
        without evidence (a 404 alone proves nothing, nor does a deallocated VM)."""
        if facts.exists:
            proven = required and isinstance(record, str) and record
            return f"the Activity Log records evictSpotVM at {record[:40]}" if proven else None
        seen = self.seen_before
        if seen is not None and seen.exists and seen.is_spot and seen.delete_policy:
            return "respot read a Delete-policy Spot VM before the eviction and it is gone"
        if isinstance(record, str) and record:
            return f"the Activity Log records evictSpotVM at {record[:40]}"
        return None

    def redeploy(self, decision: Decision) -> Steps:
        """A deleted scale-set instance: the set's capacity back. A deleted fleet member: a replacement, from what
        respot knew of it (read before the eviction, or the inventory)."""
        if self.start.vm.scale_set is not None:
            yield from self.run_strategy("capacity", None, 1, scale_set=self.start.vm.scale_set)
            return
        member = yield from self.member()
        if member is not None and member.scale_set:
            yield from self.run_strategy("capacity", None, 1, scale_set=member.scale_set)
            return
        if member is None:
            detail = (
                f"{decision.detail}; respot has no record of the VM, so it cannot rebuild it. Fleet members are "
                "recorded by the inventory sweep (every 5 minutes) and when respot creates them: give the "
                "VM a fleet profile's membership tag (respot-fleet=<name>) before it is evicted"
            )
            self.conclude(Outcome.NOT_PROTECTED, Reason.NOT_REMEMBERED, detail)
            return
        yield from self.run_strategy("redeploy", None, 1, member=member.to_dict())

    def recall_member(self) -> Steps:
        """The member's record, before the first look. A Delete-policy member's eviction is most likely a create to
        come, and the limiter hears so now (``expect``), before the wave's restarts queue their starts: a restart's
        path to its write is shorter (a read and a check), so without it the slower creates queue behind them."""
        if self.start.vm.scale_set is not None or self.flow.entity_id is None:
            return
        self.known_member = yield from self.fetch_member()
        known = self.known_member
        if known is not None and known.eviction_policy.lower() == "delete" and not known.scale_set:
            self.flow.expect_first_lane(self.start.vm.subscription)

    def member(self) -> Steps:
        seen = self.seen_before
        if seen is not None and seen.exists and seen.delete_policy:
            return Member.from_facts(self.start.vm, seen, "", iso(self.began))
        if self.known_member is not None:
            return self.known_member
        return (yield from self.fetch_member())

    def fetch_member(self) -> Steps:
        try:
            known = yield from self.flow.call_entity(names.MEMBER_ENTITY, vm_hash(self.start.vm), "get")
            return Member.from_dict(known) if known else None
        except InvalidInput:
            return None
        except Exception as exc:  # noqa: BLE001 - the entity failed: recorded, and the VM is treated as unknown
            self.last_error = {"kind": "entity", "code": "member", "message": str(exc)[:300]}
            return None

    def run_strategy(self, name: str, facts: VmFacts | None, run: int, **extra: Any) -> Steps:
        """The named strategy as a sub-orchestration; a second run (``:restart-2``) only after a recovery whose end
        a signal of a new eviction joined: the VM was evicted again before this record closed."""
        self.strategy = f"{self.flow.key}:{name}" + (f"-{run}" if run > 1 else "")
        payload = {"vm": self.vm, "since": iso(self.since), "size": facts.size if facts else None, **extra}
        child = self.flow.context.call_sub_orchestrator(names.STRATEGIES[name], payload, self.strategy)
        self.publish("recovering")
        try:
            out = yield from self.flow.wait_for(child)
            self.story.merge_attempts(Story.from_dict(out.get("story")))
            self.last_error = out.get("lastError")
            self.executions += int(out.get("executions") or 0)
            self.conclude(Outcome(out["outcome"]), Reason(out["reason"]), str(out.get("detail") or ""))
            self.replacement = out.get("replacement") or out.get("capacity")
            self.ranking = out.get("ranking")
            self.walk = out.get("walk")
        except Exception as exc:  # noqa: BLE001 - the strategy failed (a bug): the recovery records it and concludes
            self.conclude(Outcome.FAILED, Reason.UNKNOWN_ERROR, f"the strategy failed: {str(exc)[:300]}")

    def conclude(self, outcome: Outcome, reason: Reason, detail: str) -> None:
        self.outcome, self.reason, self.detail = outcome, reason, detail
        if outcome == Outcome.RECOVERED:
            self.last_error = None

    # --- signals --------------------------------------------------------------------------------------------

    def listen(self, until: datetime, stop: Callable[[], bool] | None = None) -> Steps:
        """Record joining signals until ``until`` (or until ``stop()`` says enough after a signal)."""
        if until <= self.flow.now:
            return
        timer = self.flow.context.create_timer(until)
        yield from self.flow.wait_for(timer, interrupt=stop)
        if not timer.is_completed:
            timer.cancel()

    def take(self, payload: Any) -> None:
        """A joining signal; anything that is not a signal for this VM is counted, never an error."""
        try:
            signal = Signal.from_dict(payload)
        except (InvalidInput, TypeError, ValueError, OverflowError):
            signal = None
        if signal is None or signal.vm.id != self.start.vm.id:
            self.bad_signals += 1
            return
        self.platform_signal = self.platform_signal or not signal.is_notice
        if self.story.add_signal(_entry(signal, self.flow.now)):
            self.last_signal_at = max(self.last_signal_at, signal.occurred_at)
        self.publish(self.phase, **self.extra)

    def joined_since(self, when: datetime) -> bool:
        return any(parse_iso(s.received_at, "received_at") > when for s in self.story.signals[1:])

    # --- what operators and /api/alerts read ------------------------------------------------------------------

    def publish(self, phase: str, **extra: Any) -> None:
        self.phase, self.extra = phase, extra
        window = {
            "openedAfter": iso(self.opened_after) if self.opened_after else None,
            "concludedAt": iso(self.concluded_at) if self.concluded_at else None,
            "lastSignalAt": iso(self.last_signal_at),
        }
        status: dict[str, Any] = {"phase": phase, "vm": self.start.vm.id, "seq": self.start.seq, **window}
        status |= {"signals": self.story.signal_keys, "strategy": self.strategy}
        if self.concluded_at:
            status |= {"outcome": self.outcome.value, "reason": self.reason.value}
        self.flow.context.set_custom_status({**status, **extra})

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
            "lastSignalAt": iso(self.last_signal_at),
            "finishedAt": iso(self.flow.now),
            "previous": self.start.previous,
            "replacement": self.replacement,
            "ranking": self.ranking,
            "walk": self.walk,
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
